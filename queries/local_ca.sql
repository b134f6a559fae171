-- name: GetLocalCA :one
SELECT * FROM local_cas WHERE name = @name;

-- name: CreateLocalCA :one
-- Two processes starting at once may both try; the loser gets no row and
-- reads the winner's CA.
INSERT INTO local_cas (name, key_spec, root_der, root_key_sealed, issuing_der, issuing_key_sealed, issuing_ski)
VALUES (@name, @key_spec, @root_der, @root_key_sealed, @issuing_der, @issuing_key_sealed, @issuing_ski)
ON CONFLICT (name) DO NOTHING
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
SELECT name, root_der, issuing_der FROM local_cas ORDER BY name;

-- name: NewestOCSPSigner :one
SELECT der, key_sealed, not_after FROM ocsp_signers
WHERE local_ca_id = @local_ca_id ORDER BY not_after DESC LIMIT 1;

-- name: InsertOCSPSigner :exec
INSERT INTO ocsp_signers (local_ca_id, der, key_sealed, not_after) VALUES (@local_ca_id, @der, @key_sealed, @not_after);
