-- +goose Up
-- The console's device page lists a device's job items, newest job first.
CREATE INDEX job_items_device ON job_items (device_id, job_id DESC);

-- +goose Down
DROP INDEX job_items_device;
