-- +goose Up
-- Renewal policies: which certificates to renew and when. Each is a Temporal
-- Schedule (renewal/<id>) whose sweeps start ordinary certificate jobs.

CREATE TABLE renewal_policies (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name               text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    cert_type          text NOT NULL CHECK (cert_type IN ('ieee8021x', 'tls')),
    -- The selection: devices assigned one of these profiles and of one of these
    -- types; an empty list does not narrow.
    profile_ids        bigint[] NOT NULL DEFAULT '{}',
    device_types       text[] NOT NULL DEFAULT '{}',
    -- When a certificate is due: so many days before it expires, or once this
    -- share of its lifetime has passed. Exactly one is set (not zero).
    renew_before_days  integer NOT NULL DEFAULT 0 CHECK (renew_before_days BETWEEN 0 AND 3650),
    renew_at_lifetime  double precision NOT NULL DEFAULT 0 CHECK (renew_at_lifetime >= 0 AND renew_at_lifetime < 1),
    include_missing    boolean NOT NULL DEFAULT false,
    include_expired    boolean NOT NULL DEFAULT true,
    jitter             interval NOT NULL DEFAULT interval '0' CHECK (jitter >= interval '0'),
    -- [{"days": ["mon", ...], "start": "01:00", "end": "05:00"}]; empty: any time.
    windows            jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(windows) = 'array'),
    time_zone          text NOT NULL DEFAULT 'UTC',
    -- Outside the windows a sweep does nothing, or starts its jobs in the next window.
    outside_window     text NOT NULL DEFAULT 'skip' CHECK (outside_window IN ('skip', 'delay')),
    max_devices_per_job integer NOT NULL DEFAULT 1000 CHECK (max_devices_per_job BETWEEN 1 AND 100000),
    -- The sweep's rhythm: a cron expression (in time_zone) or an interval.
    cron               text NOT NULL DEFAULT '',
    every              interval NOT NULL DEFAULT interval '0',
    paused             boolean NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK ((renew_before_days = 0) <> (renew_at_lifetime = 0)),
    CHECK ((cron = '') <> (every = interval '0')),
    CHECK (every = interval '0' OR every >= interval '1 minute')
);

-- What made a job, so that a retried sweep finds the jobs it created:
-- renewal/<sweep workflow ID>/<part>.
ALTER TABLE jobs ADD COLUMN source text UNIQUE;

-- +goose Down
ALTER TABLE jobs DROP COLUMN source;
DROP TABLE renewal_policies;
