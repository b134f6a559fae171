// Package local is certfleet's built-in CA, the default CA driver: a root and
// an issuing intermediate created on first start, their private keys sealed in
// Postgres under the key-encryption key, issuance from profiles, approval mode,
// revocation, a signed CRL, and OCSP through a delegated signer.
package local

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/ocspresponder"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/pki/kek"
)

// DriverName is how profiles name this driver.
const DriverName = "local"

// Options configure the built-in CA.
type Options struct {
	// Name tells CAs in one database apart; "default" unless set.
	Name string
	// KeySpec is used when the CA is first created; ECDSA P-256 unless set.
	KeySpec pki.KeySpec
	// PublicURL is the base URL under which the API serves CRLs, OCSP and the
	// CA certificates, written into every certificate's CRL distribution
	// point and Authority Information Access.
	PublicURL string
	// CRLValidity is how long a CRL is valid; it is reissued at half of that.
	CRLValidity time.Duration
	// PendingRetry is the poll interval suggested for requests awaiting approval.
	PendingRetry time.Duration
	// ReservedNames are certfleet's own server names (the EST hosts): no
	// device certificate may carry them, in its CN or its SANs, or a device
	// could pose as the server that devices enroll with and trust by its root.
	ReservedNames []string
	// KEKSource says where the key-encryption key came from (the variable or
	// the key file), for the message when it does not open the CA's keys.
	KEKSource string
	Logger    *slog.Logger
}

func (o *Options) defaults() {
	if o.Name == "" {
		o.Name = "default"
	}
	if o.KeySpec == (pki.KeySpec{}) {
		o.KeySpec = pki.KeySpec{Algorithm: "ecdsa", Size: 256}
	}
	if o.CRLValidity == 0 {
		o.CRLValidity = 24 * time.Hour
	}
	if o.PendingRetry == 0 {
		o.PendingRetry = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// CA is the built-in CA. It is safe for concurrent use, also from several
// processes sharing one database.
type CA struct {
	pool       *pgxpool.Pool
	opts       Options
	ledger     ca.Ledger
	id         int64
	root       *x509.Certificate
	issuing    *x509.Certificate
	issuingKey crypto.Signer
	// chain is the issuing CA, any outside intermediates, and the root.
	chain []*x509.Certificate
	// outsideRoot: the root is not certfleet's (see CompleteIssuingCA).
	outsideRoot bool
	// set, when the CA is one of a Set, knows its successor (see Renew).
	set *Set

	ocspMu     sync.Mutex
	ocspSigner ocspresponder.Signer // see OCSPSigner
}

var _ ca.Driver = (*CA)(nil)

// Open loads the CA named in opts, creating it on first start.
func Open(ctx context.Context, pool *pgxpool.Pool, keys *kek.KEK, opts Options) (*CA, error) {
	opts.defaults()
	q := store.New(pool)
	row, err := q.GetLocalCA(ctx, opts.Name)
	if errors.Is(err, pgx.ErrNoRows) {
		row, err = create(ctx, q, keys, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("load built-in CA %q: %w", opts.Name, err)
	}
	return fromRow(pool, keys, opts, row)
}

// fromRow opens a stored CA: its certificates and its issuing key.
func fromRow(pool *pgxpool.Pool, keys *kek.KEK, opts Options, row store.LocalCa) (*CA, error) {
	opts.Name = row.Name
	c := &CA{pool: pool, opts: opts, ledger: ca.Ledger{Driver: DriverName, KEK: keys}, id: row.ID, outsideRoot: row.RootKeySealed == nil}
	var err error
	if c.issuing, err = x509.ParseCertificate(row.IssuingDer); err != nil {
		return nil, fmt.Errorf("built-in CA %q: issuing certificate: %w", opts.Name, err)
	}
	c.chain = []*x509.Certificate{c.issuing}
	for _, der := range append(row.OutsideChain, row.RootDer) {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("built-in CA %q: chain: %w", opts.Name, err)
		}
		c.chain = append(c.chain, cert)
	}
	c.root = c.chain[len(c.chain)-1]
	keyDER, err := keys.Open(row.IssuingKeySealed, keyContext(opts.Name, "issuing"))
	if errors.Is(err, kek.ErrWrongKey) {
		return nil, wrongKEK(err, opts)
	}
	if err != nil {
		return nil, err
	}
	if c.issuingKey, err = pki.ParsePrivateKey(keyDER); err != nil {
		return nil, err
	}
	return c, nil
}

// wrongKEK explains a key-encryption key that does not open the CA this
// database holds, and the ways out, before anything else starts.
func wrongKEK(err error, opts Options) error {
	source := opts.KEKSource
	if source == "" {
		source = "CERTFLEET_KEK or the key file"
	}
	return fmt.Errorf(`%w

The built-in CA %q in this database was created under another key-encryption
key than the one certfleet has now (%s). This happens when .data/ (which holds
the key file) was deleted, or when a fresh clone points at a database that an
earlier clone set up. Ways out:
  - restore the original key: put its key file back (over any new one this start
    created), or set CERTFLEET_KEK to it;
  - point DATABASE_URL at a new database, which gets a CA of its own;
  - development data only: 'make reset' drops the dev database and .data/,
    and the next 'make run' starts afresh (every certificate, device and job is lost).`,
		err, opts.Name, source)
}

func keyContext(name, role string) string { return "local-ca/" + name + "/" + role }

// capped is notAfter, or the end of the CA's chain when that comes first:
// no certificate outlives a CA above it.
func (c *CA) capped(notAfter time.Time) time.Time {
	for _, ca := range c.chain {
		if ca.NotAfter.Before(notAfter) {
			notAfter = ca.NotAfter
		}
	}
	return notAfter
}

// Certificates returns the issuing CA and the root.
func (c *CA) Certificates() (issuing, root *x509.Certificate) { return c.issuing, c.root }

// CRLPath is the API path of this CA's CRL.
func (c *CA) CRLPath() string { return "/crl/" + hex.EncodeToString(c.issuing.SubjectKeyId) + ".crl" }

// Capabilities: the built-in CA revokes, and holds requests in approval mode.
func (c *CA) Capabilities() ca.Capabilities {
	return ca.Capabilities{Revoke: true, Pending: true, InProcess: true}
}

// CACertificates returns the issuing CA, then the chain up to the root.
func (c *CA) CACertificates(context.Context) ([]*x509.Certificate, error) {
	return c.chain, nil
}

// isOurs reports whether cert was signed by this CA's issuing key.
func (c *CA) isOurs(cert *x509.Certificate) bool {
	return pki.IssuedBy(cert, c.issuing)
}
