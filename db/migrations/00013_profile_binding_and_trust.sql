-- +goose Up
-- What a profile's certificates are for on the device (its web server, its
-- 802.1X supplicant, its MQTT client; '' is the certificate type's default),
-- and the CA certificates (PEM) the device must trust for that use, such as
-- the RADIUS server's CA, which drivers that can install them install.
ALTER TABLE profiles ADD COLUMN binding text NOT NULL DEFAULT ''
    CHECK (binding IN ('', 'https', 'ieee8021x', 'mqtt'));
ALTER TABLE profiles ADD CONSTRAINT profiles_binding_fits_cert_type
    CHECK (binding = '' OR (cert_type = 'ieee8021x') = (binding = 'ieee8021x'));
ALTER TABLE profiles ADD COLUMN device_trust text NOT NULL DEFAULT '' CHECK (length(device_trust) <= 65536);

-- +goose Down
ALTER TABLE profiles DROP COLUMN device_trust;
ALTER TABLE profiles DROP CONSTRAINT profiles_binding_fits_cert_type;
ALTER TABLE profiles DROP COLUMN binding;
