package activities

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/metrics"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/profiles"
	"github.com/certfleet/certfleet/vocab"
)

// Submission is where a CA request stands after step 2 or 3.
type Submission struct {
	// Status is the CA's: issued, pending or rejected. An enrollment that
	// ends without the CA's decision says why instead (see workflows.Enrollment).
	Status        vocab.RequestStatus
	RequestID     string
	CertificateID int64
	// Certificate is the issued certificate (DER; public), carried to the
	// install step so that it is not read back from the inventory. An
	// enrollment's is told in process only (see Outcomes).
	Certificate []byte
	RetryAfter  time.Duration
	Reason      string
	// MaxWait is how long the profile lets a request stay pending.
	MaxWait time.Duration
	// Booked: an enrollment's certificate was booked (see
	// CompleteEnrollment) in the transaction that recorded it.
	Booked bool `json:",omitempty"`
	// IssuedNow: this very submission issued the certificate (see
	// ca.Result.New), so it is active. It is told in this process only (see
	// Outcomes) and never recorded in history: a result read back from
	// history may answer a repeated request long after.
	IssuedNow bool `json:"-"`
}

func submission(r ca.Result, maxWait time.Duration) Submission {
	s := Submission{Status: r.Status, RequestID: r.RequestID, CertificateID: r.CertificateID,
		RetryAfter: r.RetryAfter, Reason: r.Reason, MaxWait: maxWait, Booked: r.Booked, IssuedNow: r.New}
	if r.Certificate != nil {
		s.Certificate = r.Certificate.Raw
	}
	return s
}

// Issued is what the install step needs of an issued certificate.
func (s Submission) Issued() Issued {
	return Issued{CertificateID: s.CertificateID, DER: s.Certificate}
}

// SubmitCSR sends the CSR to the profile's CA under the item's idempotency
// key "<jobID>/<deviceID>": a retry finds the first request's outcome.
func (a *Activities) SubmitCSR(ctx context.Context, it Item, csrDER []byte) (Submission, error) {
	if err := a.startStep(ctx, it); err != nil {
		return Submission{}, err
	}
	driver, row, err := a.caForItem(ctx, it)
	if err != nil {
		return Submission{}, err
	}
	return submit(ctx, driver, row, ca.Request{IdempotencyKey: it.idempotencyKey(), DeviceID: it.DeviceID, IdentityField: pki.IdentityCN}, csrDER)
}

// submit sends csrDER to driver, profile row's CA, as req.
func submit(ctx context.Context, driver ca.Driver, row store.Profile, req ca.Request, csrDER []byte) (Submission, error) {
	profile, err := profiles.FromRow(row)
	if err != nil {
		return Submission{}, err
	}
	csr, err := pki.ParseCSR(csrDER)
	if err != nil {
		return Submission{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrCSRRefused, nil)
	}
	req.CSR, req.Profile = csr, profile
	start := time.Now()
	var result ca.Result
	err = traced(ctx, "ca.submit", caAttrs(row.CaDriver, req.DeviceID), func(ctx context.Context) (err error) {
		result, err = driver.Submit(ctx, req)
		return err
	})
	metrics.CASubmission(row.CaDriver, submissionResult(result, err), time.Since(start))
	if err != nil {
		return Submission{}, classify(fmt.Errorf("submit CSR of %s: %w", req.DeviceID, err), ErrCAPermanent)
	}
	return submission(result, row.MaxCaWait), nil
}

// submissionResult names a CA's answer for metrics.
func submissionResult(result ca.Result, err error) string {
	if err != nil {
		return "error"
	}
	return string(result.Status)
}

// PollCA asks about a pending request. While it is still pending the activity
// fails with a retryable CAPending error, so that Temporal's retry policy does
// the polling without adding to the workflow's history.
func (a *Activities) PollCA(ctx context.Context, it Item, requestID string) (Submission, error) {
	if err := a.startStep(ctx, it); err != nil {
		return Submission{}, err
	}
	return a.poll(ctx, it.ProfileID, it.DeviceID, requestID)
}

// poll is check for runs that poll by retrying: pending is an error.
func (a *Activities) poll(ctx context.Context, profileID int64, deviceID, requestID string) (Submission, error) {
	sub, err := a.check(ctx, profileID, deviceID, requestID)
	if err == nil && sub.Status == vocab.RequestPending {
		// Benign: the SDK logs the polls of runs from before the
		// ca-decision-signal version at DEBUG, not as errors.
		return Submission{}, temporal.NewApplicationErrorWithOptions(fmt.Sprintf("CA request %s of %s is still pending", requestID, deviceID), ErrCAPending,
			temporal.ApplicationErrorOptions{Category: temporal.ApplicationErrorCategoryBenign})
	}
	return sub, err
}

// CheckCA asks the CA once where a job item's pending request stands:
// still pending is an answer, not an error (the workflow waits for the
// decision's signal or its next check).
func (a *Activities) CheckCA(ctx context.Context, it Item, requestID string) (Submission, error) {
	if err := a.startStep(ctx, it); err != nil {
		return Submission{}, err
	}
	return a.check(ctx, it.ProfileID, it.DeviceID, requestID)
}

func (a *Activities) check(ctx context.Context, profileID int64, deviceID, requestID string) (Submission, error) {
	driver, row, err := a.caFor(ctx, profileID)
	if err != nil {
		return Submission{}, err
	}
	var result ca.Result
	err = traced(ctx, "ca.poll", caAttrs(row.CaDriver, deviceID), func(ctx context.Context) (err error) {
		result, err = driver.Poll(ctx, requestID)
		return err
	})
	if err != nil {
		return Submission{}, classify(fmt.Errorf("poll CA request %s of %s: %w", requestID, deviceID, err), ErrCAPermanent)
	}
	return submission(result, row.MaxCaWait), nil
}

// RevokePrior revokes the certificate the device held before (reason:
// superseded) and records the item's outcome: succeeded, or revoke n/a when
// there was nothing to revoke or the CA cannot. Failures are returned for
// retry; the workflow records a revoke warning when they run out.
func (a *Activities) RevokePrior(ctx context.Context, it Item, priorID int64) (vocab.Outcome, error) {
	if err := a.startStep(ctx, it); err != nil {
		return "", err
	}
	outcome, err := a.revoke(ctx, it, priorID)
	if err != nil {
		return "", err
	}
	if err := a.finish(ctx, it, outcome, ""); err != nil {
		return "", err
	}
	return outcome, nil
}

func (a *Activities) revoke(ctx context.Context, it Item, priorID int64) (vocab.Outcome, error) {
	return a.revokeAs(ctx, it, priorID, ca.ReasonSuperseded)
}

// revokeAs revokes certificate id of the item's device for reason, or marks
// it superseded in the inventory when the profile's CA cannot revoke it.
func (a *Activities) revokeAs(ctx context.Context, it Item, id int64, reason ca.RevocationReason) (vocab.Outcome, error) {
	if id == 0 {
		return vocab.RevokeNA, nil
	}
	driver, _, err := a.caForItem(ctx, it)
	if err != nil {
		return "", err
	}
	stored, err := a.queries().GetCertificate(ctx, id)
	if err != nil {
		return "", fmt.Errorf("read certificate %d: %w", id, err)
	}
	cert, err := x509.ParseCertificate(stored.Der)
	if err != nil {
		return "", temporal.NewNonRetryableApplicationError(err.Error(), ErrCAPermanent, nil)
	}
	if !driver.Capabilities().Revoke || !issuedBy(ctx, driver, cert) {
		return vocab.RevokeNA, a.queries().MarkCertificateSuperseded(ctx, id)
	}
	if err := traced(ctx, "ca.revoke", caAttrs("", it.DeviceID), func(ctx context.Context) error { return driver.Revoke(ctx, cert, reason) }); err != nil {
		return "", classify(fmt.Errorf("revoke certificate %d of %s: %w", id, it.DeviceID, err), ErrCAPermanent)
	}
	return vocab.Succeeded, nil
}

// issuedBy reports whether the CA, in this or an earlier generation, issued
// cert; the profile's CA cannot revoke what another CA issued.
func issuedBy(ctx context.Context, driver ca.Driver, cert *x509.Certificate) bool {
	chain, err := ca.ChainFor(ctx, driver, cert)
	return err == nil && len(chain) > 0
}

// caForItem is caFor for a job item's step. A step the workflow runs as a
// local activity, because the item's CA answered in process when the job
// loaded it, finds the CA its profile names now: if that one does not answer
// in process (the profile changed meanwhile), the step refuses with
// ErrCANotInProcess before any call, and the workflow runs it again as an
// activity rather than hold its workflow task open over a remote CA's calls.
func (a *Activities) caForItem(ctx context.Context, it Item) (ca.Driver, store.Profile, error) {
	driver, row, err := a.caFor(ctx, it.ProfileID)
	if err == nil && it.CAInProcess && !driver.Capabilities().InProcess && activity.IsActivity(ctx) && activity.GetInfo(ctx).IsLocalActivity {
		return nil, row, temporal.NewNonRetryableApplicationError(fmt.Sprintf("the CA of profile %d no longer answers in process", it.ProfileID), ErrCANotInProcess, nil)
	}
	return driver, row, err
}

func (a *Activities) caFor(ctx context.Context, profileID int64) (ca.Driver, store.Profile, error) {
	row, err := a.profileRow(ctx, profileID)
	if err != nil {
		return nil, store.Profile{}, err
	}
	driver, err := a.Drivers.CA(ctx, row)
	if err != nil {
		return nil, store.Profile{}, classify(err, ErrCAPermanent)
	}
	return driver, row, nil
}

// profileRow reads profile id, from a.Profiles while it is current.
func (a *Activities) profileRow(ctx context.Context, id int64) (store.Profile, error) {
	row, err := a.Profiles.Get(ctx, id, func(ctx context.Context) (store.Profile, error) {
		return a.queries().GetProfile(ctx, id)
	})
	if err != nil {
		return store.Profile{}, fmt.Errorf("read profile %d: %w", id, err)
	}
	return row, nil
}
