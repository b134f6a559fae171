-- name: ListDeviceTypes :many
SELECT * FROM device_types ORDER BY name;

-- name: CreateDeviceType :one
INSERT INTO device_types (name, description, enforce_factory_mode, default_profile_id)
VALUES (@name, @description, @enforce_factory_mode, @default_profile_id)
ON CONFLICT (name) DO NOTHING
RETURNING *;

-- name: UpdateDeviceType :one
UPDATE device_types SET description = @description, enforce_factory_mode = @enforce_factory_mode, default_profile_id = @default_profile_id
WHERE name = @name
RETURNING *;

-- name: DeviceTypeUsage :one
-- What uses a device type: devices and profiles (and through them, labels).
SELECT (SELECT count(*) FROM devices d WHERE d.device_type = @name) AS devices,
       (SELECT count(*) FROM profiles p WHERE p.device_type = @name) AS profiles;

-- name: DeleteDeviceType :execrows
DELETE FROM device_types t WHERE t.name = @name
  AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.device_type = t.name)
  AND NOT EXISTS (SELECT 1 FROM profiles p WHERE p.device_type = t.name);
