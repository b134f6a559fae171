-- +goose Up
-- The built-in CA's keys and CRL, and revocations recorded by hand for
-- external issuers that publish no CRL of their own.

CREATE TABLE local_cas (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name               text NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9-]{0,62}$'),
    key_spec           text NOT NULL CHECK (key_spec IN ('ecdsa-256', 'ecdsa-384', 'rsa-2048', 'rsa-3072', 'rsa-4096')),
    root_der           bytea NOT NULL,
    -- Private keys sealed with AES-256-GCM under the key-encryption key (pki/kek).
    root_key_sealed    bytea NOT NULL,
    issuing_der        bytea NOT NULL,
    issuing_key_sealed bytea NOT NULL,
    -- The issuing certificate's subject key ID names its CRL: /crl/<hex>.crl.
    issuing_ski        bytea NOT NULL UNIQUE,
    crl_number         bigint NOT NULL DEFAULT 0,
    crl_der            bytea,
    crl_next_update    timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    CHECK ((crl_der IS NULL) = (crl_next_update IS NULL))
);

CREATE TABLE offline_revocations (
    anchor_id  bigint NOT NULL REFERENCES trust_anchors (id) ON DELETE CASCADE,
    serial_hex text NOT NULL CHECK (serial_hex ~ '^[0-9a-f]{1,40}$'),
    revoked_at timestamptz NOT NULL,
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (anchor_id, serial_hex)
);

-- +goose Down
DROP TABLE offline_revocations;
DROP TABLE local_cas;
