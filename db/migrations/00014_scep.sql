-- +goose Up
-- SCEP (RFC 8894) is served per label beside EST, from the same labels: a
-- label says whether it answers SCEP and which challenge passwords it takes:
-- a device's OTP, a one-time challenge from the API. Never a reusable device
-- password: SCEP carries the challenge inside the signed CSR, which certfleet
-- keeps (the CA ledger, the enrollment's history) and forwards to outside CAs.
-- A one-time secret is spent before the enrollment starts, so the copy kept
-- opens nothing.
ALTER TABLE est_labels
    ADD COLUMN scep_enabled    boolean NOT NULL DEFAULT false,
    ADD COLUMN scep_challenges text[]  NOT NULL DEFAULT '{otp,dynamic}'
        CHECK (scep_challenges <@ ARRAY['otp', 'dynamic']::text[]);

-- The RA certificates SCEP requests are encrypted to: SCEP needs an RSA
-- recipient even when the CA's key is ECDSA. The key is sealed under the
-- key-encryption key, like the CA's. A new one is made before the newest
-- expires; older ones keep decrypting until they expire.
CREATE TABLE scep_ras (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cert_der   bytea NOT NULL,
    key_sealed bytea NOT NULL,
    not_after  timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One-time challenge passwords an operator or an MDM fetches from the API,
-- as from NDES. Only the SHA-256 of the (random, 128-bit) secret is kept.
-- Optionally for one device and one label.
CREATE TABLE scep_challenges (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    secret_sha256 bytea NOT NULL UNIQUE CHECK (length(secret_sha256) = 32),
    label         text REFERENCES est_labels (label) ON DELETE CASCADE,
    device_id     text REFERENCES devices (id) ON DELETE CASCADE,
    expires_at    timestamptz NOT NULL,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- The enrollment it was spent on: a retry of that same request may
    -- present it again, nothing else may.
    used_at       timestamptz,
    used_for      text,
    CHECK ((used_at IS NULL) = (used_for IS NULL))
);
CREATE INDEX scep_challenges_expiry ON scep_challenges (expires_at);

-- A SCEP transaction (the signer's certificate and the client's transaction
-- ID) names an enrollment, so that a CertPoll, which carries no CSR, finds it.
CREATE TABLE scep_transactions (
    signer_sha256  bytea NOT NULL CHECK (length(signer_sha256) = 32),
    transaction_id text NOT NULL,
    enrollment     text NOT NULL,
    label          text NOT NULL,
    device_id      text NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    profile_id     bigint NOT NULL REFERENCES profiles (id),
    cert_type      text NOT NULL,
    identity_field text NOT NULL,
    -- Sealed under the KEK when it carries a challenge password (pki.SealCSR).
    csr_der        bytea NOT NULL,
    csr_sealed     boolean NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (signer_sha256, transaction_id)
);
CREATE INDEX scep_transactions_device ON scep_transactions (device_id);

-- A CSR carrying a challenge password (SCEP's, in clear inside the signed
-- request) is kept sealed under the KEK; see pki.SealCSR.
ALTER TABLE ca_requests ADD COLUMN csr_sealed boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE ca_requests DROP COLUMN csr_sealed;
DROP TABLE scep_transactions;
DROP TABLE scep_challenges;
DROP TABLE scep_ras;
ALTER TABLE est_labels DROP COLUMN scep_challenges, DROP COLUMN scep_enabled;
