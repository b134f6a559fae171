package jobs_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/vocab"
	"github.com/certfleet/certfleet/workflows"
)

var errCrash = errors.New("the process died after the commit")

// crashing is the fleet's job service, ending Create right after the job's
// rows commit, as a crash there would; it reports the stored job.
func (f *fleet) crashing(stored *store.Job) *jobs.Service {
	return &jobs.Service{Pool: f.pool, Temporal: f.temporal, TaskQueue: taskQueue, AfterCommit: func(job store.Job) error {
		*stored = job
		return errCrash
	}}
}

// reconcile runs the fleet's reconciler until the test ends, fast and
// without a minimum age.
func (f *fleet) reconcile(t *testing.T, svc *jobs.Service) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		svc.RunReconciler(ctx, 200*time.Millisecond, 0, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
}

// waitStarted polls until the job's workflow exists.
func (f *fleet) waitStarted(t *testing.T, jobID int64) {
	t.Helper()
	waitFor(t, time.Minute, "the reconciler to start the job's workflow", func() bool {
		_, err := f.temporal.DescribeWorkflowExecution(context.Background(), workflows.JobWorkflowID(jobID), "")
		return err == nil
	})
}

// TestJobWhoseStartWasLostRuns: a job committed whose workflow never started
// (the process died in between) is started by the reconciler and runs to
// completion; starting it again is harmless.
func TestJobWhoseStartWasLostRuns(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 3)
	f.assign(t, f.normal, 1, 3)
	f.startWorker(t)
	var job store.Job
	_, err := f.crashing(&job).Create(ctx, jobs.Spec{Name: "lost start", CertType: "tls", CreatedBy: "test", DeviceIDs: ids(1, 3),
		Window: 2, ChildrenPerRun: 7, StepDeadline: 40 * time.Second}, nil)
	require.ErrorIs(t, err, errCrash)
	require.NotZero(t, job.ID)
	spec := jobs.SpecOf(job)
	assert.Equal(t, []any{2, 7, 40 * time.Second}, []any{spec.Window, spec.ChildrenPerRun, spec.StepDeadline}, "the job keeps its tuning for the reconciler")

	started, err := f.jobs.Reconcile(ctx, time.Hour)
	require.NoError(t, err)
	assert.Zero(t, started, "a job younger than the minimum age is left to its creator")
	f.reconcile(t, f.jobs)
	f.waitStarted(t, job.ID)
	f.wait(t, job.ID, 3*time.Minute)
	assert.Equal(t, map[string]int{string(vocab.RevokeNA): 3}, f.states(t, job.ID))
	started, err = f.jobs.Reconcile(ctx, 0)
	require.NoError(t, err)
	assert.Zero(t, started, "a job with its workflow is not started again")
	require.NoError(t, f.jobs.Start(ctx, job, spec), "a second start is harmless")
}

// TestProcessKilledAfterCommit: `certfleet job create` dies right after the
// job's rows commit, before its workflow starts (the test hook
// CERTFLEET_TEST_CRASH_AFTER_COMMIT). The job is stored with no workflow;
// the reconciler starts it and it runs to completion.
func TestProcessKilledAfterCommit(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 2)
	f.assign(t, f.normal, 1, 2)
	cmd := exec.Command(testenv.Binary(t), "job", "create", "-name", "killed", "-devices", "sim-00001,sim-00002", "-by", "test")
	cmd.Env = []string{
		"DATABASE_URL=" + f.dbURL, "TEMPORAL_ADDRESS=" + f.address, "CERTFLEET_TASK_QUEUE=" + taskQueue,
		"CERTFLEET_KEK=" + kekBase64, "CERTFLEET_TEST_CRASH_AFTER_COMMIT=1",
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", out)
	require.Equal(t, 3, exit.ExitCode(), "the process died after the commit: %s", out)

	var jobID int64
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT id FROM jobs`).Scan(&jobID))
	_, err = f.temporal.DescribeWorkflowExecution(ctx, workflows.JobWorkflowID(jobID), "")
	var notFound *serviceerror.NotFound
	require.ErrorAs(t, err, &notFound, "the workflow never started")

	f.startWorker(t)
	f.reconcile(t, f.jobs)
	f.waitStarted(t, jobID)
	f.wait(t, jobID, 3*time.Minute)
	assert.Equal(t, map[string]int{string(vocab.RevokeNA): 2}, f.states(t, jobID))
}

// TestHaltJobWithoutWorkflow: halting a job whose workflow never started ends
// it at once, and its devices are free for the next job.
func TestHaltJobWithoutWorkflow(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 2)
	f.assign(t, f.normal, 1, 2)
	var job store.Job
	_, err := f.crashing(&job).Create(ctx, jobs.Spec{Name: "lost start", CertType: "tls", CreatedBy: "test", DeviceIDs: ids(1, 2)}, nil)
	require.ErrorIs(t, err, errCrash)

	require.NoError(t, f.jobs.Halt(ctx, job.ID))
	stored, err := store.New(f.pool).GetJob(ctx, job.ID)
	require.NoError(t, err)
	assert.Equal(t, "halted", stored.Status)
	assert.NotNil(t, stored.CompletedAt)
	assert.Equal(t, map[string]int{string(vocab.Halted): 2}, f.states(t, job.ID))
	require.NoError(t, f.jobs.Halt(ctx, job.ID), "halting it again changes nothing")
	_, err = f.jobs.Create(ctx, jobs.Spec{Name: "next", CertType: "tls", CreatedBy: "test", DeviceIDs: ids(1, 2)}, nil)
	require.NoError(t, err, "the devices are free")
	started, err := f.jobs.Reconcile(ctx, 0)
	require.NoError(t, err)
	assert.Zero(t, started, "a halted job is not started")
}

// TestCreateWhileTemporalIsDown: creating a job while Temporal does not
// answer is unavailable (503), names the job it stored, and the job starts
// and completes once Temporal answers; its devices are not held for good.
func TestCreateWhileTemporalIsDown(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 2)
	f.assign(t, f.normal, 1, 2)
	down, err := client.NewLazyClient(client.Options{HostPort: testenv.FreeAddr(t)})
	require.NoError(t, err)
	t.Cleanup(down.Close)
	offline := &jobs.Service{Pool: f.pool, Temporal: down, TaskQueue: taskQueue}

	began := time.Now()
	_, err = offline.Create(ctx, jobs.Spec{Name: "while down", CertType: "tls", CreatedBy: "test", DeviceIDs: ids(1, 2)}, nil)
	kind, ok := errkind.As(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, errkind.KindUnavailable, kind.Kind(), "%v", err)
	assert.Equal(t, 503, kind.Kind().Status())
	assert.Less(t, time.Since(began), 25*time.Second, "the answer is bounded")
	jobID, ok := kind.Details()["job_id"].(int64)
	require.True(t, ok, "the answer names the stored job: %v", kind.Details())

	stored, err := store.New(f.pool).GetJob(ctx, jobID)
	require.NoError(t, err)
	assert.Equal(t, "scheduled", stored.Status, "the job waits for Temporal")
	f.startWorker(t)
	f.reconcile(t, f.jobs) // Temporal answers again
	f.waitStarted(t, jobID)
	f.wait(t, jobID, 3*time.Minute)
	assert.Equal(t, map[string]int{string(vocab.RevokeNA): 2}, f.states(t, jobID))
}

// TestStartAtBeyondHorizon: a job may not be scheduled further ahead than the
// service's horizon (a year by default).
func TestStartAtBeyondHorizon(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 1)
	f.assign(t, f.normal, 1, 1)
	spec := jobs.Spec{Name: "far", CertType: "tls", CreatedBy: "test", DeviceIDs: ids(1, 1), StartAt: time.Now().Add(366 * 24 * time.Hour)}
	_, err := f.jobs.Create(ctx, spec, nil)
	kind, ok := errkind.As(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, errkind.KindInvalid, kind.Kind())
	assert.Equal(t, "start_at", kind.Field())
	short := &jobs.Service{Pool: f.pool, Temporal: f.temporal, TaskQueue: taskQueue, Horizon: time.Hour}
	spec.StartAt = time.Now().Add(2 * time.Hour)
	_, err = short.Create(ctx, spec, nil)
	assert.Equal(t, errkind.KindInvalid, errkind.KindOf(err))
	var n int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&n))
	assert.Zero(t, n, "nothing was stored")
}
