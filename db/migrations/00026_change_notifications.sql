-- +goose Up
-- Processes cache the rows enrollments read on every request (labels,
-- profiles, trust anchors; issue #23) and drop them when one of these
-- tables changes: each statement that changes one notifies
-- certfleet_changes, delivered at commit (see changefeed).
-- +goose StatementBegin
CREATE FUNCTION certfleet_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('certfleet_changes', TG_TABLE_NAME);
  RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER profiles_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON profiles
  FOR EACH STATEMENT EXECUTE FUNCTION certfleet_notify_change();
CREATE TRIGGER est_labels_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON est_labels
  FOR EACH STATEMENT EXECUTE FUNCTION certfleet_notify_change();
CREATE TRIGGER trust_anchors_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON trust_anchors
  FOR EACH STATEMENT EXECUTE FUNCTION certfleet_notify_change();

-- +goose Down
DROP TRIGGER trust_anchors_changed ON trust_anchors;
DROP TRIGGER est_labels_changed ON est_labels;
DROP TRIGGER profiles_changed ON profiles;
DROP FUNCTION certfleet_notify_change();
