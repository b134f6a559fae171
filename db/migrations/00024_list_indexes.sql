-- +goose Up
-- Indexes for the lists and the dashboard at fleet size (issue #23), each
-- justified by `go run ./bench -only explain` (BENCHMARKS.md, "Query plans at
-- fleet size"): without them each of these queries read most of its table.

-- ListDevices with device_type and mode (GET /devices?mode=DISABLED&device_type=gateway): the pair's rows in ID order; replaces devices_type_mode, its prefix.
CREATE INDEX devices_type_mode_id ON devices (device_type, mode, id);
DROP INDEX devices_type_mode;

-- ListDevicesSorted (GET /devices?sort=name): a page in (name, id) order, either way.
CREATE INDEX devices_name ON devices (name, id);

-- ListCertificates with status=active (GET /certificates?status=active, /renewal-alerts): active rows in ID order.
CREATE INDEX certificates_active ON certificates (id) WHERE status = 'active';

-- ListCertificates with profile_id (GET /certificates?profile_id=): a profile's rows in ID order.
CREATE INDEX certificates_profile ON certificates (profile_id, id);

-- ListCertificatesSorted (GET /certificates?sort=not_after): a page in (not_after, id) order, either way.
CREATE INDEX certificates_expiry ON certificates (not_after, id);

-- DevicesWithoutCertificate, CurrentCertificateExpiries, ExpiryHeadline, FleetSummary: a device's valid certificates, from the index alone.
CREATE INDEX certificates_active_device ON certificates (device_id, cert_type, not_after DESC) WHERE status = 'active';

-- +goose Down
DROP INDEX certificates_active_device;
DROP INDEX certificates_expiry;
DROP INDEX certificates_profile;
DROP INDEX certificates_active;
DROP INDEX devices_name;
CREATE INDEX devices_type_mode ON devices (device_type, mode);
DROP INDEX devices_type_mode_id;
