-- +goose Up
-- Each built-in CA's delegated OCSP signers (RFC 6960 §4.2.2.2): a
-- certificate with the OCSPSigning EKU, issued by the CA, and its key sealed
-- under the key-encryption key. The newest one signs; a new one is made when
-- it passes half of its validity.
CREATE TABLE ocsp_signers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    local_ca_id bigint NOT NULL REFERENCES local_cas (id),
    der         bytea NOT NULL,
    key_sealed  bytea NOT NULL,
    not_after   timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ocsp_signers_newest ON ocsp_signers (local_ca_id, not_after DESC);

-- +goose Down
DROP TABLE ocsp_signers;
