-- +goose Up
-- EST (RFC 7030): labels that say how devices may enroll, and what ties a
-- device to the credentials it enrolls with.

CREATE TABLE est_labels (
    -- Served at /.well-known/est/<label>/...
    label          text PRIMARY KEY CHECK (label ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    -- The unlabelled path /.well-known/est/... serves the default label.
    is_default     boolean NOT NULL DEFAULT false,
    profile_id     bigint NOT NULL REFERENCES profiles (id),
    -- Authentication modes: HTTP Basic with an OTP or device password, a
    -- factory certificate (zero-touch), the device's current certificate.
    allow_basic    boolean NOT NULL DEFAULT true,
    allow_factory  boolean NOT NULL DEFAULT false,
    allow_reenroll boolean NOT NULL DEFAULT true,
    -- The CSR field that must name the device its credential belongs to.
    identity_field text NOT NULL DEFAULT 'CN' CHECK (identity_field IN ('CN', 'serialNumber', 'SAN:DNS', 'SAN:URI')),
    -- Clients outside these networks get 403; empty allows every client.
    allowed_cidrs  cidr[] NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX est_labels_one_default ON est_labels (is_default) WHERE is_default;
CREATE INDEX est_labels_profile ON est_labels (profile_id);

-- A device created on first contact by its factory certificate is found by
-- that certificate when it comes back, rather than created twice.
ALTER TABLE devices
    ADD COLUMN factory_cert_sha256 bytea UNIQUE CHECK (length(factory_cert_sha256) = 32),
    ADD COLUMN factory_anchor_id   bigint REFERENCES trust_anchors (id) ON DELETE SET NULL;

-- The enrollment an OTP was spent on: a retry of that same enrollment (after a
-- 202 or a lost response) may present the OTP again, nothing else may.
ALTER TABLE enrollment_credentials
    ADD COLUMN used_for text,
    ADD CONSTRAINT enrollment_credentials_used_for CHECK ((used_at IS NULL) = (used_for IS NULL));

-- +goose Down
ALTER TABLE enrollment_credentials DROP CONSTRAINT enrollment_credentials_used_for, DROP COLUMN used_for;
ALTER TABLE devices DROP COLUMN factory_anchor_id, DROP COLUMN factory_cert_sha256;
DROP TABLE est_labels;
