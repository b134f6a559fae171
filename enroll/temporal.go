package enroll

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/vocab"
	"github.com/certfleet/certfleet/workflows"
)

// Temporal runs enrollments as Enrollment workflows. The worker runs in the
// same process, so the start is eager: the workflow's first task comes back
// with the start response instead of through the task queue, and an
// enrollment the CA answers at once completes in one workflow task.
type Temporal struct {
	Client    client.Client
	TaskQueue string
	// Wait is how long a request waits for the CA before it is answered 202.
	Wait time.Duration
	// Outcomes, when this process runs the worker, tells a request its
	// enrollment's outcome as soon as the worker's local activities have it.
	Outcomes *activities.Outcomes
}

// pendingWait is how long a request waits under a profile in approval mode,
// where the answer is almost always "pending" and a long wait only holds the
// device.
const pendingWait = 300 * time.Millisecond

// queryWait bounds asking a run that outlasted the wait where it stands.
const queryWait = time.Second

// Enroll starts the enrollment, or finds it when this is a retry (same ID),
// and waits for its result. A run still going after the wait is asked where
// it stands, and reported pending.
func (t *Temporal) Enroll(ctx context.Context, e activities.Enrollment, info RunInfo) (activities.Submission, error) {
	outcome, stop := t.Outcomes.Await(e.Key)
	defer stop()
	run, err := t.Client.ExecuteWorkflow(ctx, t.startOptions(e, info, vocab.StepSubmit), workflows.Enrollment, e)
	if err != nil {
		return activities.Submission{}, fmt.Errorf("start enrollment %s: %w", e.Key, err)
	}
	wait := t.Wait
	if info.ExpectPending {
		wait = min(wait, pendingWait)
	}
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	sub, err := result(waitCtx, run, outcome)
	if refusal := refusedByRun(err); refusal != nil {
		return sub, refusal
	}
	var failed *temporal.WorkflowExecutionError
	switch {
	case err == nil:
		return sub, nil
	case ctx.Err() != nil, errors.As(err, &failed):
		return sub, fmt.Errorf("enrollment %s: %w", e.Key, err)
	}
	// Not finished within the wait (the long poll may also give up a moment
	// before the deadline, with a transport error): ask where it stands.
	sub = activities.Submission{Status: vocab.RequestPending, RetryAfter: time.Second}
	// A query waits for a workflow task in progress, which a slow CA in a
	// local activity keeps open: the answer must not wait for that.
	queryCtx, cancelQuery := context.WithTimeout(ctx, queryWait)
	defer cancelQuery()
	answer, err := t.Client.QueryWorkflow(queryCtx, e.Key, run.GetRunID(), workflows.QueryEnrollment)
	if err != nil {
		return sub, nil // still starting; Retry-After covers it
	}
	var current activities.Submission
	if err := answer.Get(&current); err == nil && current.Status == vocab.RequestPending {
		sub.RetryAfter = current.RetryAfter
	}
	return sub, nil
}

// refusedByRun is the refusal a run failed with, if err is one: a device
// registered to another credential between admission and the CA request.
func refusedByRun(err error) error {
	if refused, ok := activities.DeviceTakenRefusal(err); ok {
		return errkind.Conflict("%s", refused.Message())
	}
	return nil
}

// result is the run's outcome: from outcome, this process's worker, when it
// comes first, or else from Temporal once the run has ended.
//
// The history long poll is not cancelled when outcome comes first: it ends
// by itself an instant later, as the run closes, or at ctx's deadline.
// Cancelling it mid-read interrupts the Temporal dev server's SQLite
// connection, and a race in its driver can leave that connection
// interrupted for good: under EST load every later call then failed with
// "Namespace default is not found".
func result(ctx context.Context, run client.WorkflowRun, outcome <-chan activities.Submission) (activities.Submission, error) {
	type ended struct {
		sub activities.Submission
		err error
	}
	getCtx, stopGet := detached(ctx)
	got := make(chan ended, 1)
	go func() {
		defer stopGet()
		var e ended
		e.err = run.Get(getCtx, &e.sub)
		got <- e
	}()
	select {
	case sub := <-outcome: // nil, and never ready, without a worker here
		return sub, nil
	case e := <-got:
		return e.sub, e.err
	case <-ctx.Done():
		return activities.Submission{}, ctx.Err()
	}
}

// detached is ctx without its cancellation but with its deadline.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(context.WithoutCancel(ctx))
	}
	return context.WithDeadline(context.WithoutCancel(ctx), deadline)
}

// startOptions start a run of enrollment e, eagerly on this process's worker.
func (t *Temporal) startOptions(e activities.Enrollment, info RunInfo, step vocab.Step) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       e.Key,
		TaskQueue:                t.TaskQueue,
		EnableEagerStart:         true,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		// A finished enrollment asked for again runs again; the CA ledger gives
		// it the first run's certificate under the same key.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.CertJobID.ValueSet(info.Protocol),
			workflows.DeviceID.ValueSet(e.DeviceID),
			workflows.CertProfile.ValueSet(info.Profile),
			workflows.CertStep.ValueSet(string(step)),
		),
		StaticSummary: fmt.Sprintf("%s %s of device %s (label %s)", strings.ToUpper(info.Protocol), info.Operation, e.DeviceID, info.Label),
	}
}

// Discard signals the enrollment's run to settle instead of booking (see
// workflows.Enrollment), or, when the run has ended (having booked a
// certificate the device then did not get), starts one that settles it. One
// call does either, so no run can end between the two.
func (t *Temporal) Discard(ctx context.Context, e activities.Enrollment, info RunInfo) error {
	e.Discard = true // read only by a run this call starts
	opts := t.startOptions(e, info, vocab.StepDiscard)
	opts.EnableEagerStart = false // not offered with a signal, and nobody waits for the run
	if _, err := t.Client.SignalWithStartWorkflow(ctx, e.Key, workflows.SignalDiscard, nil, opts, workflows.Enrollment, e); err != nil {
		return fmt.Errorf("discard enrollment %s: %w", e.Key, err)
	}
	return nil
}
