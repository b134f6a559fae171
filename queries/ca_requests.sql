-- name: CreateCARequest :one
-- A second submission with the same idempotency key returns no row; callers then
-- read the existing request with GetCARequestByKey.
INSERT INTO ca_requests (idempotency_key, profile_id, device_id, ca_driver, csr_der)
VALUES (@idempotency_key, @profile_id, @device_id, @ca_driver, @csr_der)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING *;

-- name: GetCARequestByKey :one
SELECT * FROM ca_requests WHERE idempotency_key = @idempotency_key;
