package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/vocab"
)

// DeviceInput starts a CertifyDeviceV2 (or CertifyDevice, DeviceCertificate) workflow.
type DeviceInput struct {
	Item activities.Item
	// JobWorkflowID is where the outcome is signalled: empty for a
	// CertifyDeviceV2, which reports by its result.
	JobWorkflowID string
	// StepDeadline bounds the retries of each device and CA step.
	StepDeadline time.Duration
}

// ItemDone is the signal a device workflow sends its job when it ends.
type ItemDone struct {
	DeviceID string
	Outcome  vocab.Outcome
}

// acts is only a name for activity methods; Temporal calls the worker's instance.
var acts *activities.Activities

// CertifyDevice takes one device through CSR → submit → poll → install →
// revoke, records its outcome, shows it in the CertOutcome search attribute,
// and tells the job. A device or CA failure then fails the workflow, so that
// the Temporal UI shows it red; the job counts it from the signal, never from
// the child's result.
//
// It is DeviceCertificate on current paths, which jobs start since
// versionDevicePaths: it takes the new path of every change DeviceCertificate
// was versioned by without asking (see takes), and upserts CertStep only
// where it can be seen (see showStep). A workflow type of its own, because a
// run must never be begun by a worker that does not know these paths: an
// older worker cannot take its tasks, which wait for a newer one.
func CertifyDevice(ctx workflow.Context, in DeviceInput) (vocab.Outcome, error) {
	return certifyDevice(workflow.WithValue(ctx, currentPathsKey{}, true), in, true)
}

// CertifyDeviceV2 is CertifyDevice reporting to its job by its result alone:
// the outcome, or for a device or CA failure an error whose type is the
// outcome. Jobs start it since versionReportByResult; such a job run waits
// for its children before it continues as new, so that their results reach
// the run that started them, and awaits those it carries over after
// its drain limit from Postgres (AwaitItems). No signal to the job and no
// workflow task to see it delivered: an issued device's history is 21
// events. A workflow type of its own for the reason CertifyDevice is one.
func CertifyDeviceV2(ctx workflow.Context, in DeviceInput) (vocab.Outcome, error) {
	return certifyDevice(workflow.WithValue(ctx, currentPathsKey{}, true), in, false)
}

// DeviceCertificate is the device workflow of runs started before
// versionDevicePaths, kept so that they finish: each change since asks
// workflow.GetVersion. Runs recorded before outcomes (versionOutcome) ended
// every item with its outcome and no error.
func DeviceCertificate(ctx workflow.Context, in DeviceInput) (vocab.Outcome, error) {
	return certifyDevice(ctx, in, true)
}

// certifyDevice runs the device's steps and ends the run with its outcome;
// signalJob also tells the job by SignalItemDone.
func certifyDevice(ctx workflow.Context, in DeviceInput, signalJob bool) (vocab.Outcome, error) {
	outcome, cause := runSteps(ctx, in)
	if temporal.IsCanceledError(cause) || errors.Is(ctx.Err(), workflow.ErrCanceled) {
		outcome, cause = vocab.Halted, errors.New("the job was halted")
	}
	// Cleanup runs even when the job cancelled this workflow.
	done, _ := workflow.NewDisconnectedContext(ctx)
	if cause != nil {
		lctx := workflow.WithLocalActivityOptions(done, localOptions)
		if err := workflow.ExecuteLocalActivity(lctx, acts.FinishItem, in.Item, outcome, errorText(cause)).Get(lctx, nil); err != nil {
			return "", err
		}
	}
	outcomes := takes(done, versionOutcome)
	if outcomes {
		if err := workflow.UpsertTypedSearchAttributes(done, CertOutcome.ValueSet(string(outcome))); err != nil {
			return "", err
		}
	}
	if signalJob {
		signal := workflow.SignalExternalWorkflow(done, in.JobWorkflowID, "", SignalItemDone, ItemDone{DeviceID: in.Item.DeviceID, Outcome: outcome})
		if err := signal.Get(done, nil); err != nil {
			return outcome, err
		}
	}
	if outcomes && (outcome == vocab.DeviceFailure || outcome == vocab.CAFailure) {
		return outcome, temporal.NewNonRetryableApplicationError(string(outcome)+": "+errorText(cause), string(outcome), nil)
	}
	return outcome, nil
}

// versionOutcome marks runs that show their outcome in CertOutcome and fail
// on a device or CA failure.
const versionOutcome = "outcome-search-attribute"

// runSteps returns the item's outcome and, unless it succeeded, why.
func runSteps(ctx workflow.Context, in DeviceInput) (vocab.Outcome, error) {
	it := in.Item
	var csr activities.CSRResult
	if err := itemStep(ctx, vocab.StepCSR, deviceStep(in.StepDeadline), acts.GetCSR, &csr, it); err != nil {
		if isSkip(err) {
			return vocab.Skipped, err
		}
		if isClosed(err) {
			return vocab.Halted, err
		}
		return vocab.DeviceFailure, err
	}
	caItemStep := itemStep
	if it.CAInProcess && takes(ctx, versionLocalCASteps) {
		caItemStep = localItemStep
	}
	var sub activities.Submission
	if err := caItemStep(ctx, vocab.StepSubmit, caStep(in.StepDeadline), acts.SubmitCSR, &sub, it, csr.CSR); err != nil {
		return vocab.CAFailure, err
	}
	if sub.Status == vocab.RequestPending {
		if err := awaitItemDecision(ctx, &sub, it); err != nil {
			return vocab.CAFailure, err
		}
	}
	if sub.Status == vocab.RequestRejected {
		return vocab.CAFailure, errors.New("the CA rejected the request: " + sub.Reason)
	}
	if err := install(ctx, in, it, sub); err != nil {
		return vocab.DeviceFailure, err
	}
	var outcome vocab.Outcome
	if err := caItemStep(ctx, vocab.StepRevoke, caStep(in.StepDeadline), acts.RevokePrior, &outcome, it, csr.PriorCertificateID); err != nil {
		if temporal.IsCanceledError(err) {
			return vocab.Halted, err
		}
		return vocab.RevokeWarning, err
	}
	return outcome, nil
}

// versionLocalCASteps marks runs whose submit and revoke steps, when the
// profile's CA answers in process (the built-in CA), run as local
// activities: the same code, retries and idempotency keys, without two
// round trips through Temporal's task queues per device.
const versionLocalCASteps = "local-ca-steps"

// install runs the install step. Runs recorded before the certificate
// travelled with the CA's answer installed it by ID, reading it back.
func install(ctx workflow.Context, in DeviceInput, it activities.Item, sub activities.Submission) error {
	opts := deviceStep(in.StepDeadline)
	if !takes(ctx, versionInstallIssued) {
		return itemStep(ctx, vocab.StepInstall, opts, acts.Install, nil, it, sub.CertificateID)
	}
	return itemStep(ctx, vocab.StepInstall, opts, acts.InstallIssued, nil, it, sub.Issued())
}

// versionInstallIssued marks runs whose install step gets the certificate
// from the CA step instead of reading it back.
const versionInstallIssued = "install-issued-certificate"

// isSkip tells a device the first step found disabled, which is skipped,
// from one that failed. Histories from before skips never hold this error
// type, so they replay as they ran.
func isSkip(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == activities.ErrDeviceSkipped
}

// isClosed tells an item that a halt ended before its first step: its
// device was not contacted.
func isClosed(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == activities.ErrItemClosed
}

// itemStep runs step s of job item it: the item carries the step's name to
// the activity, which records it in job_items, so that the name is written
// here only.
func itemStep(ctx workflow.Context, s vocab.Step, opts workflow.ActivityOptions, activity, result any, it activities.Item, args ...any) error {
	it.Step = s
	return step(ctx, s, opts, activity, result, append([]any{it}, args...)...)
}

// step shows the step in the CertStep search attribute and runs its activity
// with the step's name as its summary, so that the Temporal UI names the
// steps as the API does. The summary is user metadata, which replay does not
// compare: histories recorded without it replay as they ran.
func step(ctx workflow.Context, s vocab.Step, opts workflow.ActivityOptions, activity, result any, args ...any) error {
	if err := showStep(ctx, s, false); err != nil {
		return err
	}
	opts.Summary = string(s)
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), activity, args...).Get(ctx, result)
}

// localItemStep is itemStep as a local activity, for a CA step the worker
// answers itself without a network call: the same timeouts and retry
// policy. A step that finds its profile's CA no longer answers in process
// runs again as an activity.
func localItemStep(ctx workflow.Context, s vocab.Step, opts workflow.ActivityOptions, activity, result any, it activities.Item, args ...any) error {
	it.Step = s
	if err := showStep(ctx, s, true); err != nil {
		return err
	}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: opts.StartToCloseTimeout, ScheduleToCloseTimeout: opts.ScheduleToCloseTimeout,
		RetryPolicy: opts.RetryPolicy, Summary: string(s),
	})
	err := workflow.ExecuteLocalActivity(lctx, activity, append([]any{it}, args...)...).Get(ctx, result)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == activities.ErrCANotInProcess {
		return itemStep(ctx, s, opts, activity, result, it, args...)
	}
	return err
}

// showStep shows s in the CertStep search attribute, unless the run is
// being cancelled. A run on current paths skips what nobody could see: the
// csr step, which CertStep shows from the start (see childContext), and a
// local step, which begins and ends inside one workflow task, before its
// upsert would reach the server. Every upsert is a visibility write. A local
// step that retries for long (the database down) then shows as the step
// before it; job_items, and so the API, name it.
func showStep(ctx workflow.Context, s vocab.Step, local bool) error {
	if err := ctx.Err(); err != nil {
		return temporal.NewCanceledError()
	}
	// Not read back from the run's search attributes: a history fetched
	// later carries their last values in its start event.
	if onCurrentPaths(ctx) && (local || s == vocab.StepCSR) {
		return nil
	}
	return workflow.UpsertTypedSearchAttributes(ctx, CertStep.ValueSet(string(s)))
}

// currentPathsKey marks the context of a CertifyDevice run.
type currentPathsKey struct{}

func onCurrentPaths(ctx workflow.Context) bool {
	current, _ := ctx.Value(currentPathsKey{}).(bool)
	return current
}

// takes tells whether the run takes change's new path (every change here
// has versions DefaultVersion and 1). A run on current paths takes those of
// currentChanges without asking: workflow.GetVersion records a marker and
// upserts the TemporalChangeVersion search attribute, two events and a
// visibility write per change and device, which its job's one marker per
// run stands for.
func takes(ctx workflow.Context, change string) bool {
	if onCurrentPaths(ctx) && currentChanges[change] {
		return true
	}
	return workflow.GetVersion(ctx, change, workflow.DefaultVersion, 1) != workflow.DefaultVersion
}

// currentChanges are the changes made before versionDevicePaths: a run on
// current paths takes them. A later change must not be added here, since
// runs already going would take it on replay; it asks workflow.GetVersion.
var currentChanges = map[string]bool{
	versionOutcome: true, versionLocalCASteps: true, versionInstallIssued: true, versionDecisionSignal: true,
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

// SignalCADecided tells a workflow waiting for a CA request that an
// operator decided it (approved or rejected), so that it asks at once
// instead of at its next poll; it carries no value.
const SignalCADecided = "ca-decided"

// versionDecisionSignal marks runs that wait for a pending CA request on a
// timer or SignalCADecided, whichever comes first, asking the CA once each
// time (check), instead of polling by an activity's retries.
const versionDecisionSignal = "ca-decision-signal"

// maxCheckInterval bounds the wait between two checks: a decision the
// signal does not announce (an outside CA's) is still seen within it.
const maxCheckInterval = time.Hour

// awaitDecision waits until the CA decides the pending request sub: runs
// from before versionDecisionSignal poll with the activity poll; newer
// ones wait for a decision's signal or a timer (the CA's Retry-After at
// first, doubling up to maxCheckInterval) and then check once, until the
// profile's maximum wait.
func awaitDecision(ctx workflow.Context, sub *activities.Submission, poll, check any, args ...any) error {
	if !takes(ctx, versionDecisionSignal) {
		return step(ctx, vocab.StepPoll, pollStep(*sub), poll, sub, args...)
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, CertStep.ValueSet(string(vocab.StepPoll))); err != nil {
		return err
	}
	decided := workflow.GetSignalChannel(ctx, SignalCADecided)
	deadline := workflow.Now(ctx).Add(orDefault(sub.MaxWait, time.Hour))
	interval := min(max(sub.RetryAfter, time.Second), maxCheckInterval)
	opts := caStep(10 * time.Minute)
	opts.Summary = string(vocab.StepPoll)
	for sub.Status == vocab.RequestPending {
		remaining := deadline.Sub(workflow.Now(ctx))
		if remaining <= 0 {
			return temporal.NewApplicationError("the CA did not decide before the profile's maximum wait", activities.ErrCAPending)
		}
		if err := waitForDecision(ctx, decided, min(interval, remaining)); err != nil {
			return err
		}
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), check, args...).Get(ctx, sub); err != nil {
			return err
		}
		interval = min(2*interval, maxCheckInterval)
	}
	return nil
}

// awaitItemDecision is awaitDecision for a job item, in its poll step.
func awaitItemDecision(ctx workflow.Context, sub *activities.Submission, it activities.Item) error {
	it.Step = vocab.StepPoll
	return awaitDecision(ctx, sub, acts.PollCA, acts.CheckCA, it, sub.RequestID)
}

// waitForDecision returns when decided is signalled or wait has passed.
func waitForDecision(ctx workflow.Context, decided workflow.ReceiveChannel, wait time.Duration) error {
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(workflow.NewTimer(tctx, wait), func(workflow.Future) {})
	sel.AddReceive(decided, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
	sel.Select(ctx)
	if err := ctx.Err(); err != nil {
		return temporal.NewCanceledError()
	}
	return nil
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
