-- name: ListDeviceTypes :many
SELECT * FROM device_types ORDER BY name;
