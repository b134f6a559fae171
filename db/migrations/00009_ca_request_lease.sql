-- +goose Up
-- A CA request being sent to an outside CA is leased to one worker, so that
-- the network call runs outside any transaction and still only one worker
-- asks the CA at a time. An expired lease (a worker died mid-call) is taken
-- over by the next attempt.
ALTER TABLE ca_requests ADD COLUMN lease_until timestamptz;

-- +goose Down
ALTER TABLE ca_requests DROP COLUMN lease_until;
