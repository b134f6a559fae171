-- The fleet's state for Prometheus (metrics.Fleet), read on a schedule.

-- name: MetricJobs :many
SELECT status, count(*) AS n FROM jobs GROUP BY status;

-- name: MetricActiveJobItems :many
-- Items in flight, by state and step (finished ones are counted as they end).
SELECT state, step, count(*) AS n FROM job_items WHERE state IN ('pending', 'in_progress') GROUP BY state, step;

-- name: MetricCARequests :many
SELECT status, count(*) AS n,
  COALESCE(EXTRACT(EPOCH FROM now() - min(created_at) FILTER (WHERE status = 'pending')), 0)::float8 AS oldest_pending_seconds
FROM ca_requests GROUP BY status;

-- name: MetricCertificates :many
SELECT status, (status = 'active' AND not_after <= now())::bool AS expired, count(*) AS n FROM certificates GROUP BY 1, 2;

-- name: MetricExpiring :many
-- Active certificates expiring within 7, 30 and 90 days, by profile.
SELECT p.name AS profile,
  count(*) FILTER (WHERE c.not_after <= now() + interval '7 days') AS within_7d,
  count(*) FILTER (WHERE c.not_after <= now() + interval '30 days') AS within_30d,
  count(*) AS within_90d
FROM certificates c JOIN profiles p ON p.id = c.profile_id
WHERE c.status = 'active' AND c.not_after > now() AND c.not_after <= now() + interval '90 days'
GROUP BY p.name;

-- name: MetricDevicesWithoutCertificate :one
SELECT count(*) AS n FROM devices d WHERE d.mode <> 'DISABLED' AND NOT EXISTS (
  SELECT 1 FROM certificates c WHERE c.device_id = d.id AND c.status = 'active' AND c.not_after > now());

-- name: MetricCACertificates :many
SELECT name, status, issuing_der, root_der FROM local_cas;

-- name: MetricProfiles :many
-- Active profiles: each has its expiry series, zeros included.
SELECT name FROM profiles WHERE archived_at IS NULL ORDER BY name;
