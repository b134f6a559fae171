package enroll

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/vocab"
)

// pendingRun is a run whose Get returns its result once ready is closed,
// or the context's error; ended receives how its Get ended.
type pendingRun struct {
	client.WorkflowRun
	ready  chan struct{}
	result activities.Submission
	ended  chan error
}

func (r *pendingRun) Get(ctx context.Context, valuePtr any) error {
	select {
	case <-r.ready:
		*valuePtr.(*activities.Submission) = r.result
		r.ended <- nil
		return nil
	case <-ctx.Done():
		r.ended <- ctx.Err()
		return ctx.Err()
	}
}

func newPendingRun() *pendingRun {
	return &pendingRun{ready: make(chan struct{}), ended: make(chan error, 1)}
}

func TestResultTakesTheWorkersOutcomeFirst(t *testing.T) {
	run := newPendingRun()
	outcome := make(chan activities.Submission, 1)
	booked := activities.Submission{Status: vocab.RequestIssued, CertificateID: 9}
	outcome <- booked
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	sub, err := result(ctx, run, outcome)
	cancel() // as Enroll does on returning
	require.NoError(t, err)
	assert.Equal(t, booked, sub)
	// The long poll is not cancelled (see result): it ends as the run closes.
	close(run.ready)
	assert.NoError(t, <-run.ended)
}

func TestResultLeavesTheLongPollItsDeadline(t *testing.T) {
	run := newPendingRun()
	outcome := make(chan activities.Submission, 1)
	outcome <- activities.Submission{Status: vocab.RequestIssued, CertificateID: 9}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := result(ctx, run, outcome)
	require.NoError(t, err)
	assert.ErrorIs(t, <-run.ended, context.DeadlineExceeded)
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

func TestARunRefusingTheDeviceIsAConflict(t *testing.T) {
	failed := fmt.Errorf("workflow failed: %w", temporal.NewNonRetryableApplicationError("a device cam-1 exists already, registered to another credential", activities.ErrDeviceTaken, nil))
	refusal, ok := errkind.As(refusedByRun(failed))
	require.True(t, ok)
	assert.Equal(t, errkind.KindConflict, refusal.Kind())
	assert.Equal(t, "a device cam-1 exists already, registered to another credential", refusal.Message())
	assert.NoError(t, refusedByRun(fmt.Errorf("workflow failed: %w", temporal.NewApplicationError("CA down", activities.ErrCAPermanent))))
}
