-- name: CreateAPIToken :one
INSERT INTO api_tokens (name, role, token_hash, created_by) VALUES (@name, @role, @token_hash, @created_by)
RETURNING id, name, role, created_by, created_at;

-- name: TokenByHash :one
SELECT id, name, role FROM api_tokens WHERE token_hash = @token_hash AND revoked_at IS NULL;
