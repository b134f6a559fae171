-- name: CreateAPIToken :one
INSERT INTO api_tokens (name, role, token_hash, created_by, expires_at)
VALUES (@name, @role, @token_hash, @created_by, sqlc.narg(expires_at))
RETURNING id, name, role, created_by, created_at, expires_at, last_used_at, revoked_at;

-- UseAPIToken is authentication, on the path of every API request: one
-- statement finds a live token (neither revoked nor expired) and records its
-- use, but writes last_used_at at most once a minute per token, so a busy
-- client costs a row write a minute rather than one per request.
-- name: UseAPIToken :one
WITH live AS (
    SELECT a.id, a.name, a.role FROM api_tokens a
    WHERE a.token_hash = @token_hash::bytea AND a.revoked_at IS NULL AND (a.expires_at IS NULL OR a.expires_at > now())
), touched AS (
    UPDATE api_tokens t SET last_used_at = now()
    FROM live
    WHERE t.id = live.id AND (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute')
)
SELECT id, name, role FROM live;

-- name: ListAPITokens :many
SELECT id, name, role, created_by, created_at, expires_at, last_used_at, revoked_at FROM api_tokens
WHERE sqlc.narg(after_id)::bigint IS NULL OR id > sqlc.narg(after_id)
ORDER BY id
LIMIT @page_size;

-- RevokeAPIToken keeps the first revocation time when called again.
-- name: RevokeAPIToken :one
UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())
WHERE id = @id
RETURNING id, name, role, created_by, created_at, expires_at, last_used_at, revoked_at;
