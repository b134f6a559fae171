-- +goose Up
-- Certificate jobs and their items, and the requests certfleet sent to CAs.

CREATE TABLE jobs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    cert_type    text NOT NULL CHECK (cert_type IN ('ieee8021x', 'tls')),
    created_by   text NOT NULL,
    status       text NOT NULL DEFAULT 'scheduled'
                 CHECK (status IN ('scheduled', 'running', 'halting', 'completed', 'halted')),
    scheduled_at timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    completed_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((status IN ('completed', 'halted')) = (completed_at IS NOT NULL)),
    UNIQUE (id, cert_type)
);
CREATE INDEX jobs_status ON jobs (status, scheduled_at);

CREATE TABLE job_items (
    job_id                bigint NOT NULL,
    device_id             text NOT NULL REFERENCES devices (id),
    cert_type             text NOT NULL,
    profile_id            bigint NOT NULL REFERENCES profiles (id),
    -- The step an item is on, or last was on.
    step                  text NOT NULL DEFAULT 'csr'
                          CHECK (step IN ('csr', 'submit', 'poll', 'install', 'revoke')),
    state                 text NOT NULL DEFAULT 'pending'
                          CHECK (state IN ('pending', 'in_progress', 'succeeded', 'revoke_warning', 'revoke_na',
                                           'device_failure', 'ca_failure', 'halted')),
    -- Per step: {"csr": {"status": "done", "attempts": 1, "at": "..."}, ...}
    step_status           jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(step_status) = 'object'),
    last_error            text NOT NULL DEFAULT '',
    prior_certificate_id  bigint REFERENCES certificates (id),
    issued_certificate_id bigint REFERENCES certificates (id),
    started_at            timestamptz,
    finished_at           timestamptz,
    PRIMARY KEY (job_id, device_id),
    FOREIGN KEY (job_id, cert_type) REFERENCES jobs (id, cert_type) ON DELETE CASCADE,
    CHECK ((state IN ('pending', 'in_progress')) = (finished_at IS NULL))
);
CREATE INDEX job_items_state ON job_items (job_id, state);
-- A device is in at most one active job per certificate type.
CREATE UNIQUE INDEX job_items_one_active_job_per_device
    ON job_items (device_id, cert_type) WHERE state IN ('pending', 'in_progress');

CREATE TABLE ca_requests (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Business key (e.g. "<jobID>/<deviceID>"): a retried submission finds this row
    -- instead of issuing a second certificate.
    idempotency_key     text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 300),
    profile_id          bigint NOT NULL REFERENCES profiles (id),
    device_id           text REFERENCES devices (id),
    ca_driver           text NOT NULL,
    csr_der             bytea NOT NULL,
    status              text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'issued', 'rejected')),
    external_request_id text NOT NULL DEFAULT '',
    reject_reason       text NOT NULL DEFAULT '',
    certificate_id      bigint REFERENCES certificates (id),
    decided_by          text NOT NULL DEFAULT '',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'issued') = (certificate_id IS NOT NULL)),
    CHECK ((status = 'rejected') = (reject_reason <> ''))
);
CREATE INDEX ca_requests_pending ON ca_requests (created_at) WHERE status = 'pending';

-- +goose Down
DROP TABLE ca_requests;
DROP TABLE job_items;
DROP TABLE jobs;
