// Package ca is the contract between certfleet and certificate authorities,
// modelled on how real CAs behave: a submission is issued at once or left
// pending (approval, slow CAs), a pending request is polled until it is issued
// or rejected, and every error says whether a retry can help.
//
// Submitting the same idempotency key twice never issues two certificates:
// job retries and worker crashes do exactly that, so drivers record each
// request in Postgres under its key (see Ledger) before they act on it.
package ca

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certfleet/certfleet/drivers"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/vocab"
)

// Driver is one certificate authority.
type Driver interface {
	// Submit asks the CA for a certificate. The result is Issued or Pending, or
	// Rejected when an earlier submission under the same key was rejected.
	Submit(ctx context.Context, req Request) (Result, error)
	// Poll asks about a pending request by the ID Submit returned.
	Poll(ctx context.Context, requestID string) (Result, error)
	// Revoke revokes a certificate this CA issued. Revoking twice is not an error.
	Revoke(ctx context.Context, cert *x509.Certificate, reason RevocationReason) error
	// CACertificates is the chain from the issuing CA up to the root, for EST
	// /cacerts and for devices' trust stores.
	CACertificates(ctx context.Context) ([]*x509.Certificate, error)
	Capabilities() Capabilities
}

// Request is one certificate request.
type Request struct {
	CSR     *x509.CertificateRequest
	Profile pki.Profile
	// IdempotencyKey is a business key such as "<jobID>/<deviceID>".
	IdempotencyKey string
	// DeviceID is recorded with the request and the certificate; it may be
	// empty. When set, the CSR must name exactly this device in IdentityField.
	DeviceID string
	// IdentityField is the CSR field that names the device (pki.IdentityCN
	// when empty): the job's profile or the EST label says which.
	IdentityField string
	// WithIssue, when set, is the caller's bookkeeping of an issued
	// certificate, for a CA whose ledger is certfleet's own database
	// (Capabilities.InProcess) to run in the transaction that records the
	// certificate, so that both commit together; Result.Booked says it ran.
	// Other CAs leave it to the caller.
	WithIssue func(ctx context.Context, tx pgx.Tx, certificateID int64) error
	// WithClaim, when set, writes what the request's row stands on (the
	// device of an enrollment, registered on first contact) in the
	// transaction that records the request, before it: Ledger.Claim runs
	// it, for every driver. It runs again for a repeat of the request, so
	// it must be idempotent. An errkind refusal from it is permanent.
	WithClaim func(ctx context.Context, tx pgx.Tx) error
}

// ErrWrongIdentity is a CSR that names another device than the request's.
var ErrWrongIdentity = errors.New("the CSR does not name the device it is submitted for")

// CheckIdentity refuses a request whose CSR names another device: without it
// device cam-1 could obtain a certificate for CN=cam-2.
func (r Request) CheckIdentity() error {
	if r.DeviceID == "" {
		return nil
	}
	field := cmp.Or(r.IdentityField, pki.IdentityCN)
	if !pki.NamesDevice(r.CSR, field, r.DeviceID) {
		return Permanent(fmt.Errorf("%w: %s %v, device %s", ErrWrongIdentity, field, pki.CSRIdentity(r.CSR, field), r.DeviceID))
	}
	return nil
}

// Capabilities says what a CA can do beyond issuing.
type Capabilities struct {
	Revoke  bool // it can revoke what it issued
	Pending bool // its requests can stay pending
	// InProcess: it answers from this process and Postgres, with no
	// network call, so that a job's submit and revoke steps may run as
	// local activities instead of a round trip through Temporal's queues.
	InProcess bool
}

// Status is where a request stands; vocab names the statuses, shared with
// the ca_requests table, the workflows and the API.
type Status = vocab.RequestStatus

// The statuses under the names drivers use.
const (
	Issued   = vocab.RequestIssued
	Pending  = vocab.RequestPending
	Rejected = vocab.RequestRejected
)

// Result is the answer to Submit or Poll.
type Result struct {
	Status Status
	// RequestID identifies the request for Poll; always set.
	RequestID string
	// Certificate and Chain (issuing CA first) are set when Issued.
	Certificate *x509.Certificate
	Chain       []*x509.Certificate
	// CertificateID is the certificate's row in the inventory when Issued.
	CertificateID int64
	// RetryAfter is the CA's advice on when to poll a Pending request.
	RetryAfter time.Duration
	// Reason is the CA's reason when Rejected.
	Reason string
	// Booked: Request.WithIssue ran, and committed with the certificate.
	Booked bool
	// New: this call issued the certificate, rather than answering a
	// repeat of an earlier request under the same key, so it is active.
	New bool
}

// RevocationReason is an RFC 5280 CRLReason code.
type RevocationReason int

const (
	ReasonUnspecified          RevocationReason = 0
	ReasonKeyCompromise        RevocationReason = 1
	ReasonCACompromise         RevocationReason = 2
	ReasonAffiliationChanged   RevocationReason = 3
	ReasonSuperseded           RevocationReason = 4
	ReasonCessationOfOperation RevocationReason = 5
	ReasonCertificateHold      RevocationReason = 6
	ReasonRemoveFromCRL        RevocationReason = 8
	ReasonPrivilegeWithdrawn   RevocationReason = 9
	ReasonAACompromise         RevocationReason = 10
)

// Valid reports whether r is a reason code RFC 5280 defines (7 is unused).
func (r RevocationReason) Valid() bool { return r >= 0 && r <= 10 && r != 7 }

// Transient, Permanent and IsPermanent classify CA errors as all driver
// errors are (see package drivers).
var (
	Transient   = drivers.Transient
	Permanent   = drivers.Permanent
	IsPermanent = drivers.IsPermanent
)

// CertificateStatus is what a CA says of one of its certificates to a
// relying party (over OCSP).
type CertificateStatus struct {
	State     CertificateState
	RevokedAt time.Time        // when Revoked
	Reason    RevocationReason // when Revoked
}

// CertificateState is an OCSP certificate status (RFC 6960 §2.2).
type CertificateState int

const (
	// CertificateUnknown: the CA has no record of the serial number.
	CertificateUnknown CertificateState = iota
	// CertificateGood: issued and not revoked (expired or not).
	CertificateGood
	// CertificateRevoked: revoked, with a time and a reason.
	CertificateRevoked
)

// NextCA is a CA driver that names the CA taking over from it during a
// rollover (SCEP GetNextCACert).
type NextCA interface {
	// NextCACertificates is the next issuing CA and the chain above it, or
	// none when no rollover is under way.
	NextCACertificates(ctx context.Context) ([]*x509.Certificate, error)
}

// Generations is a CA driver that rolls over: what its earlier issuing CAs
// issued is still its own, to install, renew and revoke.
type Generations interface {
	// GenerationChain is the chain of the issuing CA, earlier or current,
	// that issued cert; nil when none did.
	GenerationChain(cert *x509.Certificate) []*x509.Certificate
}

// ChainFor is the chain of driver's issuing CA that issued cert, earlier
// generations included; nil when driver did not issue it.
func ChainFor(ctx context.Context, driver Driver, cert *x509.Certificate) ([]*x509.Certificate, error) {
	chain, err := driver.CACertificates(ctx)
	if err != nil {
		return nil, err
	}
	if len(chain) > 0 && pki.IssuedBy(cert, chain[0]) {
		return chain, nil
	}
	if g, ok := driver.(Generations); ok {
		return g.GenerationChain(cert), nil
	}
	return nil, nil
}

// Publisher is what publishes a CA's certificates: any Driver, or the
// default of the built-in CAs whichever generation it is in.
type Publisher interface {
	CACertificates(ctx context.Context) ([]*x509.Certificate, error)
}

// Published is what a CA publishes to devices (EST cacerts, SCEP
// GetCACert): its chain and, while it rolls over, the next issuing CA, so
// that devices trust it before anything they hold comes from it.
func Published(ctx context.Context, driver Publisher) ([]*x509.Certificate, error) {
	chain, err := driver.CACertificates(ctx)
	if err != nil {
		return nil, err
	}
	if next, ok := driver.(NextCA); ok {
		certs, err := next.NextCACertificates(ctx)
		if err != nil {
			return nil, err
		}
		if len(certs) > 0 && len(chain) > 0 {
			return append([]*x509.Certificate{chain[0], certs[0]}, chain[1:]...), nil
		}
	}
	return chain, nil
}
