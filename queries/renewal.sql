-- name: CreateRenewalPolicy :one
INSERT INTO renewal_policies (name, cert_type, profile_ids, device_types, renew_before_days, renew_at_lifetime,
    include_missing, include_expired, jitter, windows, time_zone, outside_window, max_devices_per_job, cron, every, paused)
VALUES (@name, @cert_type, @profile_ids, @device_types, @renew_before_days, @renew_at_lifetime,
    @include_missing, @include_expired, @jitter, @windows, @time_zone, @outside_window, @max_devices_per_job, @cron, @every, @paused)
RETURNING *;

-- name: UpdateRenewalPolicy :one
UPDATE renewal_policies
SET name = @name, cert_type = @cert_type, profile_ids = @profile_ids, device_types = @device_types,
    renew_before_days = @renew_before_days, renew_at_lifetime = @renew_at_lifetime,
    include_missing = @include_missing, include_expired = @include_expired, jitter = @jitter, windows = @windows,
    time_zone = @time_zone, outside_window = @outside_window, max_devices_per_job = @max_devices_per_job,
    cron = @cron, every = @every, paused = @paused, updated_at = now()
WHERE id = @id
RETURNING *;

-- name: SetRenewalPolicyPaused :one
UPDATE renewal_policies SET paused = @paused, updated_at = now() WHERE id = @id RETURNING *;

-- name: DeleteRenewalPolicy :execrows
DELETE FROM renewal_policies WHERE id = @id;

-- name: GetRenewalPolicy :one
SELECT * FROM renewal_policies WHERE id = @id;

-- name: ListRenewalPolicies :many
SELECT * FROM renewal_policies ORDER BY id;

-- name: DueForRenewal :many
-- The devices a policy renews at @at: their newest active certificate is due
-- (or expired, or missing, as the policy says), and they are in no active
-- job. Self-enrolling (EST) and disabled devices are left out. Exactly one of
-- @renew_before_days and @renew_at_lifetime is above zero.
WITH newest AS (
    SELECT DISTINCT ON (device_id) device_id, id, not_before, not_after FROM certificates
    WHERE cert_type = @cert_type AND status = 'active' AND device_id IS NOT NULL
    ORDER BY device_id, not_after DESC
)
SELECT d.id AS device_id, c.id AS certificate_id, c.not_after
FROM devices d
JOIN device_profiles dp ON dp.device_id = d.id AND dp.cert_type = @cert_type
LEFT JOIN newest c ON c.device_id = d.id
WHERE d.mode <> 'DISABLED' AND d.driver <> 'est'
  AND (cardinality(@profile_ids::bigint[]) = 0 OR dp.profile_id = ANY(@profile_ids::bigint[]))
  AND (cardinality(@device_types::text[]) = 0 OR d.device_type = ANY(@device_types::text[]))
  AND NOT EXISTS (SELECT 1 FROM job_items ji WHERE ji.device_id = d.id AND ji.cert_type = @cert_type
                  AND ji.state IN ('pending', 'in_progress'))
  AND ((c.id IS NULL AND @include_missing::boolean)
    OR (c.not_after <= @at::timestamptz AND @include_expired::boolean)
    OR (c.not_after > @at::timestamptz AND @renew_before_days::integer > 0
        AND @at::timestamptz >= c.not_after - make_interval(0, 0, 0, @renew_before_days::integer))
    OR (c.not_after > @at::timestamptz AND @renew_at_lifetime::float8 > 0
        AND @at::timestamptz >= c.not_before + (c.not_after - c.not_before) * @renew_at_lifetime::float8))
ORDER BY d.id;

-- name: JobsFromSource :many
SELECT * FROM jobs WHERE source LIKE @prefix::text || '%' ORDER BY id;

-- name: SetJobSource :exec
UPDATE jobs SET source = @source WHERE id = @id;
