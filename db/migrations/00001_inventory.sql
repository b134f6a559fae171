-- +goose Up
-- The inventory: what certfleet manages. Constraints here are the last guard
-- against bad data, so every enumeration is a CHECK and every reference a FK.

CREATE TABLE device_types (
    name                 text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    description          text NOT NULL DEFAULT '',
    -- Issue operational certificates over EST only while a device is in FACTORY mode.
    enforce_factory_mode boolean NOT NULL DEFAULT false
);

INSERT INTO device_types (name, description) VALUES
    ('access_controller', 'Door and access controllers'),
    ('agent',             'Linux hosts running certfleet agent'),
    ('camera',            'IP cameras'),
    ('gateway',           'Gateways and routers'),
    ('iot_device',        'Other IoT devices');

CREATE TABLE profiles (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name             text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    cert_type        text NOT NULL CHECK (cert_type IN ('ieee8021x', 'tls')),
    device_type      text NOT NULL REFERENCES device_types (name),
    -- Per attribute: {"attr": "CN", "rule": "fixed|default|from_csr", "value": "..."}.
    subject_rules    jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(subject_rules) = 'array'),
    san_rules        jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(san_rules) = 'array'),
    -- Additional OID:value attributes added as extensions.
    extra_attributes jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(extra_attributes) = 'array'),
    -- e.g. [{"algorithm": "ecdsa", "sizes": [256, 384]}, {"algorithm": "rsa", "sizes": [2048, 3072]}]
    key_algorithms   jsonb NOT NULL CHECK (jsonb_typeof(key_algorithms) = 'array' AND jsonb_array_length(key_algorithms) > 0),
    validity         interval NOT NULL CHECK (validity > interval '0'),
    renew_before     interval NOT NULL CHECK (renew_before >= interval '0'),
    ca_driver        text NOT NULL DEFAULT 'local' CHECK (ca_driver ~ '^[a-z][a-z0-9_]{0,31}$'),
    -- Driver settings; never secrets in clear text, only references to them.
    ca_settings      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(ca_settings) = 'object'),
    approval_mode    boolean NOT NULL DEFAULT false,
    -- How long a job waits for a pending CA request before it gives up.
    max_ca_wait      interval NOT NULL DEFAULT interval '7 days' CHECK (max_ca_wait > interval '0'),
    archived_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (renew_before < validity),
    UNIQUE (id, cert_type)
);

CREATE TABLE devices (
    -- Operator-chosen and stable (serial number, MAC, asset tag); it appears in
    -- workflow IDs and URLs, hence the conservative alphabet.
    id             text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    device_type    text NOT NULL REFERENCES device_types (name),
    mode           text NOT NULL DEFAULT 'NEW' CHECK (mode IN ('NEW', 'FACTORY', 'OPERATIONAL', 'DISABLED')),
    driver         text NOT NULL DEFAULT 'agent' CHECK (driver ~ '^[a-z][a-z0-9_]{0,31}$'),
    address        text NOT NULL DEFAULT '',
    -- A reference to where the credential lives, never the credential itself.
    credential_ref text NOT NULL DEFAULT '',
    -- Trust-on-first-use pin of the device's TLS certificate (SHA-256).
    tls_pin        bytea CHECK (tls_pin IS NULL OR length(tls_pin) = 32),
    labels         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_type_mode ON devices (device_type, mode);

-- Which profile a device's certificate of one type is issued from.
CREATE TABLE device_profiles (
    device_id  text NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    cert_type  text NOT NULL,
    profile_id bigint NOT NULL,
    PRIMARY KEY (device_id, cert_type),
    FOREIGN KEY (profile_id, cert_type) REFERENCES profiles (id, cert_type)
);
CREATE INDEX device_profiles_profile ON device_profiles (profile_id);

CREATE TABLE certificates (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id         text REFERENCES devices (id),
    profile_id        bigint REFERENCES profiles (id),
    cert_type         text NOT NULL CHECK (cert_type IN ('ieee8021x', 'tls')),
    issuer            text NOT NULL,
    serial_hex        text NOT NULL CHECK (serial_hex ~ '^[0-9a-f]+$'),
    subject           text NOT NULL,
    sha256            bytea NOT NULL UNIQUE CHECK (length(sha256) = 32),
    not_before        timestamptz NOT NULL,
    not_after         timestamptz NOT NULL,
    der               bytea NOT NULL,
    status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'superseded', 'revoked')),
    revoked_at        timestamptz,
    -- RFC 5280 CRLReason; 7 is unused.
    revocation_reason smallint CHECK (revocation_reason BETWEEN 0 AND 10 AND revocation_reason <> 7),
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (issuer, serial_hex),
    CHECK (not_before < not_after),
    CHECK ((status = 'revoked') = (revoked_at IS NOT NULL AND revocation_reason IS NOT NULL))
);
CREATE INDEX certificates_device ON certificates (device_id, cert_type);
CREATE INDEX certificates_not_after ON certificates (not_after) WHERE status = 'active';

-- +goose Down
DROP TABLE certificates;
DROP TABLE device_profiles;
DROP TABLE devices;
DROP TABLE profiles;
DROP TABLE device_types;
