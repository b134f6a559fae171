package jobs_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	sdkworker "go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/worker"
	"github.com/certfleet/certfleet/workflows"
)

// TestHistoriesReplay runs a small job that takes every kind of path (a CA
// approval, a device failure, continue-as-new) and replays each history it
// produced against this code. With CERTFLEET_RECORD_HISTORIES=1 it also
// writes them to workflows/testdata/histories, where the workflows package
// replays them on every test run, so that a change that breaks determinism
// fails CI.
func TestHistoriesReplay(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 5)
	f.assign(t, f.approval, 1, 1)
	f.assign(t, f.normal, 2, 5)
	f.startWorker(t)
	f.admin(t, http.MethodPut, "/devices/sim-00002/faults", map[string]any{"csr_failure": true}).Body.Close()
	job, err := f.jobs.Create(ctx, jobs.Spec{Name: "histories", CertType: "tls", CreatedBy: "test", DeviceIDs: ids(1, 5), Window: 2, ChildrenPerRun: 3})
	require.NoError(t, err)
	approved := approveWhilePending(t, f, job.ID, 1)
	progress := f.wait(t, job.ID, 3*time.Minute)
	require.Equal(t, int32(1), approved.Load())
	require.Equal(t, 1, progress.Outcomes.DeviceFailure)

	histories := map[string]*historypb.History{}
	runs := f.runs(t, workflows.JobWorkflowID(job.ID))
	require.GreaterOrEqual(t, len(runs), 2, "the job continued as new")
	for i, run := range runs {
		histories[filepath.Join("certificate-job", "run-"+itoa(int64(i+1))+".json")] = f.history(t, workflows.JobWorkflowID(job.ID), run)
	}
	for name, device := range map[string]string{"approved-after-pending.json": "sim-00001", "csr-failure.json": "sim-00002", "issued.json": "sim-00003"} {
		id := workflows.DeviceWorkflowID(job.ID, device)
		histories[filepath.Join("device-certificate", name)] = f.history(t, id, f.runs(t, id)[0])
	}

	replayer := sdkworker.NewWorkflowReplayer()
	worker.RegisterWorkflows(replayer)
	record := os.Getenv("CERTFLEET_RECORD_HISTORIES") == "1"
	for name, history := range histories {
		require.NoError(t, replayer.ReplayWorkflowHistory(nil, history), name)
		if record {
			path := filepath.Join(testenv.RepoRoot(t), "workflows", "testdata", "histories", name)
			require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
			data, err := protojson.MarshalOptions{Indent: "  "}.Marshal(history)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, data, 0o644))
		}
	}
}

// runs lists the run IDs of a workflow ID, oldest first.
func (f *fleet) runs(t *testing.T, workflowID string) []string {
	t.Helper()
	resp, err := f.temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
		Query: "WorkflowId = '" + workflowID + "'",
	})
	require.NoError(t, err)
	executions := resp.Executions
	sort.Slice(executions, func(i, j int) bool {
		return executions[i].GetStartTime().AsTime().Before(executions[j].GetStartTime().AsTime())
	})
	var ids []string
	for _, e := range executions {
		ids = append(ids, e.GetExecution().GetRunId())
	}
	return ids
}

func (f *fleet) history(t *testing.T, workflowID, runID string) *historypb.History {
	t.Helper()
	iter := f.temporal.GetWorkflowHistory(context.Background(), workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	history := &historypb.History{}
	for iter.HasNext() {
		event, err := iter.Next()
		require.NoError(t, err)
		history.Events = append(history.Events, event)
	}
	return history
}
