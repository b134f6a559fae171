package ca

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/pki/kek"
)

// Ledger records CA requests in the ca_requests table under their idempotency
// keys. Claim inserts the row in the caller's transaction; a concurrent Claim
// of the same key blocks on the unique index until that transaction ends and
// then finds the committed row. So a driver that claims, acts and records in one
// transaction acts at most once per key, however many workers race.
type Ledger struct {
	// Driver is the CA driver's name, stored with each request.
	Driver string
	// KEK seals the CSRs that carry a challenge password (see pki.SealCSR).
	KEK *kek.KEK
}

// ErrKeyReused is a key submitted again with a CSR for another key pair, as
// when a retried step asked the device for a new CSR: the first request's
// certificate would not fit the device's new key.
var ErrKeyReused = errors.New("idempotency key already used with a CSR for another key")

// Claim records req under its key. fresh is true when this call inserted the
// row; otherwise row is the earlier request under the same key.
// A CSR that names another device than req's is refused before anything is
// recorded.
func (l Ledger) Claim(ctx context.Context, tx pgx.Tx, req Request) (row store.CaRequest, fresh bool, err error) {
	if err := req.CheckIdentity(); err != nil {
		return row, false, err
	}
	stored, sealed, err := pki.SealCSR(l.KEK, req.CSR.Raw, req.IdempotencyKey)
	if err != nil {
		return row, false, Permanent(err)
	}
	if err := claimFirst(ctx, tx, req); err != nil {
		return row, false, err
	}
	q := store.New(tx)
	row, err = q.CreateCARequest(ctx, store.CreateCARequestParams{
		IdempotencyKey: req.IdempotencyKey,
		ProfileID:      req.Profile.ID,
		DeviceID:       pgtype.Text{String: req.DeviceID, Valid: req.DeviceID != ""},
		CaDriver:       l.Driver,
		CsrDer:         stored,
		CsrSealed:      sealed,
	})
	if err == nil {
		return row, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return row, false, Transient(fmt.Errorf("record CA request %s: %w", req.IdempotencyKey, err))
	}
	row, err = q.GetCARequestByKey(ctx, req.IdempotencyKey)
	if err != nil {
		return row, false, Transient(fmt.Errorf("read CA request %s: %w", req.IdempotencyKey, err))
	}
	firstDER, err := l.CSR(row)
	if err != nil {
		return row, false, Permanent(err)
	}
	first, err := x509.ParseCertificateRequest(firstDER)
	if err != nil || !pki.SamePublicKey(first.PublicKey, req.CSR.PublicKey) {
		return row, false, Permanent(fmt.Errorf("%w: %s", ErrKeyReused, req.IdempotencyKey))
	}
	return row, false, nil
}

// claimFirst runs req.WithClaim.
func claimFirst(ctx context.Context, tx pgx.Tx, req Request) error {
	if req.WithClaim == nil {
		return nil
	}
	err := req.WithClaim(ctx, tx)
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errkind.KindOf(err) != 0:
		return Permanent(err)
	case errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")):
		// Data the database refuses, or a row it stands on gone: the same
		// input would be refused again.
		return Permanent(fmt.Errorf("write what CA request %s stands on: %w", req.IdempotencyKey, err))
	}
	return Transient(fmt.Errorf("write what CA request %s stands on: %w", req.IdempotencyKey, err))
}

// CSR is the DER of row's CSR, opened if it was kept sealed.
func (l Ledger) CSR(row store.CaRequest) ([]byte, error) {
	return pki.OpenCSR(l.KEK, row.CsrDer, row.CsrSealed, row.IdempotencyKey)
}

// RecordIssued adds cert to the inventory and marks row issued by decidedBy.
// Certificates of one device are recorded one transaction at a time (see
// LockDeviceForIssue), so that two enrollments of one device at once cannot
// both stay active.
func (l Ledger) RecordIssued(ctx context.Context, tx pgx.Tx, row store.CaRequest, profile pki.Profile, cert *x509.Certificate, decidedBy string) (int64, error) {
	q := store.New(tx)
	if row.DeviceID.Valid {
		if err := q.LockDeviceForIssue(ctx, row.DeviceID.String); err != nil {
			return 0, Transient(fmt.Errorf("lock device %s to record its certificate: %w", row.DeviceID.String, err))
		}
	}
	stored, err := q.InsertCertificate(ctx, store.InsertCertificateParams{
		DeviceID:  row.DeviceID,
		ProfileID: pgtype.Int8{Int64: row.ProfileID, Valid: true},
		CertType:  profile.CertType,
		Issuer:    cert.Issuer.String(),
		SerialHex: cert.SerialNumber.Text(16),
		Subject:   cert.Subject.String(),
		Sha256:    pki.Fingerprint(cert),
		NotBefore: cert.NotBefore,
		NotAfter:  cert.NotAfter,
		Der:       cert.Raw,
	})
	if err != nil {
		return 0, Transient(fmt.Errorf("record certificate for request %d: %w", row.ID, err))
	}
	err = q.MarkCARequestIssued(ctx, store.MarkCARequestIssuedParams{
		ID: row.ID, CertificateID: pgtype.Int8{Int64: stored.ID, Valid: true}, DecidedBy: decidedBy,
	})
	if err != nil {
		return 0, Transient(fmt.Errorf("mark request %d issued: %w", row.ID, err))
	}
	return stored.ID, nil
}

// Result reads what a recorded request came to; a pending one is to be polled
// after retryAfter. Issued results carry the certificate but not the chain,
// which only the driver knows.
func (l Ledger) Result(ctx context.Context, q *store.Queries, row store.CaRequest, retryAfter time.Duration) (Result, error) {
	id := strconv.FormatInt(row.ID, 10)
	switch row.Status {
	case string(Issued):
		stored, err := q.GetCertificate(ctx, row.CertificateID.Int64)
		if err != nil {
			return Result{}, Transient(fmt.Errorf("read certificate of request %d: %w", row.ID, err))
		}
		cert, err := x509.ParseCertificate(stored.Der)
		if err != nil {
			return Result{}, Permanent(fmt.Errorf("stored certificate %d does not parse: %w", stored.ID, err))
		}
		return Result{Status: Issued, RequestID: id, Certificate: cert, CertificateID: stored.ID}, nil
	case string(Rejected):
		return Result{Status: Rejected, RequestID: id, Reason: row.RejectReason}, nil
	}
	return Result{Status: Pending, RequestID: id, RetryAfter: retryAfter}, nil
}

// ErrNoSuchRequest is a request ID that names no request of this driver.
var ErrNoSuchRequest = errors.New("no such CA request")

// Find reads the request that Submit returned as requestID, locking its row
// until the transaction ends when lock is set. An ID that is malformed, unknown
// or another driver's is a permanent ErrNoSuchRequest, of kind NotFound.
func (l Ledger) Find(ctx context.Context, q *store.Queries, requestID string, lock bool) (store.CaRequest, error) {
	id, err := strconv.ParseInt(requestID, 10, 64)
	if err != nil || id <= 0 {
		return store.CaRequest{}, Permanent(errkind.NotFound("%w: %q", ErrNoSuchRequest, requestID))
	}
	read := q.GetCARequest
	if lock {
		read = q.LockCARequest
	}
	row, err := read(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && row.CaDriver != l.Driver) {
		return store.CaRequest{}, Permanent(errkind.NotFound("%w: %s", ErrNoSuchRequest, requestID))
	}
	if err != nil {
		return store.CaRequest{}, Transient(fmt.Errorf("read CA request %d: %w", id, err))
	}
	return row, nil
}

// InTx runs fn in a transaction and commits when fn returns no error. Drivers
// claim, act and record within one, so that a failed act leaves no claim.
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return Transient(fmt.Errorf("begin transaction: %w", err))
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return Transient(fmt.Errorf("commit: %w", err))
	}
	return nil
}
