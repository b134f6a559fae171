-- +goose Up
-- Webhooks: admins subscribe URLs (or, with mailto:, email addresses) to
-- events. Events are written to an outbox (webhook_events) in the transaction
-- of the change they tell of, by the triggers below, so none is lost; a
-- dispatcher starts one delivery workflow per subscribed webhook and event,
-- and each delivery's attempts are logged.
CREATE TABLE webhooks (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name              text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    -- http(s)://… is POSTed to; mailto:a@example.com,b@example.com is mailed.
    url               text NOT NULL CHECK ((url ~ '^https?://' OR url ~ '^mailto:') AND length(url) <= 2000),
    events            text[] NOT NULL CHECK (cardinality(events) > 0),
    -- The HMAC-SHA256 signing secret of an HTTP webhook: a credential (kind
    -- bearer) of the credential store, sealed under the KEK there.
    secret_credential text REFERENCES credentials (name) ON UPDATE CASCADE,
    disabled_at       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    created_by        text NOT NULL,
    CHECK (url ~ '^mailto:' OR secret_credential IS NOT NULL)
);

CREATE TABLE webhook_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Receivers deduplicate by it: an event told twice has one ID.
    event_id      text NOT NULL UNIQUE,
    type          text NOT NULL,
    payload       jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    dispatched_at timestamptz
);
CREATE INDEX webhook_events_undispatched ON webhook_events (id) WHERE dispatched_at IS NULL;

CREATE TABLE webhook_deliveries (
    webhook_id   bigint NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id     text NOT NULL REFERENCES webhook_events (event_id) ON DELETE CASCADE,
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts     integer NOT NULL DEFAULT 0,
    -- The receiver's last HTTP status (NULL: no answer) and what went wrong.
    last_status  integer,
    last_error   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_recent ON webhook_deliveries (webhook_id, created_at DESC);
CREATE INDEX webhook_deliveries_untried ON webhook_deliveries (created_at) WHERE status = 'pending' AND attempts = 0;

-- +goose StatementBegin
CREATE FUNCTION webhook_event(event_id text, type text, payload jsonb) RETURNS void LANGUAGE sql AS $$
    INSERT INTO webhook_events (event_id, type, payload) VALUES (event_id, type, payload) ON CONFLICT (event_id) DO NOTHING;
$$;

-- A job that ends: job.finished with its outcome counts, and
-- job.items_failed with the failed items (the first 100) when there are any.
CREATE FUNCTION webhook_job_finished() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    counts jsonb;
    failed jsonb;
BEGIN
    SELECT coalesce(jsonb_object_agg(state, n), '{}') INTO counts
    FROM (SELECT state, count(*) AS n FROM job_items WHERE job_id = NEW.id GROUP BY state) s;
    PERFORM webhook_event('job.finished/' || NEW.id, 'job.finished',
        jsonb_build_object('job_id', NEW.id, 'name', NEW.name, 'status', NEW.status, 'counts', counts));
    SELECT jsonb_agg(jsonb_build_object('device_id', device_id, 'state', state, 'step', step, 'error', last_error) ORDER BY device_id) INTO failed
    FROM (SELECT * FROM job_items WHERE job_id = NEW.id AND state IN ('device_failure', 'ca_failure', 'revoke_warning') ORDER BY device_id LIMIT 100) f;
    IF failed IS NOT NULL THEN
        PERFORM webhook_event('job.items_failed/' || NEW.id, 'job.items_failed', jsonb_build_object('job_id', NEW.id, 'name', NEW.name,
            'failed', (SELECT count(*) FROM job_items WHERE job_id = NEW.id AND state IN ('device_failure', 'ca_failure', 'revoke_warning')),
            'items', failed));
    END IF;
    RETURN NULL;
END $$;

-- A CA request still pending when its transaction commits (approval mode, an
-- outside CA): ca_request.pending. One issued or refused in the transaction
-- that made it was never pending to anyone.
CREATE FUNCTION webhook_ca_request_pending() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT status FROM ca_requests WHERE id = NEW.id) = 'pending' THEN
        PERFORM webhook_event('ca_request.pending/' || NEW.id, 'ca_request.pending',
            jsonb_build_object('request_id', NEW.id, 'device_id', NEW.device_id, 'profile_id', NEW.profile_id, 'ca_driver', NEW.ca_driver));
    END IF;
    RETURN NULL;
END $$;

-- A pending request decided in a later transaction: ca_request.decided.
CREATE FUNCTION webhook_ca_request_decided() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.created_at <> now() THEN
        PERFORM webhook_event('ca_request.decided/' || NEW.id, 'ca_request.decided',
            jsonb_build_object('request_id', NEW.id, 'device_id', NEW.device_id, 'profile_id', NEW.profile_id, 'status', NEW.status,
                'decided_by', NEW.decided_by, 'reason', NEW.reject_reason));
    END IF;
    RETURN NULL;
END $$;

-- A job a renewal policy's sweep started: renewal.job_started. The sweep
-- sets the job's source after inserting it, in the same transaction, so the
-- row is read again at commit.
CREATE FUNCTION webhook_renewal_job() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    job jobs;
BEGIN
    SELECT * INTO job FROM jobs WHERE id = NEW.id;
    IF job.source IS NOT NULL THEN
        PERFORM webhook_event('renewal.job_started/' || job.id, 'renewal.job_started',
            jsonb_build_object('job_id', job.id, 'name', job.name, 'source', job.source,
                'devices', (SELECT count(*) FROM job_items WHERE job_id = job.id)));
    END IF;
    RETURN NULL;
END $$;

-- A built-in CA's next generation: ca.renewed.
CREATE FUNCTION webhook_ca_renewed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webhook_event('ca.renewed/' || NEW.id, 'ca.renewed',
        jsonb_build_object('ca', NEW.name, 'activates_at', NEW.activates_at));
    RETURN NULL;
END $$;

-- A trust anchor added, removed, enabled or disabled, proven, or changed in
-- what it registers: trust_anchor.changed.
CREATE FUNCTION webhook_trust_anchor_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    anchor trust_anchors;
BEGIN
    anchor := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    PERFORM webhook_event('trust_anchor.changed/' || gen_random_uuid(), 'trust_anchor.changed',
        jsonb_build_object('anchor_id', anchor.id, 'name', anchor.name, 'change', lower(TG_OP), 'enabled', anchor.enabled));
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER webhook_job_finished AFTER UPDATE OF status ON jobs FOR EACH ROW
    WHEN (NEW.status IN ('succeeded', 'completed_with_failures', 'failed', 'halted') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION webhook_job_finished();
CREATE CONSTRAINT TRIGGER webhook_ca_request_pending AFTER INSERT ON ca_requests DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION webhook_ca_request_pending();
CREATE TRIGGER webhook_ca_request_decided AFTER UPDATE OF status ON ca_requests FOR EACH ROW
    WHEN (OLD.status = 'pending' AND NEW.status <> 'pending')
    EXECUTE FUNCTION webhook_ca_request_decided();
CREATE CONSTRAINT TRIGGER webhook_renewal_job AFTER INSERT ON jobs DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION webhook_renewal_job();
CREATE TRIGGER webhook_ca_renewed AFTER INSERT ON local_cas FOR EACH ROW
    WHEN (NEW.status = 'next') EXECUTE FUNCTION webhook_ca_renewed();
CREATE TRIGGER webhook_trust_anchor_added_or_removed AFTER INSERT OR DELETE ON trust_anchors FOR EACH ROW
    EXECUTE FUNCTION webhook_trust_anchor_changed();
CREATE TRIGGER webhook_trust_anchor_changed AFTER UPDATE ON trust_anchors FOR EACH ROW
    WHEN ((OLD.enabled, OLD.auto_register, OLD.name_mapping, OLD.verified_at) IS DISTINCT FROM (NEW.enabled, NEW.auto_register, NEW.name_mapping, NEW.verified_at))
    EXECUTE FUNCTION webhook_trust_anchor_changed();

-- +goose Down
DROP TRIGGER webhook_trust_anchor_changed ON trust_anchors;
DROP TRIGGER webhook_trust_anchor_added_or_removed ON trust_anchors;
DROP TRIGGER webhook_ca_renewed ON local_cas;
DROP TRIGGER webhook_renewal_job ON jobs;
DROP TRIGGER webhook_ca_request_decided ON ca_requests;
DROP TRIGGER webhook_ca_request_pending ON ca_requests;
DROP TRIGGER webhook_job_finished ON jobs;
DROP FUNCTION webhook_trust_anchor_changed();
DROP FUNCTION webhook_ca_renewed();
DROP FUNCTION webhook_renewal_job();
DROP FUNCTION webhook_ca_request_decided();
DROP FUNCTION webhook_ca_request_pending();
DROP FUNCTION webhook_job_finished();
DROP FUNCTION webhook_event(text, text, jsonb);
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhooks;
