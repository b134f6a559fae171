package local

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/ocspresponder"
	"github.com/certfleet/certfleet/pki/kek"
)

// Set is every built-in CA of the database: the default one, created on
// first start, and the issuing CAs added since (under an outside root). A
// profile names its CA in its settings ({"ca": "<name>"}, "default" unless
// set); revocations, CRLs, OCSP and CA certificates find theirs by issuer.
// CAs that another process added are loaded when first asked for.
type Set struct {
	pool *pgxpool.Pool
	keys *kek.KEK
	opts Options
	def  *CA

	mu     sync.Mutex
	byName map[string]*CA
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

// SetOf is a set whose default is def, an opened CA, and which loads the
// database's other CAs when asked for them.
func SetOf(def *CA) *Set {
	return &Set{pool: def.pool, keys: def.ledger.KEK, opts: def.opts, def: def, byName: map[string]*CA{def.opts.Name: def}}
}

// Default is the CA profiles use unless they name another.
func (s *Set) Default() *CA { return s.def }

// load opens the CAs of the database not opened yet.
func (s *Set) load(ctx context.Context) error {
	rows, err := store.New(s.pool).ListLocalCAs(ctx)
	if err != nil {
		return fmt.Errorf("list built-in CAs: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, row := range rows {
		if _, open := s.byName[row.Name]; open {
			continue
		}
		c, err := fromRow(s.pool, s.keys, s.opts, row)
		if err != nil {
			return err
		}
		s.byName[row.Name] = c
	}
	return nil
}

// All is every CA opened, the default first.
func (s *Set) All() []*CA {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := []*CA{s.def}
	for _, name := range slices.Sorted(maps.Keys(s.byName)) {
		if c := s.byName[name]; c != s.def {
			all = append(all, c)
		}
	}
	return all
}

// Named is the CA called name, loading it when another process added it.
func (s *Set) Named(ctx context.Context, name string) (*CA, error) {
	if c, ok := s.opened(name); ok {
		return c, nil
	}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	if c, ok := s.opened(name); ok {
		return c, nil
	}
	return nil, errkind.NotFound("no built-in CA is called %q", name)
}

func (s *Set) opened(name string) (*CA, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.byName[name]
	return c, ok
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
	return settings, nil
}

// ForSettings is the CA a profile's settings name.
func (s *Set) ForSettings(ctx context.Context, raw json.RawMessage) (*CA, error) {
	settings, err := ParseSettings(raw)
	if err != nil {
		return nil, errkind.Invalid("ca_settings", "%v", err)
	}
	if settings.CA == "" {
		return s.def, nil
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
		for _, c := range s.byName {
			if len(ski) > 0 && bytes.Equal(c.issuing.SubjectKeyId, ski) {
				return c, true
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
	row, err := s.def.ledger.Find(ctx, store.New(s.pool), requestID, false)
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
		c = s.def // which refuses it, naming why
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

// OCSPAuthorities are the CAs the OCSP responder answers for, the default
// first.
func (s *Set) OCSPAuthorities() []ocspresponder.Authority {
	var all []ocspresponder.Authority
	for _, c := range s.All() {
		all = append(all, c)
	}
	return all
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
