package local

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/profiles"
)

// ErrNotPending is an approval or rejection of a request already decided;
// it comes wrapped in an errkind.Conflict.
var ErrNotPending = errors.New("CA request is not pending")

// Submit issues a certificate for req, or records it as pending when the
// profile is in approval mode. A CSR the profile refuses is recorded as
// rejected, so that a retry under the same key gets the same answer.
func (c *CA) Submit(ctx context.Context, req ca.Request) (ca.Result, error) {
	var result ca.Result
	err := ca.InTx(ctx, c.pool, func(tx pgx.Tx) error {
		row, fresh, err := c.ledger.Claim(ctx, tx, req)
		if err != nil {
			return err
		}
		if !fresh {
			if result, err = c.resultOf(ctx, store.New(tx), row); err != nil {
				return err
			}
			return book(ctx, tx, req, &result)
		}
		policyErr := pki.CheckCSR(req.CSR, req.Profile)
		if policyErr == nil {
			policyErr = c.checkReserved(req.CSR.Subject.CommonName, req.CSR.DNSNames, req.CSR.IPAddresses)
		}
		switch {
		case policyErr != nil:
			result, err = c.reject(ctx, tx, row, policyErr.Error(), "policy")
		case req.Profile.ApprovalMode:
			result, err = c.resultOf(ctx, store.New(tx), row)
		default:
			result, err = c.issue(ctx, tx, row, req.CSR, req.Profile, "auto")
		}
		if err != nil {
			return err
		}
		return book(ctx, tx, req, &result)
	})
	return result, err
}

// book runs the caller's bookkeeping of an issued certificate in the
// transaction that records it (see ca.Request.WithIssue).
func book(ctx context.Context, tx pgx.Tx, req ca.Request, result *ca.Result) error {
	if req.WithIssue == nil || result.Status != ca.Issued {
		return nil
	}
	if err := req.WithIssue(ctx, tx, result.CertificateID); err != nil {
		return ca.Transient(fmt.Errorf("book certificate %d with its issue: %w", result.CertificateID, err))
	}
	result.Booked = true
	return nil
}

// Poll reports on a request Submit left pending.
func (c *CA) Poll(ctx context.Context, requestID string) (ca.Result, error) {
	q := store.New(c.pool)
	row, err := c.ledger.Find(ctx, q, requestID, false)
	if err != nil {
		return ca.Result{}, err
	}
	return c.resultOf(ctx, q, row)
}

// Approve issues the certificate of a pending request on behalf of approver.
// audit, unless nil, writes the decision's audit row in its transaction.
func (c *CA) Approve(ctx context.Context, requestID, approver string, audit func(*store.Queries) error) (ca.Result, error) {
	var result ca.Result
	err := c.decide(ctx, requestID, audit, func(tx pgx.Tx, row store.CaRequest) error {
		profileRow, err := store.New(tx).GetProfile(ctx, row.ProfileID)
		if err != nil {
			return fmt.Errorf("read profile %d: %w", row.ProfileID, err)
		}
		profile, err := profiles.FromRow(profileRow)
		if err != nil {
			return err
		}
		der, err := c.ledger.CSR(row)
		if err != nil {
			return err
		}
		csr, err := pki.ParseCSR(der)
		if err != nil {
			return err
		}
		result, err = c.issue(ctx, tx, row, csr, profile, approver)
		return err
	})
	return result, err
}

// Reject closes a pending request with the approver's reason. audit, unless
// nil, writes the decision's audit row in its transaction.
func (c *CA) Reject(ctx context.Context, requestID, reason, approver string, audit func(*store.Queries) error) error {
	if reason == "" {
		return errkind.Invalid("reason", "a rejection needs one")
	}
	return c.decide(ctx, requestID, audit, func(tx pgx.Tx, row store.CaRequest) error {
		_, err := c.reject(ctx, tx, row, reason, approver)
		return err
	})
}

// decide locks a pending request and runs fn on it, then audit, in one
// transaction: a decision is recorded if and only if it was made.
func (c *CA) decide(ctx context.Context, requestID string, audit func(*store.Queries) error, fn func(pgx.Tx, store.CaRequest) error) error {
	return ca.InTx(ctx, c.pool, func(tx pgx.Tx) error {
		row, err := c.ledger.Find(ctx, store.New(tx), requestID, true)
		if err != nil {
			return err
		}
		if row.Status != string(ca.Pending) {
			return errkind.Conflict("%w: request %d is %s", ErrNotPending, row.ID, row.Status)
		}
		if err := fn(tx, row); err != nil || audit == nil {
			return err
		}
		return audit(store.New(tx))
	})
}

func (c *CA) issue(ctx context.Context, tx pgx.Tx, row store.CaRequest, csr *x509.CertificateRequest, profile pki.Profile, decidedBy string) (ca.Result, error) {
	cert, err := c.sign(csr, profile, time.Now())
	if err != nil {
		return ca.Result{}, err
	}
	certID, err := c.ledger.RecordIssued(ctx, tx, row, profile, cert, decidedBy)
	if err != nil {
		return ca.Result{}, err
	}
	return ca.Result{
		Status: ca.Issued, RequestID: strconv.FormatInt(row.ID, 10),
		Certificate: cert, CertificateID: certID, Chain: c.chain, New: true,
	}, nil
}

func (c *CA) reject(ctx context.Context, tx pgx.Tx, row store.CaRequest, reason, decidedBy string) (ca.Result, error) {
	q := store.New(tx)
	if err := q.MarkCARequestRejected(ctx, store.MarkCARequestRejectedParams{ID: row.ID, RejectReason: reason, DecidedBy: decidedBy}); err != nil {
		return ca.Result{}, ca.Transient(fmt.Errorf("reject request %d: %w", row.ID, err))
	}
	row.Status, row.RejectReason = string(ca.Rejected), reason
	return c.resultOf(ctx, q, row)
}

func (c *CA) resultOf(ctx context.Context, q *store.Queries, row store.CaRequest) (ca.Result, error) {
	result, err := c.ledger.Result(ctx, q, row, c.opts.PendingRetry)
	if result.Status == ca.Issued {
		result.Chain = c.chain
	}
	return result, err
}

// ErrReservedName is a device certificate that would name certfleet's own server.
var ErrReservedName = errors.New("names certfleet's own server, which no device certificate may")

// checkReserved refuses a certificate naming one of the reserved names.
func (c *CA) checkReserved(cn string, dnsNames []string, ips []net.IP) error {
	names := append([]string{cn}, dnsNames...)
	for _, ip := range ips {
		names = append(names, ip.String())
	}
	for _, name := range names {
		for _, reserved := range c.opts.ReservedNames {
			if name != "" && strings.EqualFold(strings.TrimSuffix(name, "."), reserved) {
				return fmt.Errorf("%q %w", name, ErrReservedName)
			}
		}
	}
	return nil
}

// sign makes the certificate for csr under profile.
func (c *CA) sign(csr *x509.CertificateRequest, profile pki.Profile, now time.Time) (*x509.Certificate, error) {
	tmpl, err := pki.LeafTemplate(csr, profile, now)
	if err == nil { // a profile's fixed rules can add names too
		err = c.checkReserved(tmpl.Subject.CommonName, tmpl.DNSNames, tmpl.IPAddresses)
	}
	if err != nil {
		return nil, ca.Permanent(err)
	}
	if tmpl.SerialNumber, err = pki.NewSerial(); err != nil {
		return nil, ca.Transient(err)
	}
	tmpl.NotAfter = c.capped(tmpl.NotAfter)
	if c.opts.PublicURL != "" {
		tmpl.CRLDistributionPoints = []string{c.opts.PublicURL + c.CRLPath()}
		tmpl.OCSPServer = []string{c.opts.PublicURL + OCSPPath}
		tmpl.IssuingCertificateURL = []string{c.opts.PublicURL + CAIssuersPath + c.CAIssuersName() + ".crt"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.issuing, csr.PublicKey, c.issuingKey)
	if err != nil {
		return nil, ca.Permanent(fmt.Errorf("sign certificate: %w", err))
	}
	return x509.ParseCertificate(der)
}
