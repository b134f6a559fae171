-- name: CreateJob :one
INSERT INTO jobs (name, cert_type, created_by, scheduled_at, window_size, children_per_run, step_deadline)
VALUES (@name, @cert_type, @created_by, @scheduled_at, @window_size, @children_per_run, @step_deadline)
RETURNING *;

-- name: AddJobItem :exec
INSERT INTO job_items (job_id, device_id, cert_type, profile_id)
VALUES (@job_id, @device_id, @cert_type, @profile_id);

-- name: CountJobItemsByState :many
SELECT state, count(*) AS items FROM job_items WHERE job_id = @job_id GROUP BY state ORDER BY state;

-- name: GetJob :one
SELECT * FROM jobs WHERE id = @id;

-- name: DeviceProfilesFor :many
-- Each device's profile for the certificate type, with the device's mode: a
-- job skips disabled devices.
SELECT dp.device_id, dp.profile_id, d.mode FROM device_profiles dp
JOIN devices d ON d.id = dp.device_id
WHERE dp.device_id = ANY(@device_ids::text[]) AND dp.cert_type = @cert_type
ORDER BY dp.device_id;

-- name: BusyDevices :many
-- Devices already in an active job for the certificate type, with that job.
SELECT device_id, job_id FROM job_items
WHERE device_id = ANY(@device_ids::text[]) AND cert_type = @cert_type AND state IN ('pending', 'in_progress')
ORDER BY device_id;

-- name: JobItemsPage :many
-- Items in device ID order after a cursor, with what a device workflow needs
-- to start and to be recognised in the Temporal UI. The cursor bounds d.id
-- too, though the join implies it, because the planner does not carry a range
-- across a join: a merge join on devices would otherwise walk from the first
-- device to the cursor on every page (41-63 ms at 32,000 devices in, 2-3 ms with it).
SELECT i.device_id, i.profile_id, d.name AS device_name, p.name AS profile_name
FROM job_items i
JOIN devices d ON d.id = i.device_id
JOIN profiles p ON p.id = i.profile_id
WHERE i.job_id = @job_id AND i.device_id > @after_device_id AND d.id > @after_device_id AND i.state = 'pending'
ORDER BY i.device_id
LIMIT @page_size;

-- name: CountJobItems :one
SELECT count(*) AS total, count(*) FILTER (WHERE state = 'skipped') AS skipped FROM job_items WHERE job_id = @job_id;

-- name: MarkJobRunning :exec
UPDATE jobs SET status = 'running', started_at = coalesce(started_at, now()) WHERE id = @id AND status IN ('scheduled', 'running');

-- name: MarkJobHalting :exec
UPDATE jobs SET status = 'halting' WHERE id = @id AND status IN ('scheduled', 'running');

-- name: FinishJob :exec
-- Ends a job: halted, or, when the workflow says it completed, the state its
-- items earned (see JobOutcome), so that a run recorded before job outcomes
-- existed, which says 'completed', ends as truthfully as a new one.
UPDATE jobs SET status = CASE WHEN @status::text = 'halted' THEN 'halted' ELSE (
    SELECT CASE
        WHEN count(*) FILTER (WHERE state IN ('device_failure', 'ca_failure', 'revoke_warning')) = 0 THEN 'succeeded'
        WHEN count(*) FILTER (WHERE state IN ('succeeded', 'revoke_warning', 'revoke_na')) = 0 THEN 'failed'
        ELSE 'completed_with_failures' END
    FROM job_items WHERE job_id = @id) END,
    completed_at = now()
WHERE id = @id AND completed_at IS NULL;

-- name: HaltPendingItems :execrows
UPDATE job_items SET state = 'halted', finished_at = now(), last_error = 'the job was halted before this item started'
WHERE job_id = @job_id AND state = 'pending';

-- name: StartItemStep :execrows
-- Moves an unfinished item onto step and records when and which attempt of
-- the step this is; a finished item (one a halt ended before it started
-- included) is left alone, so a retried activity cannot reopen it, and no
-- row is updated.
UPDATE job_items
SET step = @step, state = 'in_progress', started_at = coalesce(started_at, now()),
    step_status = step_status
        || CASE WHEN state = 'in_progress' AND step <> @step
                THEN jsonb_build_object(step, coalesce(step_status->step, '{}') || jsonb_build_object('status', 'done', 'at', now())) ELSE '{}' END
        || jsonb_build_object(@step::text, jsonb_build_object('status', 'running', 'at', now(), 'attempts', @attempts::int))
WHERE job_id = @job_id AND device_id = @device_id AND state IN ('pending', 'in_progress');

-- name: RecordItemPrior :exec
UPDATE job_items SET prior_certificate_id = @prior_certificate_id WHERE job_id = @job_id AND device_id = @device_id;

-- name: RecordItemIssued :exec
UPDATE job_items SET issued_certificate_id = @issued_certificate_id WHERE job_id = @job_id AND device_id = @device_id;

-- name: FinishItem :one
-- Records an item's outcome once; a retry finds no row to change.
UPDATE job_items
SET state = @state, last_error = @last_error, finished_at = now(),
    step_status = step_status || jsonb_build_object(step, coalesce(step_status->step, '{}') || jsonb_build_object('status', @step_result::text, 'at', now()))
WHERE job_id = @job_id AND device_id = @device_id AND state IN ('pending', 'in_progress')
RETURNING step;

-- name: GetJobItem :one
SELECT * FROM job_items WHERE job_id = @job_id AND device_id = @device_id;

-- name: FinishedJobItems :many
-- Those of a job's devices whose items have their outcome, in device order.
SELECT device_id, state FROM job_items
WHERE job_id = @job_id AND device_id = ANY(@device_ids::text[]) AND state NOT IN ('pending', 'in_progress')
ORDER BY device_id;

-- name: AddJobItems :copyfrom
INSERT INTO job_items (job_id, device_id, cert_type, profile_id) VALUES (@job_id, @device_id, @cert_type, @profile_id);

-- name: AddSkippedJobItems :exec
-- Items of devices a job skips from its creation, finished at once with why.
INSERT INTO job_items (job_id, device_id, cert_type, profile_id, state, last_error, finished_at)
SELECT @job_id::bigint, unnest(@device_ids::text[]), @cert_type::text, unnest(@profile_ids::bigint[]), 'skipped', @reason::text, now();

-- name: ListSkippedJobItems :many
-- The first skipped items of a job with why, for the job's detail.
SELECT device_id, last_error FROM job_items
WHERE job_id = @job_id AND state = 'skipped'
ORDER BY device_id
LIMIT @page_size;

-- name: DeleteUnstartedJob :execrows
-- Undoes a job whose workflow never started; its items go with it.
DELETE FROM jobs WHERE id = @id AND status = 'scheduled' AND started_at IS NULL;

-- name: ListJobs :many
-- Sorted by one column either way, then by ID so pages are stable.
SELECT * FROM jobs
WHERE (@filter::text = 'all'
       OR (@filter = 'active' AND status IN ('scheduled', 'running', 'halting'))
       OR (@filter = 'closed' AND status IN ('succeeded', 'completed_with_failures', 'failed', 'halted')))
ORDER BY
  CASE WHEN @sort::text = 'name' AND NOT @descending::boolean THEN name END ASC,
  CASE WHEN @sort = 'name' AND @descending THEN name END DESC,
  CASE WHEN @sort = 'created_by' AND NOT @descending THEN created_by END ASC,
  CASE WHEN @sort = 'created_by' AND @descending THEN created_by END DESC,
  CASE WHEN @sort = 'scheduled_at' AND NOT @descending THEN scheduled_at END ASC,
  CASE WHEN @sort = 'scheduled_at' AND @descending THEN scheduled_at END DESC,
  CASE WHEN @sort = 'completed_at' AND NOT @descending THEN completed_at END ASC NULLS LAST,
  CASE WHEN @sort = 'completed_at' AND @descending THEN completed_at END DESC NULLS LAST,
  id
LIMIT @page_size OFFSET @page_offset;

-- name: CountJobItemsByStepAndState :many
SELECT step, state, count(*) AS items FROM job_items WHERE job_id = @job_id GROUP BY step, state ORDER BY step, state;

-- name: ListJobItems :many
SELECT device_id, profile_id, step, state, step_status, last_error, issued_certificate_id, prior_certificate_id, started_at, finished_at
FROM job_items
WHERE job_id = @job_id AND (sqlc.narg(state)::text IS NULL OR state = sqlc.narg(state)) AND device_id > @after_device_id
ORDER BY device_id
LIMIT @page_size;

-- name: SetJobRetryOf :exec
UPDATE jobs SET retry_of = @retry_of WHERE id = @id;

-- name: RetryableJobItems :many
-- The devices of a finished job that a retry runs again: those that failed
-- or were halted.
SELECT device_id FROM job_items
WHERE job_id = @job_id AND state IN ('device_failure', 'ca_failure', 'halted')
ORDER BY device_id;

-- name: CountItemsOfJobs :many
-- Items per state of each of a page of jobs, for the jobs CSV and the
-- list's outcome bars.
SELECT job_id, state, count(*) AS items FROM job_items WHERE job_id = ANY(@job_ids::bigint[]) GROUP BY job_id, state ORDER BY job_id, state;

-- name: CountRetriedJobItems :one
-- Items of which some step took more than one attempt. Polling a pending CA
-- request is done by retries, so the poll step does not count.
SELECT count(*) AS items FROM job_items i
WHERE i.job_id = @job_id
  AND EXISTS (SELECT 1 FROM jsonb_each(i.step_status) s WHERE s.key <> 'poll' AND coalesce((s.value->>'attempts')::int, 1) > 1);

-- name: UnstartedJobs :many
-- Jobs still scheduled, created before @created_before, that no workflow has
-- marked running: the reconciler checks that each has its workflow.
SELECT * FROM jobs
WHERE status = 'scheduled' AND started_at IS NULL AND created_at < @created_before AND id > @after_id
ORDER BY id
LIMIT @page_size;

-- name: HaltJobWithoutWorkflow :execrows
-- Ends a job that has no workflow to halt: its unfinished items are halted,
-- which frees their devices, and the job is closed as halted.
WITH items AS (
    UPDATE job_items SET state = 'halted', finished_at = now(),
        last_error = 'the job was halted before this item started'
    WHERE job_id = @id AND state IN ('pending', 'in_progress')
)
UPDATE jobs SET status = 'halted', completed_at = now()
WHERE id = @id AND completed_at IS NULL;

-- name: RecentFailedItems :many
-- The attention list: items that failed in jobs finished or running in the
-- last week, newest first.
SELECT i.job_id, i.device_id, i.state, i.step, i.last_error, i.finished_at
FROM job_items i JOIN jobs j ON j.id = i.job_id
WHERE i.state IN ('device_failure', 'ca_failure') AND (j.completed_at IS NULL OR j.completed_at > now() - interval '7 days')
ORDER BY i.finished_at DESC NULLS LAST, i.job_id DESC, i.device_id
LIMIT @page_size;

-- name: ListDeviceJobItems :many
-- A device's part in jobs, newest job first.
SELECT i.job_id, j.name AS job_name, j.status AS job_status, i.cert_type, i.step, i.state, i.last_error, i.started_at, i.finished_at
FROM job_items i JOIN jobs j ON j.id = i.job_id
WHERE i.device_id = @device_id
ORDER BY i.job_id DESC
LIMIT @page_size;
