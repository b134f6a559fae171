-- +goose Up
-- A built-in issuing CA may sit under an outside root (a corporate root
-- certfleet holds no key of): root_der is that root, outside_chain the
-- certificates between the issuing CA and it, and there is no root key.
ALTER TABLE local_cas ALTER COLUMN root_key_sealed DROP NOT NULL;
ALTER TABLE local_cas ADD COLUMN outside_chain bytea[];
ALTER TABLE local_cas ADD CONSTRAINT local_cas_outside_root CHECK ((root_key_sealed IS NULL) = (outside_chain IS NOT NULL));

-- An issuing CA waiting for the outside root to sign its CSR: its key,
-- sealed as the CA's issuing key will be, and the CSR. It becomes a
-- local_cas row when the signed certificate is accepted.
CREATE TABLE pending_cas (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9-]{0,62}$'),
    key_spec    text NOT NULL,
    key_sealed  bytea NOT NULL,
    csr_der     bytea NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE pending_cas;
ALTER TABLE local_cas DROP CONSTRAINT local_cas_outside_root;
ALTER TABLE local_cas DROP COLUMN outside_chain;
ALTER TABLE local_cas ALTER COLUMN root_key_sealed SET NOT NULL;
