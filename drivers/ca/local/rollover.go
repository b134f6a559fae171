package local

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/pki"
)

// Rollover without downtime: Renew makes a CA name's next issuing CA, which
// cacerts publishes beside the active one at once, so that devices trust it
// before anything they hold comes from it; once its overlap has passed it
// issues, and the old one retires, keeping its CRL and OCSP answers for the
// certificates it issued (which never outlive it: see CA.sign).

// DefaultOverlap is how long a next CA is published before it issues.
const DefaultOverlap = 7 * 24 * time.Hour

// Renew makes the next issuing CA of name: a new key (sealed) and a
// certificate from the same root, with a subject of its own (its generation
// numbered) so that relying parties and the inventory tell the two apart.
// It issues from now+overlap on. Only a CA whose root certfleet holds renews
// so; one under an outside root gets a new issuing CA under that root
// (RequestIssuingCA) instead. audit, unless nil, writes the audit row in the
// same transaction.
func (s *Set) Renew(ctx context.Context, name string, overlap time.Duration, audit func(*store.Queries) error) (ca.Info, error) {
	current, err := s.Named(ctx, name)
	if err != nil {
		return ca.Info{}, err
	}
	switch {
	case current.outsideRoot:
		return ca.Info{}, errkind.Conflict("the root of %q is outside certfleet: add a new issuing CA under it (POST /api/v1/cas) and move the profiles to it", name)
	case overlap < 0:
		return ca.Info{}, errkind.Invalid("overlap", "a duration of 0 or more")
	case time.Now().Add(overlap).After(current.issuing.NotAfter):
		return ca.Info{}, errkind.Invalid("overlap", "the active CA expires on %s, before the overlap ends", current.issuing.NotAfter.UTC().Format(time.RFC3339))
	}
	q := store.New(s.pool)
	row, rootKey, err := s.rootKey(ctx, name)
	if err != nil {
		return ca.Info{}, err
	}
	spec, err := pki.ParseKeySpec(row.KeySpec)
	if err != nil {
		return ca.Info{}, err
	}
	generations, err := q.CountCAGenerations(ctx, name)
	if err != nil {
		return ca.Info{}, err
	}
	opts := s.opts
	opts.Name, opts.KeySpec = name, spec
	key, cert, err := newCA(opts, fmt.Sprintf("Issuing CA G%d", generations+1), current.root, rootKey, issuingValidity)
	if err != nil {
		return ca.Info{}, err
	}
	if capped := cert.NotAfter.Equal(current.root.NotAfter); capped && !cert.NotAfter.After(current.issuing.NotAfter) {
		return ca.Info{}, errkind.Conflict("the root of %q expires on %s: a new issuing CA under it would last no longer than the active one", name, current.root.NotAfter.UTC().Format(time.RFC3339))
	}
	sealed, err := seal(s.keys, key, keyContext(name, "issuing"))
	if err != nil {
		return ca.Info{}, err
	}
	activatesAt := time.Now().Add(overlap)
	var created store.LocalCa
	err = s.change(ctx, audit, func(q *store.Queries) error {
		created, err = q.CreateNextCA(ctx, store.CreateNextCAParams{CaName: name, IssuingDer: cert.Raw, IssuingKeySealed: sealed, IssuingSki: cert.SubjectKeyId, ActivatesAt: activatesAt})
		if errors.Is(err, pgx.ErrNoRows) {
			return errkind.Conflict("a next CA of %q already waits to take over", name)
		}
		return err
	})
	if err != nil {
		return ca.Info{}, err
	}
	s.opts.Logger.Info("next CA published", "ca", name, "subject", cert.Subject.String(), "issues_from", activatesAt)
	next, err := fromRow(s.pool, s.keys, s.opts, created) // by its row: it may have been promoted already
	if err != nil {
		return ca.Info{}, err
	}
	return next.info(created.Status, created.ActivatesAt), nil
}

// NextCACertificates is c's successor and the chain above it while one
// waits to take over; none otherwise.
func (c *CA) NextCACertificates(context.Context) ([]*x509.Certificate, error) {
	if c.set == nil {
		return nil, nil
	}
	if next, _ := c.set.next(c.opts.Name); next != nil && next != c {
		return next.chain, nil
	}
	return nil, nil
}

var _ ca.NextCA = (*CA)(nil)

// GenerationChain is the chain of the issuing CA of c's name, earlier or
// current, that issued cert.
func (c *CA) GenerationChain(cert *x509.Certificate) []*x509.Certificate {
	if g := c.generationOf(cert); g != nil {
		return g.chain
	}
	return nil
}

// generationOf is the issuing CA of c's name, c or an earlier or later one,
// that issued cert; nil when none did.
func (c *CA) generationOf(cert *x509.Certificate) *CA {
	if c.isOurs(cert) {
		return c
	}
	if c.set == nil {
		return nil
	}
	for _, e := range c.set.snapshot() {
		if e.ca.opts.Name == c.opts.Name && e.ca.isOurs(cert) {
			return e.ca
		}
	}
	return nil
}

var _ ca.Generations = (*CA)(nil)

// Due is a CA whose active issuing certificate ends within a renewal window.
type Due struct {
	Name        string
	NotAfter    time.Time
	OutsideRoot bool
}

// DueForRenewal lists the CAs whose active issuing certificate ends before
// at+window and that have no next CA yet.
func (s *Set) DueForRenewal(ctx context.Context, at time.Time, window time.Duration) []Due {
	if err := s.load(ctx); err != nil {
		s.opts.Logger.Warn("built-in CAs not loaded", "error", err)
	}
	var due []Due
	for _, e := range s.snapshot() {
		name := e.ca.opts.Name
		if next, _ := s.next(name); e.status != "active" || next != nil || e.ca.issuing.NotAfter.After(at.Add(window)) {
			continue
		}
		due = append(due, Due{Name: name, NotAfter: e.ca.issuing.NotAfter, OutsideRoot: e.ca.outsideRoot})
	}
	return due
}

// rootKey opens the root key of the active CA called name, which only a CA
// whose root certfleet made has.
func (s *Set) rootKey(ctx context.Context, name string) (store.LocalCa, crypto.Signer, error) {
	row, err := store.New(s.pool).GetLocalCA(ctx, name)
	if err != nil {
		return row, nil, fmt.Errorf("read CA %q: %w", name, err)
	}
	der, err := s.keys.Open(row.RootKeySealed, keyContext(name, "root"))
	if err != nil {
		return row, nil, fmt.Errorf("open the root key of %q: %w", name, err)
	}
	key, err := pki.ParsePrivateKey(der)
	return row, key, err
}
