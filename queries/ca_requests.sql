-- name: CreateCARequest :one
-- A second submission with the same idempotency key returns no row; callers then
-- read the existing request with GetCARequestByKey.
INSERT INTO ca_requests (idempotency_key, profile_id, device_id, ca_driver, csr_der, csr_sealed)
VALUES (@idempotency_key, @profile_id, @device_id, @ca_driver, @csr_der, @csr_sealed)
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

-- name: ListCARequests :many
SELECT r.id, r.idempotency_key, r.profile_id, p.name AS profile_name, r.device_id, r.ca_driver, r.status,
       r.reject_reason, r.certificate_id, r.decided_by, r.created_at, r.updated_at
FROM ca_requests r JOIN profiles p ON p.id = r.profile_id
WHERE (sqlc.narg(status)::text IS NULL OR r.status = sqlc.narg(status)) AND r.id > @after_id
ORDER BY r.id
LIMIT @page_size;

-- name: LeaseCARequest :one
-- Takes the request for one call to the CA, unless another worker holds it.
UPDATE ca_requests SET lease_until = now() + @lease::interval, updated_at = now()
WHERE id = @id AND status = 'pending' AND (lease_until IS NULL OR lease_until < now())
RETURNING *;

-- name: ReleaseCARequest :exec
UPDATE ca_requests SET lease_until = NULL WHERE id = @id;
