-- name: ListStations :many
SELECT * FROM provisioning_stations ORDER BY name;

-- name: GetStation :one
SELECT * FROM provisioning_stations WHERE name = @name;

-- name: GetStationByCertificate :one
SELECT * FROM provisioning_stations WHERE cert_sha256 = @cert_sha256;

-- name: CreateStation :one
INSERT INTO provisioning_stations (name, description, secret_hash, labels, device_id_pattern, device_ids,
    register_mode, max_enrollments, expires_at, created_by)
VALUES (@name, @description, @secret_hash, @labels, @device_id_pattern, @device_ids,
    @register_mode, @max_enrollments, @expires_at, @created_by)
ON CONFLICT (name) DO NOTHING
RETURNING *;

-- name: UpdateStationScope :one
UPDATE provisioning_stations SET description = @description, labels = @labels, device_id_pattern = @device_id_pattern,
    device_ids = @device_ids, register_mode = @register_mode, max_enrollments = @max_enrollments, expires_at = @expires_at
WHERE name = @name
RETURNING *;

-- name: SetStationDisabled :one
UPDATE provisioning_stations SET disabled_at = CASE WHEN @disabled::boolean THEN COALESCE(disabled_at, now()) END
WHERE name = @name
RETURNING *;

-- name: SetStationSecret :one
UPDATE provisioning_stations SET secret_hash = @secret_hash WHERE name = @name RETURNING *;

-- name: SetStationCertificate :one
UPDATE provisioning_stations SET cert_sha256 = @cert_sha256, cert_der = @cert_der, cert_source = @cert_source
WHERE name = @name
RETURNING *;

-- name: CountStationEnrollment :one
-- Counts one enrollment against the station's limit, unless the station is
-- disabled or at its limit (no row then). Run in the transaction that records
-- the enrollment: the row lock makes concurrent enrollments take turns.
UPDATE provisioning_stations SET enrollments = enrollments + 1
WHERE name = @name AND disabled_at IS NULL AND (max_enrollments IS NULL OR enrollments < max_enrollments)
RETURNING enrollments;

-- name: RecordStationEnrollment :execrows
INSERT INTO station_enrollments (enrollment, station, device_id, label, registered)
VALUES (@enrollment, @station, @device_id, @label, @registered)
ON CONFLICT (enrollment) DO NOTHING;

-- name: StationEnrollmentExists :one
SELECT EXISTS (SELECT 1 FROM station_enrollments WHERE enrollment = @enrollment);

-- name: StationEnrollments :many
SELECT * FROM station_enrollments WHERE station = @station
  AND (sqlc.narg(before)::timestamptz IS NULL OR created_at < sqlc.narg(before))
ORDER BY created_at DESC
LIMIT @max_rows;

-- name: RegisterStationDevice :one
-- Creates the device a station names for the first time, with its audit row,
-- in one statement; a concurrent first enrollment of the same ID loses and
-- gets no row.
WITH device AS (
    INSERT INTO devices (id, name, device_type, mode, driver)
    VALUES (@id, @id, @device_type, @mode, 'est')
    ON CONFLICT DO NOTHING
    RETURNING id
), audit AS (
    INSERT INTO audit_log (actor, action, object_type, object_ids, details)
    SELECT 'station:' || @station::text, 'device.station_register', 'device', ARRAY[id], jsonb_build_object('station', @station::text, 'mode', @mode::text)
    FROM device
)
SELECT id FROM device;
