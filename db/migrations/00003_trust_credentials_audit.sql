-- +goose Up
-- Trust anchors, enrollment credentials, API tokens and the audit log.
-- Secrets are stored only as hashes.

CREATE TABLE trust_anchors (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                   text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    subject                text NOT NULL,
    der                    bytea NOT NULL,
    sha256                 bytea NOT NULL UNIQUE CHECK (length(sha256) = 32),
    not_after              timestamptz NOT NULL,
    enabled                boolean NOT NULL DEFAULT true,
    -- Proof of possession: the hash of the code handed out, and when it was proven.
    verification_code_hash bytea,
    verified_at            timestamptz,
    -- Devices whose factory certificate chains here may be created on first contact.
    auto_register          boolean NOT NULL DEFAULT false,
    -- The certificate field that names an auto-registered device (e.g. "CN"); empty
    -- means the certificate fingerprint.
    name_mapping           text NOT NULL DEFAULT '' CHECK (name_mapping IN ('', 'CN', 'serialNumber', 'SAN:DNS', 'SAN:URI')),
    created_at             timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE enrollment_credentials (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id   text NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('otp', 'password')),
    -- A salted, slow hash (PHC string format); never the secret.
    secret_hash text NOT NULL CHECK (secret_hash LIKE '$%'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    used_at     timestamptz,
    CHECK (kind = 'otp' OR used_at IS NULL)
);
CREATE INDEX enrollment_credentials_device ON enrollment_credentials (device_id);

CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role         text NOT NULL CHECK (role IN ('admin', 'operator', 'auditor')),
    -- SHA-256 of a 256-bit random token: enough for a secret that is never guessed.
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL CHECK (actor <> ''),
    action      text NOT NULL CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
    object_type text NOT NULL,
    object_ids  text[] NOT NULL DEFAULT '{}',
    details     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object')
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_object ON audit_log (object_type, at);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE api_tokens;
DROP TABLE enrollment_credentials;
DROP TABLE trust_anchors;
