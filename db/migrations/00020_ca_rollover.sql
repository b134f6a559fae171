-- +goose Up
-- Rollover: a CA name (what profiles name) has one active issuing CA, and
-- while it is renewed, one "next" CA, published beside it from its creation
-- and issuing from activates_at on. The active one then retires: it issues
-- nothing more but keeps its CRL and OCSP answers for what it issued.
ALTER TABLE local_cas ADD COLUMN status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'next', 'retired'));
ALTER TABLE local_cas ADD COLUMN activates_at timestamptz;
ALTER TABLE local_cas ADD COLUMN retired_at timestamptz;
ALTER TABLE local_cas ADD CONSTRAINT local_cas_next_activates CHECK (status <> 'next' OR activates_at IS NOT NULL);
ALTER TABLE local_cas DROP CONSTRAINT local_cas_name_key;
CREATE UNIQUE INDEX local_cas_one_active ON local_cas (name) WHERE status = 'active';
CREATE UNIQUE INDEX local_cas_one_next ON local_cas (name) WHERE status = 'next';

-- +goose Down
DROP INDEX local_cas_one_next;
DROP INDEX local_cas_one_active;
DELETE FROM local_cas WHERE status <> 'active';
ALTER TABLE local_cas ADD CONSTRAINT local_cas_name_key UNIQUE (name);
ALTER TABLE local_cas DROP CONSTRAINT local_cas_next_activates;
ALTER TABLE local_cas DROP COLUMN retired_at;
ALTER TABLE local_cas DROP COLUMN activates_at;
ALTER TABLE local_cas DROP COLUMN status;
