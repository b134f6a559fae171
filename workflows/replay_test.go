package workflows_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"
	sdkworker "go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/certfleet/certfleet/worker"
	"github.com/certfleet/certfleet/workflows"
)

// TestRecordedHistoriesReplay replays histories recorded from real runs
// (jobs.TestHistoriesReplay, the est package's interop and approval tests and
// renewal.TestPolicyScheduleEndToEnd, jobs.TestMixedFleetJob,
// carenewal.TestRenewalOnSchedule, cmd/certfleet's
// TestWebhooksDeliverEveryEventOnce,
// with CERTFLEET_RECORD_HISTORIES=1) against the
// current workflow code. A change that breaks determinism fails here; such a
// change needs workflow.GetVersion, not new recordings.
func TestRecordedHistoriesReplay(t *testing.T) {
	for _, workflowType := range []string{"certificate-job", "device-certificate", "enrollment", "renewal-sweep", "device-inventory", "ca-renewal", "webhook-delivery"} {
		files, err := filepath.Glob(filepath.Join("testdata", "histories", workflowType, "*.json"))
		require.NoError(t, err)
		assert.NotEmpty(t, files, "recorded histories of %s", workflowType)
		for _, file := range files {
			t.Run(workflowType+"/"+filepath.Base(file), func(t *testing.T) {
				replayer := sdkworker.NewWorkflowReplayer()
				worker.RegisterWorkflows(replayer)
				require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, file))
			})
		}
	}
}

// TestCurrentPathsReplayWhatAnOlderWorkerBegan: during a rolling deploy an
// older worker may take the first tasks of a device run its job started on
// current paths, ignoring the flag and recording the version markers and
// their search-attribute upserts. The run must replay on a newer worker all
// the same: the history of a run recorded before, given the flag, replays.
func TestCurrentPathsReplayWhatAnOlderWorkerBegan(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "histories", "device-certificate", "issued-local-ca.json"))
	require.NoError(t, err)
	var h historypb.History
	require.NoError(t, protojson.Unmarshal(data, &h))
	input := h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()[0]
	var in workflows.DeviceInput
	require.NoError(t, json.Unmarshal(input.GetData(), &in))
	require.False(t, in.CurrentPaths)
	in.CurrentPaths = true
	input.Data, err = json.Marshal(in)
	require.NoError(t, err)

	replayer := sdkworker.NewWorkflowReplayer()
	worker.RegisterWorkflows(replayer)
	require.NoError(t, replayer.ReplayWorkflowHistory(nil, &h))
}
