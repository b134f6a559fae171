package jobs_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"

	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/vocab"
	"github.com/certfleet/certfleet/workflows"
)

// TestHistoriesReplay runs a small job that takes every kind of path (a CA
// approval, a device failure, continue-as-new) and replays each history it
// produced against this code. With CERTFLEET_RECORD_HISTORIES=1 it also
// writes them to workflows/testdata/histories, where the workflows package
// replays them on every test run, so that a change that breaks determinism
// fails CI. Each step's activity is summarised with the step's name, as the
// API names it.
func TestHistoriesReplay(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 5)
	f.assign(t, f.approval, 1, 1)
	f.assign(t, f.normal, 2, 5)
	f.startWorker(t)
	f.admin(t, http.MethodPut, "/devices/sim-00002/faults", map[string]any{"csr_failure": true}).Body.Close()
	job, err := f.jobs.Create(ctx, jobs.Spec{Name: "histories", CertType: "tls", CreatedBy: "test", DeviceIDs: ids(1, 5), Window: 2, ChildrenPerRun: 3}, nil)
	require.NoError(t, err)
	approved := approveWhilePending(t, f, job.ID, 1)
	progress := f.wait(t, job.ID, 3*time.Minute)
	require.Equal(t, int32(1), approved.Load())
	require.Equal(t, 1, progress.Outcomes.DeviceFailure)

	histories := map[string]*historypb.History{}
	runs := testenv.Runs(t, f.temporal, workflows.JobWorkflowID(job.ID))
	require.GreaterOrEqual(t, len(runs), 2, "the job continued as new")
	for i, run := range runs {
		histories[filepath.Join("certificate-job", "run-"+itoa(int64(i+1))+".json")] = testenv.History(t, f.temporal, workflows.JobWorkflowID(job.ID), run)
	}
	// The job starts CertifyDeviceV2 children (report-by-result), and the
	// built-in CA's submit and revoke steps run as local activities
	// (local-ca-steps); the histories from before are kept beside these.
	for name, device := range map[string]string{"approved-after-pending-v2.json": "sim-00001", "csr-failure-v2.json": "sim-00002", "issued-v2.json": "sim-00003"} {
		id := workflows.DeviceWorkflowID(job.ID, device)
		histories[filepath.Join("device-certificate", name)] = testenv.History(t, f.temporal, id, testenv.Runs(t, f.temporal, id)[0])
	}
	for name, want := range map[string]struct {
		steps []vocab.Step
		shown []string // CertStep and CertOutcome upserts, in order
	}{
		"approved-after-pending-v2.json": {[]vocab.Step{vocab.StepCSR, vocab.StepSubmit, vocab.StepPoll, vocab.StepInstall, vocab.StepRevoke}, []string{"poll", "install", "revoke_na"}},
		"csr-failure-v2.json":            {[]vocab.Step{vocab.StepCSR}, []string{"device_failure"}},
		"issued-v2.json":                 {[]vocab.Step{vocab.StepCSR, vocab.StepSubmit, vocab.StepInstall, vocab.StepRevoke}, []string{"install", "revoke_na"}},
	} {
		h := histories[filepath.Join("device-certificate", name)]
		assert.Equal(t, want.steps, activitySummaries(t, h), name)
		markers, shown := versionMarkersAndUpserts(t, h)
		assert.Zero(t, markers, "%s: a device run on current paths records no version marker", name)
		assert.Equal(t, want.shown, shown, "%s: only what can be seen is upserted", name)
		for _, e := range h.GetEvents() {
			assert.NotEqual(t, enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED, e.GetEventType(), "%s: a device reports by its result", name)
		}
	}
	assert.Len(t, histories[filepath.Join("device-certificate", "issued-v2.json")].GetEvents(), 21)

	testenv.ReplayHistories(t, histories)
}

// versionMarkersAndUpserts counts a history's workflow.GetVersion markers
// and lists the values of its search-attribute upserts.
func versionMarkersAndUpserts(t *testing.T, h *historypb.History) (markers int, upserted []string) {
	t.Helper()
	for _, e := range h.GetEvents() {
		if e.GetMarkerRecordedEventAttributes().GetMarkerName() == "Version" {
			markers++
		}
		for _, p := range e.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes().GetIndexedFields() {
			var v string
			require.NoError(t, converter.GetDefaultDataConverter().FromPayload(p, &v))
			upserted = append(upserted, v)
		}
	}
	return markers, upserted
}

// activitySummaries are the summaries of the activities and local
// activities a history ran, in order: what the Temporal UI shows for them.
// Local activities without one (the failure bookkeeping) are left out.
func activitySummaries(t *testing.T, h *historypb.History) []vocab.Step {
	t.Helper()
	var steps []vocab.Step
	for _, e := range h.GetEvents() {
		summarised := e.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED ||
			e.GetEventType() == enumspb.EVENT_TYPE_MARKER_RECORDED && e.GetUserMetadata().GetSummary() != nil
		if !summarised {
			continue
		}
		var s vocab.Step
		require.NoError(t, converter.GetDefaultDataConverter().FromPayload(e.GetUserMetadata().GetSummary(), &s))
		steps = append(steps, s)
	}
	return steps
}

// TestSlowDevicesAreCarriedOver: a device waiting for a CA's approval does
// not hold its job. Each full run waits its drain limit for it, then
// continues as new without it, and a later run hears its outcome from
// Postgres (AwaitItems) once an operator approves. With
// CERTFLEET_RECORD_HISTORIES=1 the job's runs are recorded for the replay
// test.
func TestSlowDevicesAreCarriedOver(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 3)
	f.assign(t, f.approval, 1, 1)
	f.assign(t, f.normal, 2, 3)
	f.startWorker(t)
	job, err := f.jobs.Create(ctx, jobs.Spec{Name: "carried", CertType: "tls", CreatedBy: "test", DeviceIDs: ids(1, 3),
		Window: 3, ChildrenPerRun: 1, DrainLimit: time.Second}, nil)
	require.NoError(t, err)
	id := workflows.JobWorkflowID(job.ID)
	require.Eventually(t, func() bool { return len(testenv.Runs(t, f.temporal, id)) >= 3 }, time.Minute, 100*time.Millisecond,
		"the job continues as new past the pending device")
	approved := approveWhilePending(t, f, job.ID, 1)
	progress := f.wait(t, job.ID, 2*time.Minute)
	require.Equal(t, int32(1), approved.Load())
	assert.Equal(t, 3, progress.Outcomes.Done())
	assert.Equal(t, workflows.Outcomes{RevokeNA: 3}, progress.Outcomes)

	histories := map[string]*historypb.History{}
	awaited := 0
	for i, run := range testenv.Runs(t, f.temporal, id) {
		h := testenv.History(t, f.temporal, id, run)
		histories[filepath.Join("certificate-job", "carried-run-"+itoa(int64(i+1))+".json")] = h
		for _, e := range h.GetEvents() {
			if e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() == "AwaitItems" {
				awaited++
			}
		}
	}
	assert.Positive(t, awaited, "a run awaited the carried device from Postgres")
	testenv.ReplayHistories(t, histories)
}
