// Package worker builds the Temporal worker that runs certfleet's workflows and
// activities, with the options that govern how much it runs at once.
package worker

import (
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
)

// New returns a worker on taskQueue. Stopping it waits up to stopTimeout for
// running activities, so a rolling restart does not waste their attempts.
func New(c client.Client, taskQueue string, stopTimeout time.Duration) sdkworker.Worker {
	return sdkworker.New(c, taskQueue, sdkworker.Options{
		WorkerStopTimeout: stopTimeout,
	})
}
