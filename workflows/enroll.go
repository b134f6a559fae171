package workflows

import (
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/vocab"
)

// Enrollments belong to no job: their CertJobId is their protocol, so
// CertJobId="est" lists the EST enrollments and CertJobId="scep" the SCEP ones.

// QueryEnrollment asks an Enrollment where it stands (activities.Submission;
// an empty Status means the CA has not answered yet).
const QueryEnrollment = "enrollment"

// Enrollment issues a certificate for one EST or SCEP request. The handler starts
// it eagerly on this process's worker and waits for its result; the fast steps
// are local activities, so an enrollment the CA answers at once costs a single
// workflow task. A request the CA leaves pending is polled here until it is
// decided, so issuance is booked even if the device never asks again. A
// serverkeygen enrollment takes its own path, enrollGeneratedKey: its key
// dies with the request, so its certificate is booked only if delivered.
func Enrollment(ctx workflow.Context, e activities.Enrollment) (activities.Submission, error) {
	var sub activities.Submission
	if err := workflow.SetQueryHandler(ctx, QueryEnrollment, func() (activities.Submission, error) { return sub, nil }); err != nil {
		return sub, err
	}
	if (e.ServerKeyGen || e.Discard) && workflow.GetVersion(ctx, discardableChange, workflow.DefaultVersion, 1) == 1 {
		return enrollGeneratedKey(ctx, e, &sub)
	}
	lctx := workflow.WithLocalActivityOptions(ctx, localOptions)
	if err := workflow.ExecuteLocalActivity(lctx, acts.SubmitEnrollment, e).Get(lctx, &sub); err != nil {
		return sub, err
	}
	if sub.Status == vocab.RequestPending {
		if err := awaitDecision(ctx, &sub, acts.PollEnrollment, acts.CheckEnrollment, e, sub.RequestID); err != nil {
			sub.Status, sub.Reason = StatusFailed, errorText(err)
			return sub, nil
		}
	}
	// With the built-in CA, an issue at once was booked in the transaction
	// that recorded the certificate (Submission.Booked); runs from before
	// recorded no Booked, and book in a step of their own.
	if sub.Status != vocab.RequestIssued || sub.Booked {
		return sub, nil
	}
	err := workflow.ExecuteLocalActivity(lctx, acts.CompleteEnrollment, e, sub.CertificateID).Get(lctx, nil)
	return sub, err
}

// discardableChange is the workflow.GetVersion change that gave enrollments
// of generated keys their own path; runs recorded before it replay the
// common one.
const discardableChange = "serverkeygen-discardable"

// deviceTakenChange is the workflow.GetVersion change that fails an
// enrollment of a generated key refused because its device was registered
// to another credential meanwhile, as the common path does, instead of
// ending it failed: runs recorded before it end failed, answered 503.
const deviceTakenChange = "serverkeygen-device-taken"

// SignalDiscard tells an enrollment of a generated key that its certificate
// will not reach the device; it carries no value.
const SignalDiscard = "discard"

// Beyond the CA's statuses, an enrollment ends failed when the CA did not
// decide before the profile's maximum wait, or when a step gave up, and
// discarded when its certificate was not delivered: none was issued, or the
// one issued is revoked.
const (
	StatusFailed    vocab.RequestStatus = "failed"
	StatusDiscarded vocab.RequestStatus = "discarded"
)

// enrollGeneratedKey enrolls a key that the EST handler generated and holds
// only until it answers (serverkeygen), so its certificate is worth booking
// only if the handler delivers it. When it cannot (the CA had not answered
// within the handler's wait, the client left, the write failed), the handler
// signals SignalDiscard, starting a run with Discard set if this one has
// ended, and the enrollment is settled by discard instead of booked. A
// cancellation is taken as a discard too.
//
// The CA is asked in an activity, not a local one: its answer then comes in a
// workflow task of its own, which sees every signal sent before it. A local
// activity's answer arrives inside the task that started it, blind to a
// discard sent meanwhile, and booking a certificate issued after the handler
// gave up would revoke, as superseded, the one the device's retry got.
func enrollGeneratedKey(ctx workflow.Context, e activities.Enrollment, sub *activities.Submission) (activities.Submission, error) {
	if e.Discard {
		return discard(ctx, e, sub)
	}
	signal := workflow.GetSignalChannel(ctx, SignalDiscard)
	work, stop := workflow.WithCancel(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) {
		signal.Receive(ctx, nil)
		stop() // interrupt the step under way
	})
	// Whether the discard signal was received, or is in this workflow task
	// but not yet received by the goroutine above.
	discarded := func() bool { return work.Err() != nil || signal.Len() > 0 }

	err := step(work, vocab.StepSubmit, caStep(0), acts.SubmitEnrollment, sub, e)
	if err == nil && sub.Status == vocab.RequestPending {
		err = awaitDecision(work, sub, acts.PollEnrollment, acts.CheckEnrollment, e, sub.RequestID)
	}
	_, deviceTaken := activities.DeviceTakenRefusal(err)
	switch {
	case discarded():
		return discard(ctx, e, sub)
	case deviceTaken && workflow.GetVersion(ctx, deviceTakenChange, workflow.DefaultVersion, 1) == 1:
		return *sub, err // the run fails with the refusal, which the handler answers 409
	case err != nil:
		sub.Status, sub.Reason = StatusFailed, errorText(err)
		return *sub, nil
	case sub.Status != vocab.RequestIssued:
		return *sub, nil
	}
	lctx := workflow.WithLocalActivityOptions(work, localOptions)
	err = workflow.ExecuteLocalActivity(lctx, acts.CompleteEnrollment, e, sub.CertificateID).Get(lctx, nil)
	if discarded() {
		return discard(ctx, e, sub)
	}
	return *sub, err
}

// discard settles an enrollment whose certificate will not reach the device:
// the CA request is withdrawn if the CA was not asked yet, a request the CA
// holds is polled until it is decided, and an issued certificate is revoked.
// It runs on after a cancellation, which it then reports.
func discard(ctx workflow.Context, e activities.Enrollment, sub *activities.Submission) (activities.Submission, error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if err := workflow.UpsertTypedSearchAttributes(dctx, CertStep.ValueSet(string(vocab.StepDiscard))); err != nil {
		return *sub, err
	}
	lctx := workflow.WithLocalActivityOptions(dctx, localOptions)
	if err := workflow.ExecuteLocalActivity(lctx, acts.SettleDiscardedEnrollment, e).Get(lctx, sub); err != nil {
		return *sub, err
	}
	if sub.Status == vocab.RequestPending {
		if err := awaitDecision(dctx, sub, acts.PollEnrollment, acts.CheckEnrollment, e, sub.RequestID); err != nil {
			sub.Status, sub.Reason = StatusFailed, "discarded, and the CA did not decide in time: "+errorText(err)
			return *sub, nil
		}
	}
	if sub.Status == vocab.RequestIssued {
		if err := workflow.ExecuteLocalActivity(lctx, acts.RevokeDiscardedEnrollment, e, sub.CertificateID).Get(lctx, nil); err != nil {
			return *sub, err
		}
	}
	sub.Status, sub.Reason = StatusDiscarded, activities.DiscardedReason
	if ctx.Err() != nil {
		return *sub, temporal.NewCanceledError(sub.Reason)
	}
	return *sub, nil
}
