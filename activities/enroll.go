package activities

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"go.temporal.io/sdk/temporal"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/pki/kek"
	"github.com/certfleet/certfleet/vocab"
)

// Enrollment is one EST or SCEP enrollment: a CSR a device sent under a label's profile.
type Enrollment struct {
	// Key is the enrollment's business key and workflow ID,
	// est/<deviceID>/<hash of the CSR>: a retried request is the same enrollment.
	Key       string
	DeviceID  string
	ProfileID int64
	CertType  string
	// CSR is public (the key stays on the device, or in the HTTP handler for
	// serverkeygen), so it may enter workflow history; one carrying a
	// challenge password enters it sealed (CSRSealed, see pki.SealCSR).
	CSR       []byte
	CSRSealed bool
	// IdentityField is the label's field that must name the device in the CSR.
	IdentityField string
	// ServerKeyGen marks the enrollment of a key that the EST handler
	// generated and holds only until it answers: a certificate for it is
	// booked only if the handler can deliver it, and revoked otherwise (see
	// workflows.Enrollment).
	ServerKeyGen bool
	// Discard asks a run to settle an enrollment whose certificate will not
	// reach the device, after the run that enrolled it has ended.
	Discard bool
	// Register, the device created on first contact, is written in the
	// transaction that records the CA request (ca.Request.WithClaim), so
	// that an enrollment's inventory writes commit together; SCEP, the
	// request's SCEP transaction, with it, as it needs the device. Runs
	// started before they existed wrote them before the workflow.
	Register *Registration    `json:",omitempty"`
	SCEP     *SCEPTransaction `json:",omitempty"`
}

// Registration creates an enrollment's device on first contact: a factory
// certificate under a trust anchor that registers devices.
type Registration struct {
	DeviceType        string
	FactoryCertSHA256 []byte
	FactoryAnchorID   int64
}

// SCEPTransaction is a SCEP request's transaction, by which a CertPoll
// finds its enrollment.
type SCEPTransaction struct {
	SignerSHA256  []byte
	TransactionID string
	Label         string
}

// writeWithClaim writes what e's CA request stands on: the device, when
// this enrollment registers it, and the SCEP transaction. A repeat writes
// nothing new.
func (e Enrollment) writeWithClaim(ctx context.Context, tx pgx.Tx) error {
	q := store.New(tx)
	if e.Register != nil {
		if err := e.register(ctx, q); err != nil {
			return err
		}
	}
	if e.SCEP == nil {
		return nil
	}
	return e.SaveSCEPTransaction(ctx, q, *e.SCEP)
}

// SaveSCEPTransaction records t as a transaction of enrollment e; a repeat
// changes nothing.
func (e Enrollment) SaveSCEPTransaction(ctx context.Context, q *store.Queries, t SCEPTransaction) error {
	err := q.SaveSCEPTransaction(ctx, store.SaveSCEPTransactionParams{
		SignerSha256: t.SignerSHA256, TransactionID: t.TransactionID, Enrollment: e.Key, Label: t.Label,
		DeviceID: e.DeviceID, ProfileID: e.ProfileID, CertType: e.CertType, IdentityField: e.IdentityField, CsrDer: e.CSR, CsrSealed: e.CSRSealed,
	})
	if err != nil {
		return fmt.Errorf("record SCEP transaction %s: %w", t.TransactionID, err)
	}
	return nil
}

// register creates e's device with an audit row. Two first contacts with
// one certificate create it once; a device of that ID registered to another
// credential since the request was admitted refuses it (ErrDeviceTaken).
func (e Enrollment) register(ctx context.Context, q *store.Queries) error {
	r := e.Register
	_, err := q.RegisterFactoryDevice(ctx, store.RegisterFactoryDeviceParams{
		ID: e.DeviceID, Name: e.DeviceID, DeviceType: r.DeviceType, FactoryCertSha256: r.FactoryCertSHA256, FactoryAnchorID: r.FactoryAnchorID,
	})
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("register device %s: %w", e.DeviceID, err)
	}
	d, err := q.GetDeviceByFactoryCert(ctx, r.FactoryCertSHA256)
	switch {
	case err == nil && d.ID == e.DeviceID:
		return nil
	case err != nil && !errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("read the device of factory certificate: %w", err)
	}
	return errkind.Conflict("a device %s exists already, %w", e.DeviceID, errDeviceTaken)
}

// errDeviceTaken marks register's refusal, which SubmitEnrollment reports
// as ErrDeviceTaken.
var errDeviceTaken = errors.New("registered to another credential")

// SubmitEnrollment submits the CSR to the profile's CA under the enrollment's
// key; a retried or repeated enrollment gets the first request's outcome.
func (a *Activities) SubmitEnrollment(ctx context.Context, e Enrollment) (Submission, error) {
	csr, err := pki.OpenCSR(a.kek(), e.CSR, e.CSRSealed, e.Key)
	if err != nil {
		return Submission{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrCSRRefused, nil)
	}
	driver, row, err := a.caFor(ctx, e.ProfileID)
	if err != nil {
		return Submission{}, err
	}
	req := ca.Request{IdempotencyKey: e.Key, DeviceID: e.DeviceID, IdentityField: e.IdentityField}
	var taken *errkind.Error // register's refusal, lost in the driver's error
	if e.Register != nil || e.SCEP != nil {
		req.WithClaim = func(ctx context.Context, tx pgx.Tx) error {
			err := e.writeWithClaim(ctx, tx)
			if errors.Is(err, errDeviceTaken) {
				taken, _ = errkind.As(err)
			}
			return err
		}
	}
	var superseded []int64
	if e.settlesAtOnce() {
		req.WithIssue = func(ctx context.Context, tx pgx.Tx, certificateID int64) (err error) {
			superseded, err = store.New(tx).CompleteEnrollment(ctx, e.booking(certificateID, cmp.Or(e.CertType, row.CertType)))
			return err
		}
	}
	sub, err := submit(ctx, driver, row, req, csr)
	switch {
	case err != nil && taken != nil:
		return sub, temporal.NewNonRetryableApplicationError(taken.Message(), ErrDeviceTaken, nil)
	case err != nil:
		return sub, err
	case sub.Booked:
		if err := a.revokeSuperseded(ctx, e, sub.CertificateID, superseded); err != nil {
			return Submission{}, err
		}
		a.Outcomes.settle(e.Key, sub) // the run ends with it
	case sub.Status == vocab.RequestRejected && e.settlesAtOnce():
		a.Outcomes.settle(e.Key, sub) // the run ends with it
	}
	// Whoever hears the outcome from Temporal rather than from Outcomes
	// reads the certificate from the inventory (see enroll.Service.Issued),
	// so it stays out of the run's history, where it would be kept twice.
	sub.Certificate = nil
	return sub, nil
}

// booking books certificateID, of type certType, as the enrollment's.
func (e Enrollment) booking(certificateID int64, certType string) store.CompleteEnrollmentParams {
	return store.CompleteEnrollmentParams{
		DeviceID: pgtype.Text{String: e.DeviceID, Valid: true}, CertType: certType, ProfileID: e.ProfileID, IssuedID: certificateID,
	}
}

// revokeSuperseded revokes the certificates certificateID supersedes
// (or marks them superseded when the CA cannot revoke them).
func (a *Activities) revokeSuperseded(ctx context.Context, e Enrollment, certificateID int64, superseded []int64) error {
	for _, id := range superseded {
		if _, err := a.revoke(ctx, Item{DeviceID: e.DeviceID, ProfileID: e.ProfileID}, id); err != nil {
			return fmt.Errorf("revoke certificate %d superseded by %d: %w", id, certificateID, err)
		}
	}
	return nil
}

// settlesAtOnce: the enrollment's outcome is certain once it is booked or
// rejected. An enrollment of a generated key may still be discarded after
// that (see workflows.Enrollment), so it is heard from Temporal only.
func (e Enrollment) settlesAtOnce() bool { return !e.ServerKeyGen && !e.Discard }

// kek is the key that opens sealed CSRs, nil where credentials are not kept.
func (a *Activities) kek() *kek.KEK {
	if a.Credentials == nil {
		return nil
	}
	return a.Credentials.KEK
}

// PollEnrollment asks about an enrollment the CA left pending; see PollCA.
func (a *Activities) PollEnrollment(ctx context.Context, e Enrollment, requestID string) (Submission, error) {
	sub, err := a.poll(ctx, e.ProfileID, e.DeviceID, requestID)
	sub.Certificate = nil // see SubmitEnrollment
	return sub, err
}

// CheckEnrollment asks the CA once where an enrollment's pending request
// stands (see CheckCA).
func (a *Activities) CheckEnrollment(ctx context.Context, e Enrollment, requestID string) (Submission, error) {
	sub, err := a.check(ctx, e.ProfileID, e.DeviceID, requestID)
	sub.Certificate = nil // see SubmitEnrollment
	return sub, err
}

// CompleteEnrollment books an issued certificate: the device becomes
// OPERATIONAL and assigned to the profile, and the certificates the new one
// supersedes are revoked (or marked superseded when the CA cannot revoke
// them). Every part is idempotent, so a retry or a repeated enrollment is harmless.
func (a *Activities) CompleteEnrollment(ctx context.Context, e Enrollment, certificateID int64) error {
	if e.CertType == "" { // an enrollment started before its input carried the type
		profile, err := a.queries().GetProfile(ctx, e.ProfileID)
		if err != nil {
			return fmt.Errorf("read profile %d: %w", e.ProfileID, err)
		}
		e.CertType = profile.CertType
	}
	superseded, err := a.queries().CompleteEnrollment(ctx, e.booking(certificateID, e.CertType))
	if err != nil {
		return fmt.Errorf("book certificate %d of %s: %w", certificateID, e.DeviceID, err)
	}
	if err := a.revokeSuperseded(ctx, e, certificateID, superseded); err != nil {
		return err
	}
	if e.settlesAtOnce() {
		a.Outcomes.settle(e.Key, Submission{Status: vocab.RequestIssued, CertificateID: certificateID}) // the run ends with it
	}
	return nil
}
