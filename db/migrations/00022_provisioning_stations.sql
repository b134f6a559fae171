-- +goose Up
-- A provisioning station (a factory line, an integration) enrolls many
-- devices under its own credential rather than each device under its own:
-- an ID (<name>@station, which no device ID can be) and a secret over HTTP
-- Basic (the secret stored as an argon2id hash),
-- or a TLS client certificate (pinned by fingerprint). Its scope bounds what
-- it may do: the EST labels it may use, the device IDs it may name (a pattern
-- and/or a list), how many enrollments, until when. A device it names that
-- does not exist is created in the label's device type and register_mode.
CREATE TABLE provisioning_stations (
    name            text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    description     text NOT NULL DEFAULT '',
    secret_hash     text,
    cert_sha256     bytea UNIQUE,
    cert_der        bytea,
    -- 'issued' by certfleet's servers CA, or chaining to a trust 'anchor'
    -- (checked again at every use, so disabling the anchor stops the station).
    cert_source     text CHECK (cert_source IN ('issued', 'anchor')),
    labels          text[] NOT NULL CHECK (cardinality(labels) > 0),
    device_id_pattern text NOT NULL DEFAULT '',
    device_ids      text[] NOT NULL DEFAULT '{}',
    register_mode   text NOT NULL DEFAULT 'FACTORY' CHECK (register_mode IN ('FACTORY', 'NEW')),
    max_enrollments integer CHECK (max_enrollments > 0),
    enrollments     integer NOT NULL DEFAULT 0,
    expires_at      timestamptz,
    disabled_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text NOT NULL,
    CHECK (device_id_pattern <> '' OR cardinality(device_ids) > 0),
    CHECK ((cert_sha256 IS NULL) = (cert_der IS NULL) AND (cert_der IS NULL) = (cert_source IS NULL))
);

-- Every enrollment a station made, keyed by the enrollment (a retried
-- request is recorded, and counted, once).
CREATE TABLE station_enrollments (
    enrollment  text PRIMARY KEY,
    station     text NOT NULL REFERENCES provisioning_stations (name),
    device_id   text NOT NULL,
    label       text NOT NULL,
    -- The device did not exist and the station's enrollment created it.
    registered  boolean NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX station_enrollments_station ON station_enrollments (station, created_at DESC);

-- +goose Down
DROP TABLE station_enrollments;
DROP TABLE provisioning_stations;
