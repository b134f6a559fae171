-- +goose Up
-- A job skips disabled devices instead of contacting them: their items end as
-- 'skipped', with the reason in last_error, whether the device was disabled
-- when the job was created or before its item started. (Writing every audit
-- row in its change's transaction needed no change to audit_log.)

ALTER TABLE job_items DROP CONSTRAINT job_items_state_check;
ALTER TABLE job_items ADD CONSTRAINT job_items_state_check
    CHECK (state IN ('pending', 'in_progress', 'succeeded', 'revoke_warning', 'revoke_na',
                     'device_failure', 'ca_failure', 'halted', 'skipped'));
-- A skipped item always says why.
ALTER TABLE job_items ADD CONSTRAINT job_items_skipped_has_reason CHECK (state <> 'skipped' OR last_error <> '');

-- +goose Down
-- The old schema has no 'skipped': such items become 'halted' (never run),
-- keeping their reason.
ALTER TABLE job_items DROP CONSTRAINT job_items_skipped_has_reason;
UPDATE job_items SET state = 'halted' WHERE state = 'skipped';
ALTER TABLE job_items DROP CONSTRAINT job_items_state_check;
ALTER TABLE job_items ADD CONSTRAINT job_items_state_check
    CHECK (state IN ('pending', 'in_progress', 'succeeded', 'revoke_warning', 'revoke_na',
                     'device_failure', 'ca_failure', 'halted'));
