package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certfleet/certfleet/activities"
)

// DeviceInput starts a DeviceCertificate workflow.
type DeviceInput struct {
	Item activities.Item
	// JobWorkflowID is where the outcome is signalled.
	JobWorkflowID string
	// StepDeadline bounds the retries of each device and CA step.
	StepDeadline time.Duration
}

// ItemDone is the signal a device workflow sends its job when it ends.
type ItemDone struct {
	DeviceID string
	Outcome  string
}

// acts is only a name for activity methods; Temporal calls the worker's instance.
var acts *activities.Activities

// DeviceCertificate takes one device through CSR → submit → poll → install →
// revoke, records its outcome, and tells the job. It always ends with an
// outcome, never an error: a failed item is data, not a failed workflow.
func DeviceCertificate(ctx workflow.Context, in DeviceInput) (string, error) {
	outcome, cause := runSteps(ctx, in)
	if temporal.IsCanceledError(cause) || errors.Is(ctx.Err(), workflow.ErrCanceled) {
		outcome, cause = activities.Halted, errors.New("the job was halted")
	}
	// Cleanup runs even when the job cancelled this workflow.
	done, _ := workflow.NewDisconnectedContext(ctx)
	if cause != nil {
		lctx := workflow.WithLocalActivityOptions(done, localOptions)
		if err := workflow.ExecuteLocalActivity(lctx, acts.FinishItem, in.Item, outcome, errorText(cause)).Get(lctx, nil); err != nil {
			return "", err
		}
	}
	signal := workflow.SignalExternalWorkflow(done, in.JobWorkflowID, "", SignalItemDone, ItemDone{DeviceID: in.Item.DeviceID, Outcome: outcome})
	return outcome, signal.Get(done, nil)
}

// runSteps returns the item's outcome and, unless it succeeded, why.
func runSteps(ctx workflow.Context, in DeviceInput) (string, error) {
	it := in.Item
	var csr activities.CSRResult
	if err := step(ctx, "csr", deviceStep(in.StepDeadline), acts.GetCSR, &csr, it); err != nil {
		if isSkip(err) {
			return activities.Skipped, err
		}
		return activities.DeviceFailure, err
	}
	var sub activities.Submission
	if err := step(ctx, "submit", caStep(in.StepDeadline), acts.SubmitCSR, &sub, it, csr.CSR); err != nil {
		return activities.CAFailure, err
	}
	if sub.Status == "pending" {
		if err := step(ctx, "poll", pollStep(sub), acts.PollCA, &sub, it, sub.RequestID); err != nil {
			return activities.CAFailure, err
		}
	}
	if sub.Status == "rejected" {
		return activities.CAFailure, errors.New("the CA rejected the request: " + sub.Reason)
	}
	if err := step(ctx, "install", deviceStep(in.StepDeadline), acts.Install, nil, it, sub.CertificateID); err != nil {
		return activities.DeviceFailure, err
	}
	var outcome string
	if err := step(ctx, "revoke", caStep(in.StepDeadline), acts.RevokePrior, &outcome, it, csr.PriorCertificateID); err != nil {
		if temporal.IsCanceledError(err) {
			return activities.Halted, err
		}
		return activities.RevokeWarning, err
	}
	return outcome, nil
}

// isSkip tells a device the first step found disabled, which is skipped,
// from one that failed. Histories from before skips never hold this error
// type, so they replay as they ran.
func isSkip(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == activities.ErrDeviceSkipped
}

// step shows the step in the CertStep search attribute and runs its activity.
func step(ctx workflow.Context, name string, opts workflow.ActivityOptions, activity any, result any, args ...any) error {
	if err := ctx.Err(); err != nil {
		return temporal.NewCanceledError()
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, CertStep.ValueSet(name)); err != nil {
		return err
	}
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), activity, args...).Get(ctx, result)
}

// Step timeouts. Each try of a device or CA call gets a minute; transient
// failures retry with backoff until the step's deadline.
func deviceStep(deadline time.Duration) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: orDefault(deadline, 30*time.Minute),
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrDevicePermanent, activities.ErrCSRRefused, activities.ErrCAPermanent},
		},
	}
}

func caStep(deadline time.Duration) workflow.ActivityOptions {
	opts := deviceStep(deadline)
	opts.ScheduleToCloseTimeout = orDefault(deadline, time.Hour)
	return opts
}

// pollStep polls at the CA's suggested interval (between 1 s and 5 min) until
// the profile's maximum wait; retries, not timers, so history stays small.
func pollStep(sub activities.Submission) workflow.ActivityOptions {
	interval := min(max(sub.RetryAfter, time.Second), 5*time.Minute)
	return workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: sub.MaxWait,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: interval, BackoffCoefficient: 1, MaximumInterval: interval,
			NonRetryableErrorTypes: []string{activities.ErrCAPermanent},
		},
	}
}

// localOptions are for the Postgres bookkeeping run as local activities: each
// try gets 30 s, and retries ride out a database outage of up to an hour.
var localOptions = workflow.LocalActivityOptions{
	StartToCloseTimeout:    30 * time.Second,
	ScheduleToCloseTimeout: time.Hour,
	RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second},
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// errorText keeps the part of an activity error a person needs.
func errorText(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	var timeout *temporal.TimeoutError
	if errors.As(err, &timeout) {
		return "gave up: the step did not succeed before its deadline (" + timeout.TimeoutType().String() + ")"
	}
	return err.Error()
}
