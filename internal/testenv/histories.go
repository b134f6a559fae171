package testenv

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/certfleet/certfleet/worker"
)

// Runs lists the run IDs of a workflow ID, oldest first.
func Runs(t testing.TB, c client.Client, workflowID string) []string {
	t.Helper()
	resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: "WorkflowId = '" + workflowID + "'"})
	if err != nil {
		t.Fatalf("list runs of %s: %v", workflowID, err)
	}
	executions := resp.Executions
	sort.Slice(executions, func(i, j int) bool {
		return executions[i].GetStartTime().AsTime().Before(executions[j].GetStartTime().AsTime())
	})
	ids := make([]string, len(executions))
	for i, e := range executions {
		ids[i] = e.GetExecution().GetRunId()
	}
	return ids
}

// History reads every event of one run.
func History(t testing.TB, c client.Client, workflowID, runID string) *historypb.History {
	t.Helper()
	iter := c.GetWorkflowHistory(context.Background(), workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	history := &historypb.History{}
	for iter.HasNext() {
		event, err := iter.Next()
		if err != nil {
			t.Fatalf("read history of %s: %v", workflowID, err)
		}
		history.Events = append(history.Events, event)
	}
	return history
}

// ReplayHistories replays each history against the current workflow code.
// With CERTFLEET_RECORD_HISTORIES=1 it also writes each to
// workflows/testdata/histories/<name>, where the workflows package replays
// them on every test run, so that a change that breaks determinism fails CI.
func ReplayHistories(t testing.TB, histories map[string]*historypb.History) {
	t.Helper()
	replayer := sdkworker.NewWorkflowReplayer()
	worker.RegisterWorkflows(replayer)
	record := os.Getenv("CERTFLEET_RECORD_HISTORIES") == "1"
	for name, history := range histories {
		if err := replayer.ReplayWorkflowHistory(nil, history); err != nil {
			t.Fatalf("replay %s: %v", name, err)
		}
		if !record {
			continue
		}
		path := filepath.Join(RepoRoot(t), "workflows", "testdata", "histories", name)
		data, err := protojson.MarshalOptions{Indent: "  "}.Marshal(history)
		if err == nil {
			err = os.MkdirAll(filepath.Dir(path), 0o755)
		}
		if err == nil {
			err = os.WriteFile(path, data, 0o644)
		}
		if err != nil {
			t.Fatalf("record %s: %v", name, err)
		}
	}
}
