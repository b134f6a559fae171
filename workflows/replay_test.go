package workflows_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/certfleet/certfleet/worker"
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
