// Package trust manages trust anchors: the CA certificates that factory
// certificates and external issuers chain to. An anchor is uploaded in PEM,
// proven (its owner signs a code with the CA key), enabled or disabled, and
// may let devices with factory certificates register themselves. An anchor
// starts disabled and can be enabled only once proven: anyone can upload a
// CA certificate, only its key holder can sign the code. A certificate that
// chains to a disabled or unproven anchor is refused everywhere.
package trust

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/changefeed"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/pki"
)

// The store's refusals. ErrNotFound is an errkind.Error itself; each other
// one reaches the caller wrapped in an errkind.Error of the kind noted,
// raised where the refusal is decided and with its particulars, so that
// callers go by the kind and errors.Is still finds these.
var (
	ErrInvalid     = errors.New("invalid trust anchor")          // invalid
	ErrDuplicate   = errors.New("trust anchor already uploaded") // conflict
	ErrNotFound    = errkind.NotFound("no such trust anchor")
	ErrProof       = errors.New("proof of possession failed")                                                       // invalid
	ErrUntrusted   = errors.New("certificate chains to no enabled trust anchor")                                    // forbidden
	ErrAnchorOff   = errors.New("certificate chains to a disabled trust anchor")                                    // forbidden
	ErrRevoked     = errors.New("certificate is revoked")                                                           // forbidden
	ErrNoChallenge = errors.New("no verification code was issued for this anchor")                                  // invalid
	ErrUnproven    = errors.New("the trust anchor's proof of possession has not succeeded")                         // conflict
	ErrNotLegacy   = errors.New("only an anchor uploaded before proofs were enforced can be confirmed without one") // conflict
)

// Store is the trust anchors of one certfleet.
type Store struct {
	// pool is the connection pool, or the transaction of a change that
	// In bound the store to.
	pool conn
	now  func() time.Time
	// anchors, unless nil, keeps the parsed anchors until the table changes.
	anchors *changefeed.Cache[struct{}, anchorSet]
}

// conn is what the store runs its statements and transactions on: a pool,
// or a transaction, in which the store's own transactions are savepoints.
type conn interface {
	store.DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
}

// New returns the trust anchor store over pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool, now: time.Now} }

// In returns the store bound to tx: its changes commit or roll back with tx,
// so that a caller's audit row in tx is written if and only if they are.
func (s *Store) In(tx pgx.Tx) *Store { return &Store{pool: tx, now: s.now} }

// Cached returns the store verifying against anchors parsed once and kept
// until feed hears the trust_anchors table change.
func (s *Store) Cached(feed *changefeed.Feed) *Store {
	c := *s
	c.anchors = changefeed.NewCache[struct{}, anchorSet](feed)
	return &c
}

// Upload is one PEM upload: a CA certificate or a chain of them.
type Upload struct {
	Name         string
	PEM          []byte
	AutoRegister bool
	// NameMapping names auto-registered devices: "CN", "serialNumber",
	// "SAN:DNS", "SAN:URI", or "" for the certificate fingerprint.
	NameMapping string
}

// Add checks every certificate of the upload (X.509 v3, CA:true, unexpired,
// not uploaded before) and stores them all, or none.
func (s *Store) Add(ctx context.Context, up Upload) ([]store.TrustAnchor, error) {
	if up.NameMapping != "" && !slices.Contains(pki.IdentityFields, up.NameMapping) {
		return nil, errkind.Invalid("name_mapping", "want one of %v, or none to name devices by fingerprint", pki.IdentityFields)
	}
	certs, err := pki.ParseCertificatesPEM(up.PEM)
	if err != nil {
		return nil, errkind.Invalid("pem", "%w: %v", ErrInvalid, err)
	}
	for i, cert := range certs {
		if err := checkAnchor(cert, s.now()); err != nil {
			return nil, errkind.Invalid("pem", "%w: certificate %d (%s): %v", ErrInvalid, i+1, cert.Subject, err)
		}
	}
	var added []store.TrustAnchor
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := store.New(tx)
		for i, cert := range certs {
			name := up.Name
			if len(certs) > 1 {
				name = fmt.Sprintf("%s (%d/%d)", up.Name, i+1, len(certs))
			}
			row, err := q.InsertTrustAnchor(ctx, store.InsertTrustAnchorParams{
				Name: name, Subject: cert.Subject.String(), Der: cert.Raw, Sha256: pki.Fingerprint(cert),
				NotAfter: cert.NotAfter, AutoRegister: up.AutoRegister, NameMapping: up.NameMapping,
			})
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23505" {
				return errkind.Conflict("%w: %s (SHA-256 %x)", ErrDuplicate, cert.Subject, pki.Fingerprint(cert))
			}
			if err != nil {
				return fmt.Errorf("store trust anchor: %w", err)
			}
			added = append(added, row)
		}
		return nil
	})
	return added, err
}

func checkAnchor(cert *x509.Certificate, now time.Time) error {
	switch {
	case cert.Version != 3:
		return fmt.Errorf("X.509 version %d; version 3 is required", cert.Version)
	case !cert.BasicConstraintsValid || !cert.IsCA:
		return errors.New("not a CA certificate (basic constraints CA:true is required)")
	case now.After(cert.NotAfter):
		return fmt.Errorf("expired on %s", cert.NotAfter.Format(time.DateOnly))
	case now.Before(cert.NotBefore):
		return fmt.Errorf("not valid before %s", cert.NotBefore.Format(time.DateOnly))
	}
	return nil
}

// SetEnabled enables or disables an anchor; only a proven anchor can be enabled.
func (s *Store) SetEnabled(ctx context.Context, id int64, enabled bool) error {
	q := store.New(s.pool)
	anchor, err := q.GetTrustAnchor(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if enabled && anchor.VerifiedAt == nil {
		return errkind.Conflict("%w: request a verification code and send its signature first", ErrUnproven)
	}
	n, err := q.SetTrustAnchorEnabled(ctx, store.SetTrustAnchorEnabledParams{ID: id, Enabled: enabled})
	return rowsOrNotFound(n, err)
}

// Confirm vouches for an anchor uploaded before proofs were enforced, whose
// proof nobody asked for then: the admin's word stands in for the proof, is
// recorded as such, and the anchor works again.
func (s *Store) Confirm(ctx context.Context, id int64, admin string) error {
	n, err := store.New(s.pool).ConfirmLegacyTrustAnchor(ctx, store.ConfirmLegacyTrustAnchorParams{ID: id, ConfirmedBy: pgtype.Text{String: admin, Valid: true}})
	if err != nil {
		return err
	}
	if n == 0 {
		if _, err := store.New(s.pool).GetTrustAnchor(ctx, id); errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		return errkind.Conflict("%w", ErrNotLegacy)
	}
	return nil
}

// Delete removes an anchor and its offline revocation entries.
func (s *Store) Delete(ctx context.Context, id int64) error {
	n, err := store.New(s.pool).DeleteTrustAnchor(ctx, id)
	return rowsOrNotFound(n, err)
}

func rowsOrNotFound(n int64, err error) error {
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// Challenge hands out a new random verification code for an anchor. Only its
// hash is stored; the uploader signs the code with the CA's private key:
//
//	openssl dgst -sha256 -sign ca.key code.txt | openssl base64 -A
func (s *Store) Challenge(ctx context.Context, id int64) (string, error) {
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	code := hex.EncodeToString(raw)
	sum := sha256.Sum256([]byte(code))
	n, err := store.New(s.pool).SetTrustAnchorChallenge(ctx, store.SetTrustAnchorChallengeParams{ID: id, VerificationCodeHash: sum[:]})
	if err := rowsOrNotFound(n, err); err != nil {
		return "", err
	}
	return code, nil
}

// Prove checks that signatureB64 is the anchor's key's signature over code
// (SHA-256; RSA PKCS#1 v1.5 or ECDSA), and marks the anchor verified. The code
// works once. A trailing newline, as `echo code > code.txt` leaves, is accepted.
func (s *Store) Prove(ctx context.Context, id int64, code, signatureB64 string) error {
	q := store.New(s.pool)
	anchor, err := q.GetTrustAnchor(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(code))
	if anchor.VerificationCodeHash == nil {
		return errkind.Invalid("code", "%w: request one first", ErrNoChallenge)
	}
	if subtle.ConstantTimeCompare(anchor.VerificationCodeHash, sum[:]) != 1 {
		return errkind.Invalid("code", "%w: the code is not the one issued", ErrProof)
	}
	cert, err := x509.ParseCertificate(anchor.Der)
	if err != nil {
		return err
	}
	if err := pki.VerifySignature(cert.PublicKey, signatureB64, []byte(code), []byte(code+"\n")); err != nil {
		return errkind.Invalid("signature", "%w: %v", ErrProof, err)
	}
	n, err := q.MarkTrustAnchorVerified(ctx, store.MarkTrustAnchorVerifiedParams{ID: id, VerificationCodeHash: sum[:]})
	if err := rowsOrNotFound(n, err); err != nil {
		return errkind.Conflict("%w: the code was used or replaced meanwhile", ErrProof)
	}
	return nil
}
