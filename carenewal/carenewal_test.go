package carenewal_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/certfleet/certfleet/carenewal"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/workflows"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestRenewalOnSchedule: a run renews the CAs whose issuing certificate ends
// within the window, once (a second run renews nothing), audited as the
// schedule; the schedule is created once however often certfleet starts;
// the run's history replays.
func TestRenewalOnSchedule(t *testing.T) {
	ctx := context.Background()
	_, tc := testenv.Temporal(t, testenv.TemporalOptions{})
	pool, _ := testenv.Database(t)
	set, err := local.OpenSet(ctx, pool, testenv.KEK(t), local.Options{})
	require.NoError(t, err)
	const queue = "ca-renewal-test"
	w := sdkworker.New(tc, queue, sdkworker.Options{})
	w.RegisterWorkflow(carenewal.CARenewal)
	// The default issuing CA lives ten years: an eleven-year window makes it due.
	w.RegisterActivity(&carenewal.Activities{CAs: set, RenewBefore: 11 * 365 * 24 * time.Hour, Overlap: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	run := func(id string) (carenewal.Result, client.WorkflowRun) {
		t.Helper()
		wr, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, carenewal.CARenewal)
		require.NoError(t, err)
		var r carenewal.Result
		require.NoError(t, wr.Get(ctx, &r))
		return r, wr
	}
	first, wr := run("ca-renewal/1")
	assert.Equal(t, []string{"default"}, first.Renewed)
	second, _ := run("ca-renewal/2")
	assert.Empty(t, second.Renewed, "a CA with a next CA waiting is not due")

	list, err := set.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, "next", list[1].Status)
	var audited int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE actor = 'schedule:ca-renewal' AND action = 'ca.renew'`).Scan(&audited))
	assert.Equal(t, 1, audited)

	require.NoError(t, carenewal.EnsureSchedule(ctx, tc, queue))
	require.NoError(t, carenewal.EnsureSchedule(ctx, tc, queue), "a second start finds the schedule")
	desc, err := tc.ScheduleClient().GetHandle(ctx, workflows.CARenewalScheduleID).Describe(ctx)
	require.NoError(t, err)
	action := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
	assert.Equal(t, "CARenewal", action.Workflow)

	testenv.ReplayHistories(t, map[string]*historypb.History{
		"ca-renewal/renews-the-default-ca.json": testenv.History(t, tc, wr.GetID(), wr.GetRunID()),
	})
}
