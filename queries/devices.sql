-- name: CreateDevice :one
INSERT INTO devices (id, name, device_type, mode, driver, address, credential_id, driver_settings)
VALUES (@id, @name, @device_type, @mode, @driver, @address, @credential_id, COALESCE(@driver_settings::jsonb, '{}'))
RETURNING *;

-- name: GetDevice :one
SELECT * FROM devices WHERE id = @id;

-- name: GetDeviceForUpdate :one
SELECT * FROM devices WHERE id = @id FOR UPDATE;

-- name: ClearDeviceTLSPin :one
UPDATE devices SET tls_pin = NULL, updated_at = now() WHERE id = @id RETURNING *;

-- name: AssignProfile :exec
INSERT INTO device_profiles (device_id, cert_type, profile_id)
VALUES (@device_id, @cert_type, @profile_id)
ON CONFLICT (device_id, cert_type) DO UPDATE SET profile_id = EXCLUDED.profile_id;

-- name: PinDeviceTLS :execrows
UPDATE devices SET tls_pin = @tls_pin, updated_at = now() WHERE id = @id AND tls_pin IS NULL;

-- name: GetDeviceTLSPin :one
SELECT tls_pin FROM devices WHERE id = @id;

-- name: ListDevices :many
SELECT * FROM devices
WHERE (sqlc.narg(device_type)::text IS NULL OR device_type = sqlc.narg(device_type))
  AND (sqlc.narg(mode)::text IS NULL OR mode = sqlc.narg(mode))
  AND (sqlc.narg(driver)::text IS NULL OR driver = sqlc.narg(driver))
  AND id > @after_id
ORDER BY id
LIMIT @page_size;

-- name: UpdateDevice :one
UPDATE devices
SET name = @name, device_type = @device_type, driver = @driver, address = @address, driver_settings = COALESCE(@driver_settings::jsonb, '{}'),
    -- A pin means a TLS certificate to one driver and a host key to another.
    tls_pin = CASE WHEN driver = @driver THEN tls_pin END,
    credential_id = @credential_id, credential_ref = CASE WHEN @credential_id::bigint IS NULL THEN credential_ref ELSE '' END,
    updated_at = now()
WHERE id = @id
RETURNING *;

-- name: SetDeviceMode :one
UPDATE devices SET mode = @mode, updated_at = now() WHERE id = @id RETURNING *;

-- name: ExistingDevices :many
SELECT id FROM devices WHERE id = ANY(@ids::text[]);

-- name: AssignProfileToDevices :execrows
INSERT INTO device_profiles (device_id, cert_type, profile_id)
SELECT unnest(@device_ids::text[]), @cert_type, @profile_id
ON CONFLICT (device_id, cert_type) DO UPDATE SET profile_id = EXCLUDED.profile_id;

-- name: DeviceCertTypes :many
SELECT cert_type FROM device_profiles WHERE device_id = @device_id ORDER BY cert_type;

-- name: RepinDeviceTLS :execrows
-- Moves a device's pin to a valid TLS certificate certfleet issued to the
-- device (one it installed there), never to anything else: not to a
-- certificate discovery recorded, which the device only reported. A pin
-- another call moved already counts as moved.
UPDATE devices d SET tls_pin = @new_pin, updated_at = now()
WHERE d.id = @device_id AND (d.tls_pin = @old_pin OR d.tls_pin = @new_pin)
  AND EXISTS (SELECT 1 FROM certificates c
              WHERE c.sha256 = @new_pin AND c.device_id = d.id AND c.cert_type = 'tls' AND c.profile_id IS NOT NULL
                AND c.status = 'active' AND c.not_after > now());

-- name: DeviceUses :many
-- What the device uses each certificate type for, as its profiles say.
SELECT dp.cert_type, p.binding, p.device_trust
FROM device_profiles dp JOIN profiles p ON p.id = dp.profile_id
WHERE dp.device_id = @device_id
ORDER BY dp.cert_type;

-- name: ListDevicesSorted :many
-- The inventory sorted by ID or name either way, a page after the last
-- row's (name, id); ListDevices serves the default order (by ID, ascending)
-- from the primary key.
SELECT * FROM devices
WHERE (sqlc.narg(device_type)::text IS NULL OR device_type = sqlc.narg(device_type))
  AND (sqlc.narg(mode)::text IS NULL OR mode = sqlc.narg(mode))
  AND (sqlc.narg(driver)::text IS NULL OR driver = sqlc.narg(driver))
  AND (NOT sqlc.arg(paged)::boolean OR CASE
        WHEN sqlc.arg(by_name)::boolean AND NOT sqlc.arg(descending)::boolean THEN (name, id) > (sqlc.arg(after_name)::text, sqlc.arg(after_id)::text)
        WHEN sqlc.arg(by_name) THEN (name, id) < (sqlc.arg(after_name), sqlc.arg(after_id))
        WHEN NOT sqlc.arg(descending) THEN id > sqlc.arg(after_id)
        ELSE id < sqlc.arg(after_id) END)
ORDER BY
  CASE WHEN sqlc.arg(by_name) AND NOT sqlc.arg(descending) THEN name END ASC,
  CASE WHEN sqlc.arg(by_name) AND sqlc.arg(descending) THEN name END DESC,
  CASE WHEN NOT sqlc.arg(descending) THEN id END ASC,
  CASE WHEN sqlc.arg(descending) THEN id END DESC
LIMIT sqlc.arg(page_size);
