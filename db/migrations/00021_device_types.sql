-- +goose Up
-- Device types are managed through the API. A type may name a default
-- profile, which every device of the type gets when it is created, however
-- it is created (the API, a CSV import, zero-touch registration).
ALTER TABLE device_types ADD COLUMN default_profile_id bigint REFERENCES profiles (id);
ALTER TABLE device_types ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();

-- +goose StatementBegin
CREATE FUNCTION assign_default_profile() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO device_profiles (device_id, cert_type, profile_id)
    SELECT NEW.id, p.cert_type, p.id
    FROM device_types t JOIN profiles p ON p.id = t.default_profile_id
    WHERE t.name = NEW.device_type AND p.archived_at IS NULL
    ON CONFLICT (device_id, cert_type) DO NOTHING;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER devices_default_profile AFTER INSERT ON devices FOR EACH ROW EXECUTE FUNCTION assign_default_profile();

-- +goose Down
DROP TRIGGER devices_default_profile ON devices;
DROP FUNCTION assign_default_profile();
ALTER TABLE device_types DROP COLUMN created_at;
ALTER TABLE device_types DROP COLUMN default_profile_id;
