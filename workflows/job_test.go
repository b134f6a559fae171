package workflows

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/vocab"
)

// fakeItems serves LoadItems from n devices dev-001 … in device ID order.
func fakeItems(n int) func(context.Context, int64, string, int) ([]activities.ItemRef, error) {
	return func(_ context.Context, _ int64, after string, limit int) ([]activities.ItemRef, error) {
		var page []activities.ItemRef
		for i := 1; i <= n && len(page) < limit; i++ {
			id := fmt.Sprintf("dev-%03d", i)
			if id > after {
				page = append(page, activities.ItemRef{DeviceID: id, ProfileID: 7, DeviceName: id, ProfileName: "p"})
			}
		}
		return page, nil
	}
}

// mockJob mocks the job's own activities and records how it finished.
func mockJob(env *testsuite.TestWorkflowEnvironment, items int) *string {
	return mockJobStarting(env, items, func(context.Context, int64) (activities.JobInfo, error) {
		return activities.JobInfo{CertType: "tls", Total: items}, nil
	})
}

func mockJobStarting(env *testsuite.TestWorkflowEnvironment, items int, start func(context.Context, int64) (activities.JobInfo, error)) *string {
	// The job's real ID, so that its devices' signals reach it.
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: JobWorkflowID(42)})
	finished := new(string)
	env.OnActivity(acts.StartJob, mock.Anything, int64(42)).Return(start).Maybe()
	env.OnActivity(acts.LoadItems, mock.Anything, int64(42), mock.Anything, mock.Anything).Return(fakeItems(items)).Maybe()
	env.OnActivity(acts.HaltJob, mock.Anything, int64(42)).Return(0, nil).Maybe()
	env.OnActivity(acts.FinishJob, mock.Anything, int64(42), mock.Anything).Return(
		func(_ context.Context, _ int64, status string) error { *finished = status; return nil }).Maybe()
	return finished
}

// mockDevicesSucceed makes every device step succeed at once.
func mockDevicesSucceed(env *testsuite.TestWorkflowEnvironment) {
	env.OnActivity(acts.GetCSR, mock.Anything, mock.Anything).Return(csrWithPrior, nil)
	env.OnActivity(acts.SubmitCSR, mock.Anything, mock.Anything, mock.Anything).Return(issued, nil)
	env.OnActivity(acts.InstallIssued, mock.Anything, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(acts.RevokePrior, mock.Anything, mock.Anything, mock.Anything).Return(vocab.Succeeded, nil)
}

func result(t *testing.T, env *testsuite.TestWorkflowEnvironment) Progress {
	t.Helper()
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var p Progress
	require.NoError(t, env.GetWorkflowResult(&p))
	return p
}

func TestJobRunsEveryDeviceThroughAWindow(t *testing.T) {
	env := newEnv(t)
	finished := mockJob(env, 7)
	mockDevicesSucceed(env)
	maxInFlight := 0
	env.SetOnChildWorkflowStartedListener(func(*workflow.Info, workflow.Context, converter.EncodedValues) {
		if v, err := env.QueryWorkflow(QueryProgress); err == nil {
			var p Progress
			_ = v.Get(&p)
			maxInFlight = max(maxInFlight, p.InFlight)
		}
	})
	env.ExecuteWorkflow(CertificateJob, JobInput{JobID: 42, Window: 3})
	p := result(t, env)
	assert.Equal(t, "completed", *finished)
	assert.Equal(t, "succeeded", p.Status)
	assert.Equal(t, Outcomes{Succeeded: 7}, p.Outcomes)
	assert.LessOrEqual(t, maxInFlight, 3, "never more than the window in flight")
}

// TestSkippedItemsAreCounted: items skipped when the job was created count
// from the start, those found disabled as they report; the job's progress
// accounts for every item.
func TestSkippedItemsAreCounted(t *testing.T) {
	env := newEnv(t)
	finished := mockJobStarting(env, 3, func(context.Context, int64) (activities.JobInfo, error) {
		return activities.JobInfo{CertType: "tls", Total: 5, Skipped: 2}, nil
	})
	env.OnActivity(acts.GetCSR, mock.Anything, mock.MatchedBy(func(it activities.Item) bool { return it.DeviceID == "dev-002" })).
		Return(activities.CSRResult{}, permanent(activities.ErrDeviceSkipped))
	env.OnActivity(acts.FinishItem, mock.Anything, mock.Anything, vocab.Skipped, mock.Anything).Return(nil)
	mockDevicesSucceed(env)
	env.ExecuteWorkflow(CertificateJob, JobInput{JobID: 42})
	p := result(t, env)
	assert.Equal(t, "completed", *finished)
	assert.Equal(t, Outcomes{Succeeded: 2, Skipped: 3}, p.Outcomes)
	assert.Equal(t, p.Total, p.Outcomes.Done())
}

func TestScheduledStartWaitsOnATimer(t *testing.T) {
	env := newEnv(t)
	start := env.Now().Add(6 * time.Hour)
	var startedAt time.Time
	finished := mockJobStarting(env, 2, func(context.Context, int64) (activities.JobInfo, error) {
		startedAt = env.Now()
		return activities.JobInfo{CertType: "tls", Total: 2}, nil
	})
	mockDevicesSucceed(env)
	env.ExecuteWorkflow(CertificateJob, JobInput{JobID: 42, StartAt: start})
	result(t, env)
	assert.False(t, startedAt.Before(start), "started at %s, scheduled for %s", startedAt, start)
	assert.Equal(t, "completed", *finished)
}

func TestHaltBeforeStartCancelsCleanly(t *testing.T) {
	env := newEnv(t)
	finished := mockJob(env, 5)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalHalt, nil) }, time.Hour)
	env.ExecuteWorkflow(CertificateJob, JobInput{JobID: 42, StartAt: env.Now().Add(24 * time.Hour)})
	p := result(t, env)
	assert.Equal(t, "halted", *finished)
	assert.Equal(t, "halted", p.Status)
	env.AssertNotCalled(t, "StartJob", mock.Anything, mock.Anything)
	env.AssertNotCalled(t, "LoadItems", mock.Anything, mock.Anything, mock.Anything, mock.Anything)
	env.AssertCalled(t, "HaltJob", mock.Anything, int64(42))
}

// TestContinueAsNewAfterItsChildren: after ChildrenPerRun starts the run
// waits for its devices' results, then continues as new with none in
// flight; a run that an older one left devices in flight to counts their
// signals, each once.
func TestContinueAsNewAfterItsChildren(t *testing.T) {
	env := newEnv(t)
	mockJob(env, 10)
	mockDevicesSucceed(env)
	env.ExecuteWorkflow(CertificateJob, JobInput{JobID: 42, Window: 3, ChildrenPerRun: 3})
	next := continuedAsNew(t, env)
	require.NotNil(t, next.State)
	assert.Empty(t, next.State.InFlight, "every child of the run reported to it")
	assert.Equal(t, Outcomes{Succeeded: 3}, next.State.Outcomes)
	assert.Equal(t, "dev-003", next.State.Cursor)
	assert.True(t, next.State.Started)
	assert.False(t, next.State.Exhausted)

	// A run before versionReportByResult continued as new with three
	// devices in flight: they report by signal (one twice), the rest run.
	env2 := newEnv(t)
	finished := mockJob(env2, 10)
	mockDevicesSucceed(env2)
	next.State.InFlight = []string{"dev-001", "dev-002", "dev-003"}
	next.State.Outcomes = Outcomes{}
	for _, id := range []string{"dev-001", "dev-002", "dev-002", "dev-003"} {
		env2.RegisterDelayedCallback(func() { env2.SignalWorkflow(SignalItemDone, ItemDone{DeviceID: id, Outcome: vocab.Succeeded}) }, time.Minute)
	}
	next.ChildrenPerRun = 100
	env2.ExecuteWorkflow(CertificateJob, next)
	p := result(t, env2)
	assert.Equal(t, "completed", *finished)
	assert.Equal(t, Outcomes{Succeeded: 10}, p.Outcomes, "a duplicate signal is counted once")
}

// TestDevicesReportByTheirResult: a device run that fails with its outcome
// counts as that outcome; one that ends without an outcome (terminated,
// timed out) leaves its item unfinished, so the job finishes it as a device
// failure.
func TestDevicesReportByTheirResult(t *testing.T) {
	env := newEnv(t)
	finished := mockJob(env, 3)
	env.OnWorkflow(CertifyDeviceV2, mock.Anything, mock.Anything).Return(
		func(_ workflow.Context, in DeviceInput) (vocab.Outcome, error) {
			switch in.Item.DeviceID {
			case "dev-001":
				return vocab.Succeeded, nil
			case "dev-002":
				return "", temporal.NewNonRetryableApplicationError("ca down", string(vocab.CAFailure), nil)
			}
			return "", temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_START_TO_CLOSE, nil)
		})
	var settled activities.Item
	env.OnActivity(acts.SettleItem, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_ context.Context, it activities.Item, _ string) (vocab.Outcome, error) {
			settled = it
			return vocab.RevokeWarning, nil
		}).Once()
	env.ExecuteWorkflow(CertificateJob, JobInput{JobID: 42})
	p := result(t, env)
	assert.Equal(t, "completed", *finished)
	assert.Equal(t, Outcomes{Succeeded: 1, CAFailure: 1, RevokeWarning: 1}, p.Outcomes, "the settled item counts as Postgres has it")
	assert.Equal(t, "dev-003", settled.DeviceID)
	assert.Equal(t, int64(42), settled.JobID)
}

// TestSlowDevicesAreCarriedOver: a full run waits its drain limit for its
// children, then continues as new with those still going, which the next
// run awaits from Postgres (AwaitItems) while it runs the rest, settling one
// whose workflow ended without an outcome.
func TestSlowDevicesAreCarriedOver(t *testing.T) {
	env := newEnv(t)
	mockJob(env, 4)
	slow := mock.MatchedBy(func(it activities.Item) bool { return it.DeviceID == "dev-002" || it.DeviceID == "dev-003" })
	env.OnActivity(acts.GetCSR, mock.Anything, slow).After(48*time.Hour).Return(csrWithPrior, nil)
	mockDevicesSucceed(env)
	env.ExecuteWorkflow(CertificateJob, JobInput{JobID: 42, Window: 3, ChildrenPerRun: 3})
	next := continuedAsNew(t, env)
	assert.Equal(t, []string{"dev-002", "dev-003"}, next.State.InFlight, "the run did not wait for the slow devices: they are carried over")
	assert.Equal(t, Outcomes{Succeeded: 1}, next.State.Outcomes)
	assert.True(t, next.State.ReportsByResult)

	env2 := newEnv(t)
	finished := mockJob(env2, 4)
	mockDevicesSucceed(env2)
	var awaited [][]string
	env2.OnActivity(acts.AwaitItems, mock.Anything, int64(42), mock.Anything).Return(
		func(_ context.Context, _ int64, items []activities.AwaitedItem) ([]activities.ItemOutcome, error) {
			var ids []string
			for _, it := range items {
				ids = append(ids, it.DeviceID)
				assert.Equal(t, DeviceWorkflowID(42, it.DeviceID), it.WorkflowID)
			}
			awaited = append(awaited, ids)
			switch len(awaited) {
			case 1:
				return []activities.ItemOutcome{{DeviceID: "dev-002", Outcome: vocab.Succeeded}}, nil
			case 2:
				return []activities.ItemOutcome{{DeviceID: "dev-003"}}, nil // its workflow ended without one
			}
			return nil, nil
		})
	env2.OnActivity(acts.SettleItem, mock.Anything, mock.MatchedBy(func(it activities.Item) bool { return it.DeviceID == "dev-003" }), mock.Anything).
		Return(vocab.RevokeWarning, nil).Once()
	env2.ExecuteWorkflow(CertificateJob, next)
	p := result(t, env2)
	assert.Equal(t, "completed", *finished)
	assert.Equal(t, Outcomes{Succeeded: 3, RevokeWarning: 1}, p.Outcomes)
	assert.Equal(t, [][]string{{"dev-002", "dev-003"}, {"dev-003"}}, awaited)
}

// continuedAsNew is the input of the run a job run continued as.
func continuedAsNew(t *testing.T, env *testsuite.TestWorkflowEnvironment) JobInput {
	t.Helper()
	require.True(t, env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(env.GetWorkflowError(), &can), "got %v", env.GetWorkflowError())
	var next JobInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	return next
}

// TestOutcomesCountEveryOutcome: each of vocab.Outcomes has its own counter,
// which ByOutcome reports under its name.
func TestOutcomesCountEveryOutcome(t *testing.T) {
	var o Outcomes
	want := map[vocab.Outcome]int{}
	for i, outcome := range vocab.Outcomes {
		for range i + 1 {
			o.add(outcome)
		}
		want[outcome] = i + 1
	}
	o.add("in_progress") // no outcome: not counted
	assert.Equal(t, want, o.ByOutcome())
	assert.Equal(t, len(vocab.Outcomes)*(len(vocab.Outcomes)+1)/2, o.Done())
}
