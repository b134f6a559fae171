package enroll

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/vocab"
)

// pendingRun is a run whose Get returns its result once ready is closed,
// or the context's error; it says whether its Get was given up.
type pendingRun struct {
	client.WorkflowRun
	ready  chan struct{}
	result activities.Submission
	gaveUp chan struct{}
}

func (r *pendingRun) Get(ctx context.Context, valuePtr any) error {
	select {
	case <-r.ready:
		*valuePtr.(*activities.Submission) = r.result
		return nil
	case <-ctx.Done():
		close(r.gaveUp)
		return ctx.Err()
	}
}

func newPendingRun() *pendingRun {
	return &pendingRun{ready: make(chan struct{}), gaveUp: make(chan struct{})}
}

func TestResultTakesTheWorkersOutcomeFirst(t *testing.T) {
	run := newPendingRun()
	outcome := make(chan activities.Submission, 1)
	booked := activities.Submission{Status: vocab.RequestIssued, CertificateID: 9}
	outcome <- booked
	sub, err := result(context.Background(), run, outcome)
	require.NoError(t, err)
	assert.Equal(t, booked, sub)
	<-run.gaveUp // the long poll is given up, not left behind
}

func TestResultWithoutAWorkerHereWaitsForTheRun(t *testing.T) {
	run := newPendingRun()
	run.result = activities.Submission{Status: vocab.RequestRejected, Reason: "policy"}
	close(run.ready)
	sub, err := result(context.Background(), run, nil)
	require.NoError(t, err)
	assert.Equal(t, run.result, sub)
}

func TestResultGivesUpWithItsContext(t *testing.T) {
	run := newPendingRun()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := result(ctx, run, make(chan activities.Submission))
	assert.ErrorIs(t, err, context.Canceled)
}
