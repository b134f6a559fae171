-- +goose Up
-- Per-device settings of the device drivers that need them (the ssh driver's
-- recipes); the driver registry checks them before a row holds them. For the
-- ssh driver, tls_pin holds the SHA-256 of the host key.
ALTER TABLE devices ADD COLUMN driver_settings jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(driver_settings) = 'object');
COMMENT ON COLUMN devices.tls_pin IS 'trust-on-first-use pin (SHA-256) of the device''s TLS certificate, or of its SSH host key for the ssh driver';

-- +goose Down
COMMENT ON COLUMN devices.tls_pin IS NULL;
ALTER TABLE devices DROP COLUMN driver_settings;
