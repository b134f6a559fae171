package renewal_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/renewal"
	"github.com/certfleet/certfleet/workflows"
)

const (
	fleetSecret = "renewal-test-fleet-secret-0123456789"
	taskQueue   = "certfleet-renewal-test"
)

// TestPolicyScheduleEndToEnd runs against a real dev server: creating a
// policy creates its schedule; triggering it starts a job that renews a
// simulated fleet; pausing pauses the schedule; a schedule deleted behind
// certfleet's back comes back when certfleet reconciles, as it does on start.
func TestPolicyScheduleEndToEnd(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	_, tc := testenv.Temporal(t, testenv.TemporalOptions{})
	ca, keys := testenv.BuiltinCA(t, pool, local.Options{})
	fleet := testenv.NewSimFleet(t, pool, keys, 3, fleetSecret, "NEW")
	jobService := &jobs.Service{Pool: pool, Temporal: tc, TaskQueue: taskQueue}
	testenv.StartWorker(t, tc, taskQueue, testenv.Activities(pool, ca, fleet.Credentials), &renewal.SweepActivities{Pool: pool, Jobs: jobService})

	profileID := inventory{pool: pool}.profile(t, "cameras")
	_, err := pool.Exec(ctx, `INSERT INTO device_profiles (device_id, cert_type, profile_id) SELECT id, 'tls', $1 FROM devices`, profileID)
	require.NoError(t, err)

	svc := &renewal.Service{Pool: pool, Temporal: tc, TaskQueue: taskQueue}
	noAudit := func(*store.Queries, renewal.Policy) error { return nil }
	policy, err := svc.Create(ctx, renewal.Policy{Name: "nightly", CertType: "tls", RenewBeforeDays: 30, IncludeMissing: true,
		Cron: "0 3 * * *", TimeZone: "Europe/Berlin"}, noAudit)
	require.NoError(t, err)
	handle := tc.ScheduleClient().GetHandle(ctx, workflows.RenewalScheduleID(policy.ID))
	desc, err := handle.Describe(ctx)
	require.NoError(t, err, "creating a policy creates its schedule")
	assert.Equal(t, enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, desc.Schedule.Policy.Overlap)
	assert.False(t, desc.Schedule.State.Paused)

	require.NoError(t, svc.Trigger(ctx, policy.ID, nil))
	var jobID int64
	require.Eventually(t, func() bool {
		return pool.QueryRow(ctx, `SELECT id FROM jobs WHERE created_by = $1`, "renewal-policy:"+strconv.FormatInt(policy.ID, 10)).Scan(&jobID) == nil
	}, time.Minute, 100*time.Millisecond, "the sweep created a job")
	require.Eventually(t, func() bool { // the sweep starts the job's workflow after committing its row
		_, err := tc.DescribeWorkflowExecution(ctx, workflows.JobWorkflowID(jobID), "")
		return err == nil
	}, time.Minute, 100*time.Millisecond, "the sweep started the job's workflow")
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var progress workflows.Progress
	require.NoError(t, tc.GetWorkflow(waitCtx, workflows.JobWorkflowID(jobID), "").Get(waitCtx, &progress))
	assert.Equal(t, 3, progress.Outcomes.Succeeded+progress.Outcomes.RevokeNA, "the job renewed the fleet: %+v", progress.Outcomes)

	_, err = svc.SetPaused(ctx, policy.ID, true, noAudit)
	require.NoError(t, err)
	desc, err = handle.Describe(ctx)
	require.NoError(t, err)
	assert.True(t, desc.Schedule.State.Paused, "pausing the policy pauses its schedule")

	require.NoError(t, handle.Delete(ctx))
	_, err = handle.Describe(ctx)
	var notFound *serviceerror.NotFound
	require.True(t, errors.As(err, &notFound), "deleted behind certfleet's back: %v", err)
	require.NoError(t, svc.Reconcile(ctx))
	desc, err = handle.Describe(ctx)
	require.NoError(t, err, "reconciling brings the schedule back")
	assert.True(t, desc.Schedule.State.Paused, "as the policy says")

	recordSweepHistory(t, svc, policy.ID)

	require.NoError(t, svc.Delete(ctx, policy.ID, func(*store.Queries) error { return nil }))
	_, err = handle.Describe(ctx)
	assert.True(t, errors.As(err, &notFound), "deleting the policy deletes its schedule: %v", err)
}

// recordSweepHistory replays the sweep's history (and records it with
// CERTFLEET_RECORD_HISTORIES=1; see testenv.ReplayHistories).
func recordSweepHistory(t *testing.T, svc *renewal.Service, policyID int64) {
	t.Helper()
	var resp *workflowservice.ListWorkflowExecutionsResponse
	require.Eventually(t, func() bool { // visibility lags behind
		var err error
		resp, err = svc.Temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: "WorkflowType = 'RenewalSweep'"})
		return err == nil && len(resp.Executions) > 0
	}, 30*time.Second, 100*time.Millisecond)
	e := resp.Executions[0].GetExecution()
	assert.True(t, strings.HasPrefix(e.GetWorkflowId(), workflows.RenewalSweepID(policyID)+"-"),
		"the schedule names its sweeps after RenewalSweepID: %s", e.GetWorkflowId())
	testenv.ReplayHistories(t, map[string]*historypb.History{
		filepath.Join("renewal-sweep", "triggered.json"): testenv.History(t, svc.Temporal, e.GetWorkflowId(), e.GetRunId()),
	})
}
