package local

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/ocspresponder"
	"github.com/certfleet/certfleet/pki/kek"
)

// Set is every built-in CA of the database: the default one, created on
// first start, the issuing CAs added since (under an outside root), and
// their successors and predecessors across rollovers. A profile names its
// CA in its settings ({"ca": "<name>"}, "default" unless set), which issues
// from the name's active CA; revocations, CRLs, OCSP and CA certificates
// find theirs by issuer, whatever its status. CAs that another process
// added, renewed or promoted are seen when first asked for.
type Set struct {
	pool *pgxpool.Pool
	keys *kek.KEK
	opts Options

	mu       sync.Mutex
	entries  map[int64]*entry // by local_cas ID
	loadedAt time.Time
	loadMu   sync.Mutex
}

// refreshEvery bounds how long a set goes without seeing what other
// processes changed: CAs added, renewed or promoted.
const refreshEvery = 30 * time.Second

// entry is one CA of the set and its place in its name's rollover.
type entry struct {
	ca          *CA
	status      string     // active, next or retired
	activatesAt *time.Time // when next
}

// OpenSet opens the default CA (creating it on first start) and every other
// CA of the database.
func OpenSet(ctx context.Context, pool *pgxpool.Pool, keys *kek.KEK, opts Options) (*Set, error) {
	def, err := Open(ctx, pool, keys, opts)
	if err != nil {
		return nil, err
	}
	s := SetOf(def)
	return s, s.load(ctx)
}

// SetOf is the set def belongs to, or a new one around it, which loads the
// database's other CAs when asked for them: one process, one set.
func SetOf(def *CA) *Set {
	if def.set != nil {
		return def.set
	}
	s := &Set{pool: def.pool, keys: def.ledger.KEK, opts: def.opts, entries: map[int64]*entry{}}
	def.set = s
	s.entries[def.id] = &entry{ca: def, status: "active"}
	return s
}

// Default is the default CA's active issuing CA, as the set last saw it.
func (s *Set) Default() *CA { return s.active(s.opts.Name) }

// load opens the CAs of the database not opened yet and refreshes every
// CA's status.
func (s *Set) load(ctx context.Context) error {
	// One load at a time, so that an older listing never overwrites a newer.
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	rows, err := store.New(s.pool).ListLocalCAs(ctx)
	if err != nil {
		return fmt.Errorf("list built-in CAs: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loadedAt = time.Now()
	for _, row := range rows {
		e, open := s.entries[row.ID]
		if !open {
			c, err := fromRow(s.pool, s.keys, s.opts, row)
			if err != nil {
				return err
			}
			c.set = s
			e = &entry{ca: c}
			s.entries[row.ID] = e
		}
		e.status, e.activatesAt = row.Status, row.ActivatesAt
	}
	return nil
}

// snapshot is a copy of every entry, by ID.
func (s *Set) snapshot() []entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []entry
	for _, id := range slices.Sorted(maps.Keys(s.entries)) {
		all = append(all, *s.entries[id])
	}
	return all
}

// All is every CA opened, by ID: the default first, each name's
// successors after it.
func (s *Set) All() []*CA {
	var all []*CA
	for _, e := range s.snapshot() {
		all = append(all, e.ca)
	}
	return all
}

// Named is the CA that issues under name now: its next CA once that one's
// time has come (promoting it), loading what another process changed.
func (s *Set) Named(ctx context.Context, name string) (*CA, error) {
	if s.stale() {
		if err := s.load(ctx); err != nil {
			return nil, err
		}
	}
	if err := s.promoteDue(ctx, name); err != nil {
		return nil, err
	}
	if c := s.active(name); c != nil {
		return c, nil
	}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	if c := s.active(name); c != nil {
		return c, nil
	}
	return nil, errkind.NotFound("no built-in CA is called %q", name)
}

func (s *Set) stale() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Since(s.loadedAt) > refreshEvery
}

func (s *Set) active(name string) *CA {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.activeLocked(name)
}

func (s *Set) activeLocked(name string) *CA {
	for _, e := range s.entries {
		if e.status == "active" && e.ca.opts.Name == name {
			return e.ca
		}
	}
	return nil
}

// next is name's CA waiting to take over, or nil.
func (s *Set) next(name string) (*CA, *time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.entries {
		if e.status == "next" && e.ca.opts.Name == name {
			return e.ca, e.activatesAt
		}
	}
	return nil, nil
}

// promoteDue makes name's next CA the active one once its time has come.
// Every process may try; the database lets one succeed.
func (s *Set) promoteDue(ctx context.Context, name string) error {
	next, at := s.next(name)
	if next == nil || time.Now().Before(*at) {
		return nil
	}
	promoted, err := store.New(s.pool).PromoteNextCA(ctx, name)
	if err != nil {
		return fmt.Errorf("promote the next CA of %q: %w", name, err)
	}
	if promoted > 0 {
		s.opts.Logger.Info("next CA now issues", "ca", name, "subject", next.issuing.Subject.String())
	}
	return s.load(ctx)
}

// change runs fn and then audit, unless nil, in one transaction, and then
// loads what changed: a change is recorded if and only if it happened.
func (s *Set) change(ctx context.Context, audit func(*store.Queries) error, fn func(*store.Queries) error) error {
	err := ca.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		q := store.New(tx)
		if err := fn(q); err != nil || audit == nil {
			return err
		}
		return audit(q)
	})
	if err != nil {
		return err
	}
	return s.load(ctx)
}

// Settings are a profile's settings for the built-in CA driver.
type Settings struct {
	// CA names the issuing CA; "default" unless set.
	CA string `json:"ca,omitempty"`
}

// ParseSettings reads a profile's ca_settings, refusing unknown fields.
func ParseSettings(raw json.RawMessage) (Settings, error) {
	var settings Settings
	if len(raw) == 0 {
		return settings, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&settings); err != nil {
		return settings, fmt.Errorf("built-in CA settings: %w", err)
	}
	if settings.CA == ServersCA {
		return settings, fmt.Errorf("built-in CA settings: %q issues certfleet's own servers' certificates, not devices'", ServersCA)
	}
	return settings, nil
}

// ForSettings is the CA a profile's settings name.
func (s *Set) ForSettings(ctx context.Context, raw json.RawMessage) (*CA, error) {
	settings, err := ParseSettings(raw)
	if err != nil {
		return nil, errkind.Invalid("ca_settings", "%v", err)
	}
	if settings.CA == "" {
		settings.CA = s.opts.Name
	}
	return s.Named(ctx, settings.CA)
}

// issuerOf is the CA that signed cert, found by its authority key ID.
func (s *Set) issuerOf(ctx context.Context, cert *x509.Certificate) (*CA, bool) {
	return s.bySKI(ctx, cert.AuthorityKeyId)
}

// bySKI is the CA whose issuing certificate has the subject key ID ski.
func (s *Set) bySKI(ctx context.Context, ski []byte) (*CA, bool) {
	find := func() (*CA, bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, e := range s.entries {
			if len(ski) > 0 && bytes.Equal(e.ca.issuing.SubjectKeyId, ski) {
				return e.ca, true
			}
		}
		return nil, false
	}
	if c, ok := find(); ok {
		return c, true
	}
	if _, err := store.New(s.pool).GetLocalCAByIssuingSKI(ctx, ski); err != nil {
		return nil, false // none: not worth listing every CA again
	}
	if err := s.load(ctx); err != nil {
		s.opts.Logger.Warn("built-in CAs not loaded", "error", err)
	}
	return find()
}

// byRequest is the CA whose profile a CA request names.
func (s *Set) byRequest(ctx context.Context, requestID string) (*CA, error) {
	row, err := s.Default().ledger.Find(ctx, store.New(s.pool), requestID, false)
	if err != nil {
		return nil, err
	}
	profile, err := store.New(s.pool).GetProfile(ctx, row.ProfileID)
	if err != nil {
		return nil, fmt.Errorf("read profile %d: %w", row.ProfileID, err)
	}
	return s.ForSettings(ctx, profile.CaSettings)
}

// Approve issues a pending request from the CA its profile names.
func (s *Set) Approve(ctx context.Context, requestID, approver string, audit func(*store.Queries) error) (ca.Result, error) {
	c, err := s.byRequest(ctx, requestID)
	if err != nil {
		return ca.Result{}, err
	}
	return c.Approve(ctx, requestID, approver, audit)
}

// Reject closes a pending request.
func (s *Set) Reject(ctx context.Context, requestID, reason, approver string, audit func(*store.Queries) error) error {
	c, err := s.byRequest(ctx, requestID)
	if err != nil {
		return err
	}
	return c.Reject(ctx, requestID, reason, approver, audit)
}

// RevokeAudited revokes cert through the built-in CA that issued it.
func (s *Set) RevokeAudited(ctx context.Context, cert *x509.Certificate, reason ca.RevocationReason, audit func(*store.Queries) error) error {
	c, ok := s.issuerOf(ctx, cert)
	if !ok {
		c = s.Default() // which refuses it, naming why
	}
	return c.RevokeAudited(ctx, cert, reason, audit)
}

// CRLByName is the CRL of the CA whose issuing key ID is name (hex).
func (s *Set) CRLByName(ctx context.Context, name string) ([]byte, bool, error) {
	ski, err := hex.DecodeString(name)
	c, ok := s.bySKI(ctx, ski)
	if err != nil || !ok {
		return nil, false, nil
	}
	der, err := c.CRL(ctx)
	return der, err == nil, err
}

// CAChainByName is the chain of the CA whose issuing key ID is name (hex).
func (s *Set) CAChainByName(name string) ([]*x509.Certificate, bool) {
	ski, err := hex.DecodeString(name)
	if err != nil {
		return nil, false
	}
	c, ok := s.bySKI(context.Background(), ski)
	if !ok {
		return nil, false
	}
	return c.chain, true
}

// OCSPAuthorities are the CAs the OCSP responder answers for, every
// generation, the default's active one first (it signs the "unknown" answers
// about issuers certfleet does not run).
func (s *Set) OCSPAuthorities() []ocspresponder.Authority {
	def, err := s.Named(context.Background(), s.opts.Name) // refreshes a stale set
	if err != nil {
		s.opts.Logger.Warn("built-in CAs not loaded", "error", err)
		def = s.Default()
	}
	all := []ocspresponder.Authority{def}
	for _, c := range s.All() {
		if c != def {
			all = append(all, c)
		}
	}
	return all
}

// CACertificates is the default CA's chain, whichever generation issues
// now: the set publishes it where no label names a CA (EST's unlabelled
// cacerts).
func (s *Set) CACertificates(ctx context.Context) ([]*x509.Certificate, error) {
	c, err := s.Named(ctx, s.opts.Name)
	if err != nil {
		return nil, err
	}
	return c.CACertificates(ctx)
}

// NextCACertificates is the default CA's successor while it rolls over.
func (s *Set) NextCACertificates(ctx context.Context) ([]*x509.Certificate, error) {
	c, err := s.Named(ctx, s.opts.Name)
	if err != nil {
		return nil, err
	}
	return c.NextCACertificates(ctx)
}

// IssueRA issues the SCEP RA's certificate from the default CA that issues
// now (see CA.IssueRA).
func (s *Set) IssueRA(pub crypto.PublicKey, validity time.Duration) (*x509.Certificate, error) {
	c, err := s.Named(context.Background(), s.opts.Name)
	if err != nil {
		return nil, err
	}
	return c.IssueRA(pub, validity)
}

// KeepCRLsFresh reissues each CA's CRL whenever it passes half of its
// validity, until ctx ends, so that relying parties never see an expired
// CRL.
func (s *Set) KeepCRLsFresh(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		for _, c := range s.All() {
			if _, err := c.CRL(ctx); err != nil && ctx.Err() == nil {
				s.opts.Logger.Warn("CRL refresh failed", "ca", c.opts.Name, "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
