package testenv

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/drivers/device/tlspin"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/profiles"
)

// Issuer is the built-in CA with a profile per certificate type for device
// drivers' tests: each takes the CN and the DNS and IP SANs from the CSR and
// accepts ECDSA P-256/P-384 and RSA 2048 keys.
type Issuer struct {
	CA       *local.CA
	profiles map[string]pki.Profile
	mu       sync.Mutex
	n        int
}

// NewIssuer opens the built-in CA in pool with profiles for devices of deviceType.
func NewIssuer(t testing.TB, pool *pgxpool.Pool, deviceType string) *Issuer {
	t.Helper()
	c, _ := BuiltinCA(t, pool, local.Options{})
	is := &Issuer{CA: c, profiles: map[string]pki.Profile{}}
	for _, certType := range []string{pki.CertTypeTLS, pki.CertTypeIEEE8021X} {
		row, err := store.New(pool).CreateProfile(context.Background(), store.CreateProfileParams{
			Name: deviceType + "-" + certType, CertType: certType, DeviceType: deviceType,
			SubjectRules:    json.RawMessage(`[{"attr":"CN","rule":"from_csr"}]`),
			SanRules:        json.RawMessage(`[{"type":"dns","rule":"from_csr"},{"type":"ip","rule":"from_csr"}]`),
			ExtraAttributes: json.RawMessage(`[]`), KeyAlgorithms: json.RawMessage(`[{"algorithm":"ecdsa","sizes":[256,384]},{"algorithm":"rsa","sizes":[2048]}]`),
			Validity: 30 * 24 * time.Hour, RenewBefore: 24 * time.Hour, CaDriver: "local", CaSettings: json.RawMessage(`{}`), MaxCaWait: time.Hour,
		})
		if err != nil {
			t.Fatalf("create the devices' %s profile: %v", certType, err)
		}
		if is.profiles[certType], err = profiles.FromRow(row); err != nil {
			t.Fatal(err)
		}
	}
	return is
}

// Issue has the CA sign a device's CSR for a TLS certificate and returns the
// leaf and its chain.
func (is *Issuer) Issue(t testing.TB, deviceID string, csrDER []byte) []*x509.Certificate {
	t.Helper()
	return is.IssueAs(t, pki.CertTypeTLS, deviceID, csrDER)
}

// IssueAs is Issue for a certificate of certType.
func (is *Issuer) IssueAs(t testing.TB, certType, deviceID string, csrDER []byte) []*x509.Certificate {
	t.Helper()
	csr, err := pki.ParseCSR(csrDER)
	if err != nil {
		t.Fatalf("CSR of %s: %v", deviceID, err)
	}
	is.mu.Lock()
	is.n++
	key := fmt.Sprintf("%s/%d", deviceID, is.n)
	is.mu.Unlock()
	result, err := is.CA.Submit(context.Background(), ca.Request{CSR: csr, Profile: is.profiles[certType], IdempotencyKey: key})
	if err != nil || result.Status != ca.Issued {
		t.Fatalf("issue for %s: %v %s", deviceID, err, result.Reason)
	}
	return append([]*x509.Certificate{result.Certificate}, result.Chain...)
}

// MemPins keeps device pins in memory, as tlspin.DBPins keeps them in the
// database: the first pin stays, and a different one is refused.
type MemPins struct {
	mu   sync.Mutex
	pins map[string][]byte
}

// SavePin records pin as deviceID's if it has none yet.
func (p *MemPins) SavePin(_ context.Context, deviceID string, pin []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pins == nil {
		p.pins = map[string][]byte{}
	}
	if stored, ok := p.pins[deviceID]; ok && !bytes.Equal(stored, pin) {
		return tlspin.ErrMismatch
	}
	p.pins[deviceID] = pin
	return nil
}

// Get is deviceID's pin, nil if it has none.
func (p *MemPins) Get(deviceID string) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pins[deviceID]
}

// Set replaces deviceID's pin, as an operator who re-pins it does.
func (p *MemPins) Set(deviceID string, pin []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pins == nil {
		p.pins = map[string][]byte{}
	}
	p.pins[deviceID] = pin
}
