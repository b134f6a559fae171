-- name: CreateCARequest :one
-- A second submission with the same idempotency key returns no row; callers then
-- read the existing request with GetCARequestByKey.
INSERT INTO ca_requests (idempotency_key, profile_id, device_id, ca_driver, csr_der)
VALUES (@idempotency_key, @profile_id, @device_id, @ca_driver, @csr_der)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING *;

-- name: GetCARequestByKey :one
SELECT * FROM ca_requests WHERE idempotency_key = @idempotency_key;

-- name: GetCARequest :one
SELECT * FROM ca_requests WHERE id = @id;

-- name: LockCARequest :one
SELECT * FROM ca_requests WHERE id = @id FOR UPDATE;

-- name: MarkCARequestIssued :exec
UPDATE ca_requests
SET status = 'issued', certificate_id = @certificate_id, decided_by = @decided_by, updated_at = now()
WHERE id = @id;

-- name: MarkCARequestRejected :exec
UPDATE ca_requests
SET status = 'rejected', reject_reason = @reject_reason, decided_by = @decided_by, updated_at = now()
WHERE id = @id;
