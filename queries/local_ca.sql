-- name: GetLocalCA :one
-- The CA that issues under name now.
SELECT * FROM local_cas WHERE name = @name AND status = 'active';

-- name: CreateLocalCA :one
-- Two processes starting at once may both try; the loser gets no row and
-- reads the winner's CA.
INSERT INTO local_cas (name, key_spec, root_der, root_key_sealed, issuing_der, issuing_key_sealed, issuing_ski)
VALUES (@name, @key_spec, @root_der, @root_key_sealed, @issuing_der, @issuing_key_sealed, @issuing_ski)
ON CONFLICT (name) WHERE status = 'active' DO NOTHING
RETURNING *;

-- name: NextCRLNumber :one
-- Takes the CA row's lock until the transaction ends, so CRL numbers increase
-- strictly even with several certfleet processes.
UPDATE local_cas SET crl_number = crl_number + 1 WHERE id = @id RETURNING crl_number;

-- name: SaveCRL :exec
UPDATE local_cas SET crl_der = @crl_der, crl_next_update = @crl_next_update WHERE id = @id;

-- name: GetCRLByIssuingSKI :one
SELECT crl_der, crl_next_update FROM local_cas WHERE issuing_ski = @issuing_ski;

-- name: ListLocalCACertificates :many
-- The built-in CAs' certificates (never their keys), for the dashboard's
-- warning before one expires.
SELECT name, root_der, issuing_der FROM local_cas WHERE status <> 'retired' ORDER BY name, id;

-- name: NewestOCSPSigner :one
SELECT der, key_sealed, not_after FROM ocsp_signers
WHERE local_ca_id = @local_ca_id ORDER BY not_after DESC LIMIT 1;

-- name: InsertOCSPSigner :exec
INSERT INTO ocsp_signers (local_ca_id, der, key_sealed, not_after) VALUES (@local_ca_id, @der, @key_sealed, @not_after);

-- name: ListLocalCAs :many
SELECT * FROM local_cas ORDER BY id;

-- name: GetLocalCAByIssuingSKI :one
SELECT * FROM local_cas WHERE issuing_ski = @issuing_ski;

-- name: CreatePendingCA :one
-- Refused (no row) when a CA or a pending CA already has the name.
INSERT INTO pending_cas (name, key_spec, key_sealed, csr_der, created_by)
SELECT @name, @key_spec, @key_sealed, @csr_der, @created_by
WHERE NOT EXISTS (SELECT 1 FROM local_cas WHERE name = @name)
ON CONFLICT (name) DO NOTHING
RETURNING *;

-- name: GetPendingCAForUpdate :one
SELECT * FROM pending_cas WHERE name = @name FOR UPDATE;

-- name: ListPendingCAs :many
SELECT * FROM pending_cas ORDER BY id;

-- name: DeletePendingCA :exec
DELETE FROM pending_cas WHERE id = @id;

-- name: CreateOutsideRootCA :one
INSERT INTO local_cas (name, key_spec, root_der, outside_chain, issuing_der, issuing_key_sealed, issuing_ski)
VALUES (@name, @key_spec, @root_der, @outside_chain::bytea[], @issuing_der, @issuing_key_sealed, @issuing_ski)
RETURNING *;

-- name: ProfilesByCA :many
-- Active profiles of the built-in CA driver by the CA their settings name
-- ("default" unless set), and the EST labels that use them.
SELECT p.id, p.name, coalesce(p.ca_settings->>'ca', 'default')::text AS ca_name,
       coalesce((SELECT array_agg(l.label ORDER BY l.label) FROM est_labels l WHERE l.profile_id = p.id), '{}')::text[] AS labels
FROM profiles p
WHERE p.ca_driver = 'local' AND p.archived_at IS NULL
ORDER BY p.id;

-- name: CreateNextCA :one
-- The next issuing CA of name, signed by the same root; refused (no row)
-- while one is already waiting.
INSERT INTO local_cas (name, key_spec, root_der, root_key_sealed, outside_chain, issuing_der, issuing_key_sealed, issuing_ski, status, activates_at)
SELECT cur.name, cur.key_spec, cur.root_der, cur.root_key_sealed, cur.outside_chain, @issuing_der, @issuing_key_sealed, @issuing_ski, 'next', @activates_at::timestamptz
FROM local_cas AS cur WHERE cur.name = @ca_name::text AND cur.status = 'active'
ON CONFLICT (name) WHERE status = 'next' DO NOTHING
RETURNING *;

-- name: PromoteNextCA :execrows
-- The next CA of name starts issuing and the active one retires, once its
-- time has come; a no-op for every caller after the first.
WITH due AS (
    SELECT n.id FROM local_cas AS n WHERE n.name = @ca_name::text AND n.status = 'next' AND n.activates_at <= now() FOR UPDATE
), retired AS (
    UPDATE local_cas AS a SET status = 'retired', retired_at = now()
    WHERE a.name = @ca_name::text AND a.status = 'active' AND EXISTS (SELECT 1 FROM due)
    RETURNING a.id
)
UPDATE local_cas AS p SET status = 'active', activates_at = NULL
WHERE p.id IN (SELECT id FROM due) AND EXISTS (SELECT 1 FROM retired);

-- name: CountCAGenerations :one
SELECT count(*) FROM local_cas WHERE name = @name;
