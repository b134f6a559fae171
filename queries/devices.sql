-- name: CreateDevice :one
INSERT INTO devices (id, name, device_type, mode, driver, address, credential_ref)
VALUES (@id, @name, @device_type, @mode, @driver, @address, @credential_ref)
RETURNING *;

-- name: GetDevice :one
SELECT * FROM devices WHERE id = @id;

-- name: AssignProfile :exec
INSERT INTO device_profiles (device_id, cert_type, profile_id)
VALUES (@device_id, @cert_type, @profile_id)
ON CONFLICT (device_id, cert_type) DO UPDATE SET profile_id = EXCLUDED.profile_id;

-- name: PinDeviceTLS :execrows
UPDATE devices SET tls_pin = @tls_pin, updated_at = now() WHERE id = @id AND tls_pin IS NULL;
