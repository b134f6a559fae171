-- +goose Up
-- A job keeps how its workflow was tuned, so that the reconciler, which
-- starts the workflow of a job whose start was lost (a crash between the
-- commit and the start, Temporal unreachable), starts it as it was asked
-- for. 0 means the workflow's default. (A certificate issued but never
-- installed is revoked, status 'revoked', so it needs no new status.)
ALTER TABLE jobs
    ADD COLUMN window_size      integer  NOT NULL DEFAULT 0 CHECK (window_size >= 0),
    ADD COLUMN children_per_run integer  NOT NULL DEFAULT 0 CHECK (children_per_run >= 0),
    ADD COLUMN step_deadline    interval NOT NULL DEFAULT '0' CHECK (step_deadline >= '0');

-- +goose Down
ALTER TABLE jobs DROP COLUMN step_deadline, DROP COLUMN children_per_run, DROP COLUMN window_size;
