-- +goose Up
-- What a profile's certificates are for: RFC 5280 key usage names
-- (digitalSignature…) and extended key usages (serverAuth…, or dotted OIDs
-- for private ones such as Wi-SUN's). Empty, as every existing profile is,
-- means the certificate type's usages, as certfleet always issued them.
ALTER TABLE profiles ADD COLUMN key_usage text[] NOT NULL DEFAULT '{}'
    CHECK (cardinality(key_usage) <= 16);
ALTER TABLE profiles ADD COLUMN ext_key_usage text[] NOT NULL DEFAULT '{}'
    CHECK (cardinality(ext_key_usage) <= 32);

-- +goose Down
ALTER TABLE profiles DROP COLUMN ext_key_usage;
ALTER TABLE profiles DROP COLUMN key_usage;
