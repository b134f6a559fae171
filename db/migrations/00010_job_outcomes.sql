-- +goose Up
-- A finished job says how it went: 'succeeded' (no item failed), 
-- 'completed_with_failures' (some items failed or warn) or 'failed' (items
-- failed and none got a certificate), beside 'halted'; 'completed' is gone.
-- A job may retry the failed or halted items of another (retry_of).
-- job_items.step_status holds, per step, {"status", "at", "attempts"}:
-- attempts is the Temporal attempt of the step's last try.

ALTER TABLE jobs ADD COLUMN retry_of bigint REFERENCES jobs (id);
CREATE INDEX jobs_retry_of ON jobs (retry_of) WHERE retry_of IS NOT NULL;

ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs DROP CONSTRAINT jobs_check;
UPDATE jobs j SET status = CASE
    WHEN NOT EXISTS (SELECT 1 FROM job_items i WHERE i.job_id = j.id AND i.state IN ('device_failure', 'ca_failure', 'revoke_warning'))
        THEN 'succeeded'
    WHEN NOT EXISTS (SELECT 1 FROM job_items i WHERE i.job_id = j.id AND i.state IN ('succeeded', 'revoke_warning', 'revoke_na'))
        THEN 'failed'
    ELSE 'completed_with_failures' END
WHERE status = 'completed';
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
    CHECK (status IN ('scheduled', 'running', 'halting', 'succeeded', 'completed_with_failures', 'failed', 'halted'));
ALTER TABLE jobs ADD CONSTRAINT jobs_check
    CHECK ((status IN ('succeeded', 'completed_with_failures', 'failed', 'halted')) = (completed_at IS NOT NULL));

-- +goose Down
ALTER TABLE jobs DROP CONSTRAINT jobs_check;
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
UPDATE jobs SET status = 'completed' WHERE status IN ('succeeded', 'completed_with_failures', 'failed');
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
    CHECK (status IN ('scheduled', 'running', 'halting', 'completed', 'halted'));
ALTER TABLE jobs ADD CONSTRAINT jobs_check CHECK ((status IN ('completed', 'halted')) = (completed_at IS NOT NULL));
DROP INDEX jobs_retry_of;
ALTER TABLE jobs DROP COLUMN retry_of;
