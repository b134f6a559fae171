package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certfleet/certfleet/activities"
)

// DeviceInventory reads the certificates one device holds through its driver
// and records them (activities.DiscoverCertificates), so that a device brought
// under management shows its real expiry before its first job.
func DeviceInventory(ctx workflow.Context, deviceID string) ([]activities.Discovered, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, MaximumAttempts: 3,
			NonRetryableErrorTypes: []string{activities.ErrDevicePermanent},
		},
	})
	var found []activities.Discovered
	err := workflow.ExecuteActivity(ctx, acts.DiscoverCertificates, deviceID).Get(ctx, &found)
	return found, err
}
