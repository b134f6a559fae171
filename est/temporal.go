package est

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/certfleet/certfleet/activities"
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
}

// pendingWait is how long a request waits under a profile in approval mode,
// where the answer is almost always "pending" and a long wait only holds the
// device.
const pendingWait = 300 * time.Millisecond

// Enroll starts the enrollment, or finds it when this is a retry (same ID),
// and waits for its result. A run still going after the wait is asked where
// it stands, and reported pending.
func (t *Temporal) Enroll(ctx context.Context, e activities.Enrollment, info RunInfo) (activities.Submission, error) {
	opts := client.StartWorkflowOptions{
		ID:                       e.Key,
		TaskQueue:                t.TaskQueue,
		EnableEagerStart:         true,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		// A finished enrollment asked for again runs again; the CA ledger gives
		// it the first run's certificate under the same key.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.CertJobID.ValueSet(workflows.EnrollmentJobID),
			workflows.DeviceID.ValueSet(e.DeviceID),
			workflows.CertProfile.ValueSet(info.Profile),
			workflows.CertStep.ValueSet("submit"),
		),
		StaticSummary: fmt.Sprintf("EST %s of device %s (label %s)", info.Operation, e.DeviceID, info.Label),
	}
	run, err := t.Client.ExecuteWorkflow(ctx, opts, workflows.Enrollment, e)
	if err != nil {
		return activities.Submission{}, fmt.Errorf("start enrollment %s: %w", e.Key, err)
	}
	wait := t.Wait
	if info.ExpectPending {
		wait = min(wait, pendingWait)
	}
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var sub activities.Submission
	err = run.Get(waitCtx, &sub)
	var failed *temporal.WorkflowExecutionError
	switch {
	case err == nil:
		return sub, nil
	case ctx.Err() != nil, errors.As(err, &failed):
		return sub, fmt.Errorf("enrollment %s: %w", e.Key, err)
	}
	// Not finished within the wait (the long poll may also give up a moment
	// before the deadline, with a transport error): ask where it stands.
	sub = activities.Submission{Status: "pending", RetryAfter: time.Second}
	answer, err := t.Client.QueryWorkflow(ctx, e.Key, run.GetRunID(), workflows.QueryEnrollment)
	if err != nil {
		return sub, nil // still starting; Retry-After covers it
	}
	var current activities.Submission
	if err := answer.Get(&current); err == nil && current.Status == "pending" {
		sub.RetryAfter = current.RetryAfter
	}
	return sub, nil
}
