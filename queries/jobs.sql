-- name: CreateJob :one
INSERT INTO jobs (name, cert_type, created_by, scheduled_at)
VALUES (@name, @cert_type, @created_by, @scheduled_at)
RETURNING *;

-- name: AddJobItem :exec
INSERT INTO job_items (job_id, device_id, cert_type, profile_id)
VALUES (@job_id, @device_id, @cert_type, @profile_id);

-- name: CountJobItemsByState :many
SELECT state, count(*) AS items FROM job_items WHERE job_id = @job_id GROUP BY state ORDER BY state;
