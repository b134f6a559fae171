package activities

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/metrics"
	"github.com/certfleet/certfleet/vocab"
)

// JobInfo is what a job workflow learns when it starts.
type JobInfo struct {
	CertType string
	Total    int
	// Skipped counts the items finished as skipped when the job was created.
	Skipped int
}

// StartJob marks the job running and counts its items, and those skipped.
func (a *Activities) StartJob(ctx context.Context, jobID int64) (JobInfo, error) {
	q := a.queries()
	job, err := q.GetJob(ctx, jobID)
	if err != nil {
		return JobInfo{}, fmt.Errorf("read job %d: %w", jobID, err)
	}
	if err := q.MarkJobRunning(ctx, jobID); err != nil {
		return JobInfo{}, fmt.Errorf("mark job %d running: %w", jobID, err)
	}
	counts, err := q.CountJobItems(ctx, jobID)
	if err != nil {
		return JobInfo{}, fmt.Errorf("count items of job %d: %w", jobID, err)
	}
	return JobInfo{CertType: job.CertType, Total: int(counts.Total), Skipped: int(counts.Skipped)}, nil
}

// ItemRef is a pending item to start, with names for the Temporal UI.
type ItemRef struct {
	DeviceID    string
	ProfileID   int64
	DeviceName  string
	ProfileName string
	// CAInProcess says the profile's CA answers in process (see
	// ca.Capabilities), so that the item's CA steps may run locally.
	CAInProcess bool `json:",omitempty"`
}

// LoadItems reads up to n pending items after the device ID cursor.
func (a *Activities) LoadItems(ctx context.Context, jobID int64, after string, n int) ([]ItemRef, error) {
	rows, err := a.queries().JobItemsPage(ctx, store.JobItemsPageParams{JobID: jobID, AfterDeviceID: after, PageSize: int32(n)})
	if err != nil {
		return nil, fmt.Errorf("read items of job %d after %q: %w", jobID, after, err)
	}
	inProcess := map[int64]bool{}
	refs := make([]ItemRef, len(rows))
	for i, r := range rows {
		local, known := inProcess[r.ProfileID]
		if !known {
			if driver, _, err := a.caFor(ctx, r.ProfileID); err == nil {
				local = driver.Capabilities().InProcess
			} // else its steps find the error themselves, in their own step
			inProcess[r.ProfileID] = local
		}
		refs[i] = ItemRef{DeviceID: r.DeviceID, ProfileID: r.ProfileID, DeviceName: r.DeviceName, ProfileName: r.ProfileName, CAInProcess: local}
	}
	return refs, nil
}

// HaltJob marks the job halting and every item not yet started halted.
func (a *Activities) HaltJob(ctx context.Context, jobID int64) (int, error) {
	q := a.queries()
	if err := q.MarkJobHalting(ctx, jobID); err != nil {
		return 0, fmt.Errorf("mark job %d halting: %w", jobID, err)
	}
	n, err := q.HaltPendingItems(ctx, jobID)
	if err != nil {
		return 0, fmt.Errorf("halt pending items of job %d: %w", jobID, err)
	}
	return int(n), nil
}

// FinishJob records the end of a job: status "halted", or "completed",
// which stores the status its items earned (succeeded,
// completed_with_failures or failed; see vocab.JobOutcome).
func (a *Activities) FinishJob(ctx context.Context, jobID int64, status string) error {
	if err := a.queries().FinishJob(ctx, store.FinishJobParams{ID: jobID, Status: status}); err != nil {
		return fmt.Errorf("finish job %d: %w", jobID, err)
	}
	return nil
}

// FinishItem records an item's outcome when a step failed or the job halted.
// A device failure after the CA issued the certificate (the install step
// failed) first retires that certificate: see retireNotInstalled.
func (a *Activities) FinishItem(ctx context.Context, it Item, outcome vocab.Outcome, lastError string) error {
	if outcome == vocab.DeviceFailure {
		if err := a.retireNotInstalled(ctx, it); err != nil {
			return err
		}
	}
	return a.finish(ctx, it, outcome, lastError)
}

// SettleItem gives the job the outcome of an item whose device workflow
// ended without one (terminated, timed out, or failed outside its steps):
// the outcome the item recorded, if it did; revoke_warning when the device
// holds the certificate issued for it (the run ended after the install);
// else a device failure, which retires a certificate issued for it but not
// installed. When the device cannot tell, the certificate is left alone:
// revoking one a device may hold would break the device.
func (a *Activities) SettleItem(ctx context.Context, it Item, reason string) (vocab.Outcome, error) {
	item, err := a.queries().GetJobItem(ctx, store.GetJobItemParams{JobID: it.JobID, DeviceID: it.DeviceID})
	if err != nil {
		return "", fmt.Errorf("read item %s of job %d: %w", it.DeviceID, it.JobID, err)
	}
	if item.State != "pending" && item.State != "in_progress" {
		return vocab.Outcome(item.State), nil
	}
	it.ProfileID = item.ProfileID
	if !item.IssuedCertificateID.Valid {
		return vocab.DeviceFailure, a.FinishItem(ctx, it, vocab.DeviceFailure, reason)
	}
	holds, err := a.holdsIssued(ctx, it, item.IssuedCertificateID.Int64)
	switch {
	case err != nil:
		return vocab.DeviceFailure, a.finish(ctx, it, vocab.DeviceFailure, fmt.Sprintf("%s; whether the device holds certificate %d is unknown (%v), so it was left alone", reason, item.IssuedCertificateID.Int64, err))
	case holds:
		return vocab.RevokeWarning, a.finish(ctx, it, vocab.RevokeWarning, reason+"; the device holds its new certificate, and the prior one was not revoked")
	}
	return vocab.DeviceFailure, a.FinishItem(ctx, it, vocab.DeviceFailure, reason)
}

// holdsIssued reports whether the item's device holds certificate id.
func (a *Activities) holdsIssued(ctx context.Context, it Item, id int64) (bool, error) {
	stored, err := a.queries().GetCertificate(ctx, id)
	if err != nil {
		return false, fmt.Errorf("read certificate %d: %w", id, err)
	}
	leaf, err := x509.ParseCertificate(stored.Der)
	if err != nil {
		return false, fmt.Errorf("parse certificate %d: %w", id, err)
	}
	dev, driver, err := a.device(ctx, it.DeviceID)
	if err != nil {
		return false, err
	}
	return holdsCertificate(ctx, driver, dev, it, leaf)
}

// AwaitedItem is a job's device whose outcome a job run awaits from
// Postgres, with the ID of its device workflow.
type AwaitedItem struct {
	DeviceID, WorkflowID string
}

// ItemOutcome is the outcome a job item recorded; empty when its device
// workflow ended without recording one (see SettleItem).
type ItemOutcome struct {
	DeviceID string
	Outcome  vocab.Outcome
}

// How long one AwaitItems call waits at most, and how often it looks.
const (
	awaitItemsFor   = 5 * time.Minute
	awaitItemsEvery = 2 * time.Second
)

// AwaitItems returns the outcomes of those of a job's awaited devices that
// have recorded one, as soon as any has. After awaitItemsFor without one it
// returns, with an empty outcome, those whose device workflows have ended
// (terminated, timed out), for the job to settle. A job run awaits so the
// devices whose workflows report to none of its own: those an earlier run
// left in flight when it continued as new, and those already running when
// it started them. It heartbeats while it waits.
func (a *Activities) AwaitItems(ctx context.Context, jobID int64, awaited []AwaitedItem) ([]ItemOutcome, error) {
	ids := make([]string, len(awaited))
	for i, w := range awaited {
		ids[i] = w.DeviceID
	}
	deadline := time.Now().Add(awaitItemsFor)
	tick := time.NewTicker(awaitItemsEvery)
	defer tick.Stop()
	for {
		rows, err := a.queries().FinishedJobItems(ctx, store.FinishedJobItemsParams{JobID: jobID, DeviceIds: ids})
		if err != nil {
			return nil, fmt.Errorf("read finished items of job %d: %w", jobID, err)
		}
		if len(rows) > 0 {
			outcomes := make([]ItemOutcome, len(rows))
			for i, r := range rows {
				outcomes[i] = ItemOutcome{DeviceID: r.DeviceID, Outcome: vocab.Outcome(r.State)}
			}
			return outcomes, nil
		}
		if time.Now().After(deadline) {
			return a.ended(ctx, awaited)
		}
		activity.RecordHeartbeat(ctx)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// ended are those of awaited whose device workflows are no longer running.
func (a *Activities) ended(ctx context.Context, awaited []AwaitedItem) ([]ItemOutcome, error) {
	if a.Runs == nil {
		return nil, nil
	}
	var ended []ItemOutcome
	for _, w := range awaited {
		run, err := a.Runs.DescribeWorkflowExecution(ctx, w.WorkflowID, "")
		var notFound *serviceerror.NotFound
		switch {
		case errors.As(err, &notFound): // gone past its retention
		case err != nil:
			return nil, fmt.Errorf("describe %s: %w", w.WorkflowID, err)
		case run.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
			continue
		}
		ended = append(ended, ItemOutcome{DeviceID: w.DeviceID})
	}
	return ended, nil
}

// retireNotInstalled makes sure that a certificate issued for an item whose
// install failed is not reported as the device's certificate: it is revoked
// with reason cessationOfOperation (or marked superseded when the profile's CA
// cannot revoke it), so the device counts as missing a certificate and
// renewal selects it again. It is idempotent: a certificate no longer active
// is left alone, and revoking twice changes nothing. A permanent refusal of
// the CA still takes the certificate out of the inventory (superseded), so
// that the item always gets its outcome.
func (a *Activities) retireNotInstalled(ctx context.Context, it Item) error {
	q := a.queries()
	item, err := q.GetJobItem(ctx, store.GetJobItemParams{JobID: it.JobID, DeviceID: it.DeviceID})
	if err != nil {
		return fmt.Errorf("read item %s of job %d: %w", it.DeviceID, it.JobID, err)
	}
	if !item.IssuedCertificateID.Valid {
		return nil
	}
	id := item.IssuedCertificateID.Int64
	cert, err := q.GetCertificate(ctx, id)
	if err != nil {
		return fmt.Errorf("read certificate %d: %w", id, err)
	}
	if cert.Status != "active" {
		return nil
	}
	it.ProfileID = item.ProfileID
	_, err = a.revokeAs(ctx, it, id, ca.ReasonCessationOfOperation)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NonRetryable() {
		return q.MarkCertificateSuperseded(ctx, id)
	}
	if err != nil {
		return fmt.Errorf("revoke certificate %d, issued to %s but not installed: %w", id, it.DeviceID, err)
	}
	return nil
}

func (a *Activities) finish(ctx context.Context, it Item, outcome vocab.Outcome, lastError string) error {
	result := "done"
	switch outcome {
	case vocab.Succeeded, vocab.RevokeNA:
	case vocab.Skipped:
		result = "skipped"
	default:
		result = "failed"
	}
	step, err := a.queries().FinishItem(ctx, store.FinishItemParams{
		JobID: it.JobID, DeviceID: it.DeviceID, State: string(outcome), LastError: lastError, StepResult: result,
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows): // recorded before, by an earlier attempt or a halt
		return nil
	case err != nil:
		return fmt.Errorf("record outcome %s of %s: %w", outcome, it.DeviceID, err)
	}
	metrics.JobItemFinished(outcome, step)
	if outcome.Failing() && activity.IsActivity(ctx) {
		// One line per failed item, when its outcome is recorded; the
		// logger adds the workflow and run IDs.
		activity.GetLogger(ctx).Warn("job item failed", "JobID", it.JobID, "DeviceID", it.DeviceID, "Step", step, "Outcome", string(outcome), "Error", lastError)
	}
	return nil
}
