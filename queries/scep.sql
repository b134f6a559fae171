-- name: CreateSCEPChallenge :one
INSERT INTO scep_challenges (secret_sha256, label, device_id, expires_at, created_by)
VALUES (@secret_sha256, sqlc.narg(label), sqlc.narg(device_id), @expires_at, @created_by)
RETURNING id, label, device_id, expires_at, created_at;

-- name: GetSCEPChallenge :one
-- An unexpired challenge by its secret's digest, spent or not.
SELECT * FROM scep_challenges WHERE secret_sha256 = @secret_sha256 AND expires_at > now();

-- name: SpendSCEPChallenge :execrows
-- Zero rows: a concurrent request spent it on another enrollment, or it expired.
UPDATE scep_challenges SET used_at = now(), used_for = @enrollment::text
WHERE id = @id AND expires_at > now() AND (used_for IS NULL OR used_for = @enrollment::text);

-- name: UsableSCEPRAs :many
-- Unexpired RA certificates, the newest first.
SELECT * FROM scep_ras WHERE not_after > now() ORDER BY not_after DESC, id DESC;

-- name: CreateSCEPRA :one
INSERT INTO scep_ras (cert_der, key_sealed, not_after) VALUES (@cert_der, @key_sealed, @not_after)
RETURNING *;

-- name: SaveSCEPTransaction :exec
-- The first request of a transaction names its enrollment; a repeat changes nothing.
INSERT INTO scep_transactions (signer_sha256, transaction_id, enrollment, label, device_id, profile_id, cert_type, identity_field, csr_der, csr_sealed)
VALUES (@signer_sha256, @transaction_id, @enrollment, @label, @device_id, @profile_id, @cert_type, @identity_field, @csr_der, @csr_sealed)
ON CONFLICT (signer_sha256, transaction_id) DO NOTHING;

-- name: GetSCEPTransaction :one
SELECT * FROM scep_transactions WHERE signer_sha256 = @signer_sha256 AND transaction_id = @transaction_id;

-- name: DeleteSpentSCEPState :one
-- Challenges a day past their expiry, and transactions older than a CertPoll
-- can still need (the longest a CA may hold a request is far shorter).
WITH challenges AS (
    DELETE FROM scep_challenges WHERE expires_at < now() - interval '1 day' RETURNING 1
), transactions AS (
    DELETE FROM scep_transactions WHERE created_at < now() - @transaction_age::interval RETURNING 1
)
SELECT (SELECT count(*) FROM challenges) AS challenges, (SELECT count(*) FROM transactions) AS transactions;
