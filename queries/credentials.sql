-- name: NextCredentialID :one
-- The ID is taken before the insert: the sealed secret is bound to it.
SELECT nextval(pg_get_serial_sequence('credentials', 'id'))::bigint;

-- name: InsertCredential :one
INSERT INTO credentials (id, name, kind, username, secret_sealed, fingerprint, allowed_addresses, created_by)
VALUES (@id, @name, @kind, @username, @secret_sealed, @fingerprint, @allowed_addresses, @created_by)
RETURNING *;

-- name: GetCredentialByName :one
SELECT * FROM credentials WHERE name = @name;

-- name: ListCredentials :many
SELECT c.*, (SELECT count(*) FROM devices d WHERE d.credential_id = c.id)::bigint AS device_count
FROM credentials c
WHERE c.name > @after_name
ORDER BY c.name
LIMIT @page_size;

-- name: CredentialDevices :many
SELECT id FROM devices WHERE credential_id = @credential_id ORDER BY id LIMIT @page_size;

-- name: CredentialProfiles :many
-- Profiles whose CA driver settings name the credential.
SELECT name FROM profiles WHERE ca_settings->>'credential' = @credential_name::text ORDER BY name;

-- name: CredentialNames :many
SELECT id, name FROM credentials WHERE id = ANY(@ids::bigint[]);

-- name: RotateCredential :one
UPDATE credentials SET secret_sealed = @secret_sealed, fingerprint = @fingerprint, rotated_at = now()
WHERE id = @id
RETURNING *;

-- name: DeleteCredential :execrows
DELETE FROM credentials WHERE id = @id;

-- name: OpenCredential :one
-- The secret for one use. last_used_at moves at most once a minute, so that a
-- job over thousands of devices does not rewrite the row for each of them.
WITH touched AS (
    UPDATE credentials SET last_used_at = now()
    WHERE id = @id AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
    RETURNING id
)
SELECT id, name, kind, username, secret_sealed, allowed_addresses FROM credentials WHERE credentials.id = @id;

-- name: LegacyCredentialRefs :many
SELECT DISTINCT credential_ref FROM devices WHERE credential_ref <> '' AND credential_id IS NULL ORDER BY credential_ref;

-- name: BindLegacyCredential :execrows
UPDATE devices SET credential_id = @credential_id, credential_ref = '', updated_at = now()
WHERE credential_ref = @credential_ref AND credential_id IS NULL;
