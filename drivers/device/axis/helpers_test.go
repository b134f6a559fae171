package axis_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/credentials/secret"
	"github.com/certfleet/certfleet/devicesim"
	axissim "github.com/certfleet/certfleet/devicesim/axis"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/pki"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const fleetSecret = "fleet-master-secret-0123456789"

// memPins keeps TLS pins in memory.
type memPins struct {
	mu   sync.Mutex
	pins map[string][]byte
}

func (p *memPins) SavePin(_ context.Context, id string, pin []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pins == nil {
		p.pins = map[string][]byte{}
	}
	if _, ok := p.pins[id]; !ok {
		p.pins[id] = pin
	}
	return nil
}

func (p *memPins) get(id string) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pins[id]
}

// simEnv is a simulated fleet with the Axis mode on an ephemeral TLS port.
type simEnv struct {
	fleet *devicesim.Fleet
	sim   *axissim.Simulator
	srv   *httptest.Server
}

func newSim(t *testing.T) *simEnv {
	t.Helper()
	fleet := devicesim.New(50, "cam-", fleetSecret)
	sim := axissim.New()
	srv := httptest.NewTLSServer(fleet.Handler(sim))
	t.Cleanup(srv.Close)
	return &simEnv{fleet: fleet, sim: sim, srv: srv}
}

func (e *simEnv) device(id string) device.Device {
	user, password := e.fleet.CameraAccount()
	return device.Device{ID: id, Address: e.srv.URL + "/axis/" + id, Credential: secret.Secret{Kind: secret.Password, Username: user, Value: password}}
}

// setFaults sets a device's faults over the fleet's admin API.
func (e *simEnv) setFaults(t *testing.T, id string, faults devicesim.Faults) {
	t.Helper()
	body, err := json.Marshal(faults)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPut, e.srv.URL+"/devices/"+id+"/faults", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+fleetSecret)
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func (e *simEnv) state(t *testing.T, id string) axissim.State {
	t.Helper()
	st, err := e.sim.State(id)
	require.NoError(t, err)
	return st
}

// pinOf is the SHA-256 pin of the simulator's TLS certificate.
func (e *simEnv) pinOf() []byte {
	sum := sha256.Sum256(e.srv.Certificate().Raw)
	return sum[:]
}

// testCA is a throwaway CA for the tests that need no database.
type testCA struct {
	key  crypto.Signer
	cert *x509.Certificate
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := pki.GenerateKey(pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{key: key, cert: cert}
}

func (ca *testCA) issue(t *testing.T, csrDER []byte) []*x509.Certificate {
	t.Helper()
	csr, err := x509.ParseCertificateRequest(csrDER)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: csr.Subject, DNSNames: csr.DNSNames,
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return []*x509.Certificate{leaf, ca.cert}
}

func csrRequest(id, certType string, key pki.KeySpec) pki.CSRRequest {
	return pki.CSRRequest{
		CertType: certType, Key: key,
		Subject: pki.CSRSubject{CommonName: id, Organization: "Example"},
		SANs:    pki.CSRSANs{DNS: []string{id + ".example.net"}},
	}
}

var p256 = pki.KeySpec{Algorithm: "ecdsa", Size: 256}
