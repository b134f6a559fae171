package onvif_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/credentials/secret"
	"github.com/certfleet/certfleet/devicesim"
	onvifsim "github.com/certfleet/certfleet/devicesim/onvif"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/drivers/device/onvif"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/onvifwire"
	"github.com/certfleet/certfleet/pki"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const master = "fleet-master-secret-0123456789"

// simFleet is a fleet of simulated ONVIF cameras on an ephemeral port.
type simFleet struct {
	fleet *devicesim.Fleet
	cams  *onvifsim.Cameras
	srv   *httptest.Server
}

func startSim(t *testing.T) *simFleet {
	t.Helper()
	fleet := devicesim.New(50, "cam-", master)
	cams := onvifsim.New()
	srv := httptest.NewTLSServer(fleet.Handler(cams))
	t.Cleanup(srv.Close)
	return &simFleet{fleet: fleet, cams: cams, srv: srv}
}

func (s *simFleet) device(n int) device.Device {
	id := s.fleet.DeviceID(n)
	user, password := s.fleet.CameraAccount()
	return device.Device{
		ID: id, Address: s.srv.URL + "/onvif/" + id + "/device_service",
		Credential: secret.Secret{Kind: secret.Password, Username: user, Value: password},
	}
}

func (s *simFleet) setFaults(t *testing.T, id, faults string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, s.srv.URL+"/devices/"+id+"/faults", strings.NewReader(faults))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+master)
	resp, err := s.srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// certfleetObjects counts what certfleet created on a camera.
func (s *simFleet) certfleetObjects(t *testing.T, id string) (keys, certs, paths int) {
	t.Helper()
	inv, err := s.cams.Inventory(id)
	require.NoError(t, err)
	for _, k := range inv.Keys {
		if strings.HasPrefix(k.Alias, "certfleet/") {
			keys++
		}
	}
	for _, c := range inv.Certs {
		if strings.HasPrefix(c.Alias, "certfleet/") {
			certs++
		}
	}
	for _, p := range inv.Paths {
		if strings.HasPrefix(p.Alias, "certfleet/") {
			paths++
		}
	}
	return keys, certs, paths
}

func newDriver() (*onvif.Driver, *testenv.MemPins) {
	pins := &testenv.MemPins{}
	return onvif.New(pins, 10*time.Second, onvif.WithKeyPoll(time.Millisecond, 50*time.Millisecond)), pins
}

// issuer takes cameras through CSR and issuance.
type issuer struct{ *testenv.Issuer }

func newIssuer(t *testing.T, pool *pgxpool.Pool) issuer {
	return issuer{testenv.NewIssuer(t, pool, "camera")}
}

func csrRequest(dev device.Device, key pki.KeySpec) pki.CSRRequest {
	return csrRequestFor(dev, pki.CertTypeTLS, key)
}

func csrRequestFor(dev device.Device, certType string, key pki.KeySpec) pki.CSRRequest {
	return pki.CSRRequest{
		CertType: certType, Key: key,
		Subject: pki.CSRSubject{CommonName: dev.ID, Organization: "Example Cameras", Country: "DE"},
		SANs:    pki.CSRSANs{DNS: []string{dev.ID + ".example.net"}, IP: []string{"10.0.4.17"}},
	}
}

// issue takes a device through CSR and issuance, and returns the chain.
func (is issuer) issue(t *testing.T, d device.Driver, dev device.Device, key pki.KeySpec) []*x509.Certificate {
	t.Helper()
	return is.issueFor(t, d, dev, pki.CertTypeTLS, key)
}

func (is issuer) issueFor(t *testing.T, d device.Driver, dev device.Device, certType string, key pki.KeySpec) []*x509.Certificate {
	t.Helper()
	der, err := d.GenerateCSR(context.Background(), dev, csrRequestFor(dev, certType, key))
	require.NoError(t, err)
	csr, err := pki.ParseCSR(der)
	require.NoError(t, err)
	spec, err := pki.SpecOf(csr.PublicKey)
	require.NoError(t, err)
	assert.Equal(t, key, spec)
	assert.Equal(t, dev.ID, csr.Subject.CommonName)
	assert.Equal(t, []string{dev.ID + ".example.net"}, csr.DNSNames)
	return is.IssueAs(t, certType, dev.ID, der)
}

func TestDriverAndSimulatorEndToEnd(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	is := newIssuer(t, pool)
	sim := startSim(t)
	driver, pins := newDriver()
	dev := sim.device(1)

	factory, err := driver.Current(ctx, dev, pki.CertTypeTLS)
	require.NoError(t, err)
	require.NotNil(t, factory, "a camera comes with a factory certificate")
	assert.Equal(t, dev.ID, factory.Subject.CommonName)
	require.Len(t, pins.Get(dev.ID), 32, "pinned on first use")
	dev.TLSPin = pins.Get(dev.ID)

	// First renewal, ECDSA: replaces the factory path, which stays.
	chain := is.issue(t, driver, dev, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	require.NoError(t, driver.Install(ctx, dev, pki.CertTypeTLS, chain))
	current, err := driver.Current(ctx, dev, pki.CertTypeTLS)
	require.NoError(t, err)
	assert.True(t, chain[0].Equal(current), "the camera serves the new certificate")
	inv, err := sim.cams.Inventory(dev.ID)
	require.NoError(t, err)
	assert.NotEqual(t, []string{onvifsim.FactoryPathID}, inv.Assigned)
	keys, certs, paths := sim.certfleetObjects(t, dev.ID)
	assert.Equal(t, [3]int{len(chain), len(chain), 1}, [3]int{keys, certs, paths}, "a key per certificate: the leaf's and the CAs' public keys")

	// A retried Install (at-least-once activity) succeeds and changes nothing.
	require.NoError(t, driver.Install(ctx, dev, pki.CertTypeTLS, chain))
	again, err := sim.cams.Inventory(dev.ID)
	require.NoError(t, err)
	assert.Equal(t, inv, again)

	// Second renewal, RSA: the first certfleet key, certificate and path go,
	// the factory ones stay.
	second := is.issue(t, driver, dev, pki.KeySpec{Algorithm: "rsa", Size: 2048})
	require.NoError(t, driver.Install(ctx, dev, pki.CertTypeTLS, second))
	current, err = driver.Current(ctx, dev, pki.CertTypeTLS)
	require.NoError(t, err)
	assert.True(t, second[0].Equal(current))
	inv, err = sim.cams.Inventory(dev.ID)
	require.NoError(t, err)
	keys, certs, paths = sim.certfleetObjects(t, dev.ID)
	assert.Equal(t, [3]int{len(second), len(second), 1}, [3]int{keys, certs, paths}, "the previous certfleet objects are deleted: %+v", inv)
	for _, c := range inv.Certs {
		assert.False(t, c.Cert.Equal(chain[0]), "the first leaf is deleted")
	}
	ids := map[string]bool{}
	for _, k := range inv.Keys {
		ids[k.ID] = true
	}
	for _, c := range inv.Certs {
		ids[c.ID] = true
	}
	for _, p := range inv.Paths {
		ids[p.ID] = true
	}
	for _, id := range []string{onvifsim.FactoryKeyID, onvifsim.FactoryCertID, onvifsim.FactoryPathID} {
		assert.True(t, ids[id], "factory %s remains", id)
	}

	// Install after a lost answer: the switch happened, the retry tidies.
	require.NoError(t, driver.Install(ctx, dev, pki.CertTypeTLS, second))

	// ECDSA P-384 on another camera, first renewal straight from factory.
	other := sim.device(2)
	third := is.issue(t, driver, other, pki.KeySpec{Algorithm: "ecdsa", Size: 384})
	require.NoError(t, driver.Install(ctx, other, pki.CertTypeTLS, third))
	current, err = driver.Current(ctx, other, pki.CertTypeTLS)
	require.NoError(t, err)
	assert.True(t, third[0].Equal(current))
}

func TestIEEE8021X(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	is := newIssuer(t, pool)
	sim := startSim(t)
	driver, _ := newDriver()
	dev := sim.device(5)
	ieee := pki.CertTypeIEEE8021X

	none, err := driver.Current(ctx, dev, ieee)
	require.NoError(t, err)
	assert.Nil(t, none, "no 802.1X configuration yet")

	first := is.issueFor(t, driver, dev, ieee, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	require.NoError(t, driver.Install(ctx, dev, ieee, first))
	current, err := driver.Current(ctx, dev, ieee)
	require.NoError(t, err)
	assert.True(t, first[0].Equal(current))
	tls, err := driver.Current(ctx, dev, pki.CertTypeTLS)
	require.NoError(t, err)
	assert.Equal(t, dev.ID, tls.Subject.CommonName, "the TLS server keeps its factory certificate")
	inv, err := sim.cams.Inventory(dev.ID)
	require.NoError(t, err)
	require.Len(t, inv.Dot1X, 1)
	assert.Equal(t, onvifwire.EAPTLS, inv.Dot1X[0].Outer.Method)
	assert.Equal(t, dev.ID, inv.Dot1X[0].Outer.Identity)
	assert.Equal(t, inv.Dot1X[0].Dot1XID, inv.Dot1XOnInterface)

	require.NoError(t, driver.Install(ctx, dev, ieee, first), "a retried install succeeds")
	again, err := sim.cams.Inventory(dev.ID)
	require.NoError(t, err)
	assert.Equal(t, inv, again)

	// A TLS renewal beside it leaves the 802.1X objects alone, and the other way round.
	tlsChain := is.issue(t, driver, dev, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	require.NoError(t, driver.Install(ctx, dev, pki.CertTypeTLS, tlsChain))
	current, err = driver.Current(ctx, dev, ieee)
	require.NoError(t, err)
	assert.True(t, first[0].Equal(current))

	second := is.issueFor(t, driver, dev, ieee, pki.KeySpec{Algorithm: "rsa", Size: 2048})
	require.NoError(t, driver.Install(ctx, dev, ieee, second))
	current, err = driver.Current(ctx, dev, ieee)
	require.NoError(t, err)
	assert.True(t, second[0].Equal(current))
	current, err = driver.Current(ctx, dev, pki.CertTypeTLS)
	require.NoError(t, err)
	assert.True(t, tlsChain[0].Equal(current))
	inv, err = sim.cams.Inventory(dev.ID)
	require.NoError(t, err)
	require.Len(t, inv.Dot1X, 1, "the previous 802.1X configuration is deleted")
	count := map[string]int{}
	for _, k := range inv.Keys {
		count["key "+k.Alias]++
	}
	for _, c := range inv.Certs {
		count["cert "+c.Alias]++
		assert.False(t, c.Cert.Equal(first[0]), "the first 802.1X leaf is deleted")
	}
	for _, p := range inv.Paths {
		count["path "+p.Alias]++
	}
	assert.Equal(t, 1, count["key certfleet/ieee8021x"], "%v", count)
	assert.Equal(t, 1, count["key certfleet/tls"], "%v", count)
	assert.Equal(t, 1, count["cert certfleet/ieee8021x"], "%v", count)
	assert.Equal(t, 1, count["cert certfleet/tls"], "%v", count)
	assert.Equal(t, 1, count["path certfleet/ieee8021x"], "%v", count)
	assert.Equal(t, 1, count["path certfleet/tls"], "%v", count)
}

func TestRetriedGenerateCSRDoesNotLeakKeys(t *testing.T) {
	ctx := context.Background()
	sim := startSim(t)
	driver, _ := newDriver()
	dev := sim.device(3)
	req := csrRequest(dev, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	for range 3 {
		_, err := driver.GenerateCSR(ctx, dev, req)
		require.NoError(t, err)
	}
	keys, _, _ := sim.certfleetObjects(t, dev.ID)
	assert.Equal(t, 1, keys, "each CSR replaces the pending key of the last")
}

func TestKeyGenStuck(t *testing.T) {
	ctx := context.Background()
	sim := startSim(t)
	driver, _ := newDriver()
	dev := sim.device(4)
	sim.setFaults(t, dev.ID, `{"keygen_stuck":true}`)
	req := csrRequest(dev, pki.KeySpec{Algorithm: "rsa", Size: 2048})
	for range 4 {
		_, err := driver.GenerateCSR(ctx, dev, req)
		require.Error(t, err)
		assert.False(t, device.IsPermanent(err), "a key still generating may be ready later: %v", err)
		assert.Contains(t, err.Error(), "still generating")
		keys, _, _ := sim.certfleetObjects(t, dev.ID)
		assert.LessOrEqual(t, keys, 1, "retries do not pile up keys")
	}
	sim.setFaults(t, dev.ID, `{}`)
	_, err := driver.GenerateCSR(ctx, dev, req)
	require.NoError(t, err)
	keys, _, _ := sim.certfleetObjects(t, dev.ID)
	assert.Equal(t, 1, keys)
}

func TestErrorClasses(t *testing.T) {
	ctx := context.Background()
	sim := startSim(t)
	driver, pins := newDriver()
	ecdsa := pki.KeySpec{Algorithm: "ecdsa", Size: 256}
	csr := func(dev device.Device) error {
		_, err := driver.GenerateCSR(ctx, dev, csrRequest(dev, ecdsa))
		return err
	}
	permanent := func(t *testing.T, err error, contains string) {
		t.Helper()
		require.Error(t, err)
		assert.True(t, device.IsPermanent(err), "want permanent: %v", err)
		assert.Contains(t, err.Error(), contains)
	}
	transient := func(t *testing.T, err error) {
		t.Helper()
		require.Error(t, err)
		assert.False(t, device.IsPermanent(err), "want transient: %v", err)
	}
	_, password := sim.fleet.CameraAccount()

	t.Run("AuthRefused", func(t *testing.T) {
		dev := sim.device(10)
		sim.setFaults(t, dev.ID, `{"auth_refused":true}`)
		err := csr(dev)
		permanent(t, err, "credential refused")
		assert.NotContains(t, err.Error(), password)
	})
	t.Run("WrongPassword", func(t *testing.T) {
		dev := sim.device(11)
		dev.Credential.Value = "not-the-password"
		err := csr(dev)
		permanent(t, err, "credential refused")
		assert.NotContains(t, err.Error(), "not-the-password")
	})
	t.Run("WrongCredentialKind", func(t *testing.T) {
		dev := sim.device(12)
		dev.Credential = secret.Secret{Kind: secret.Bearer, Value: "token"}
		permanent(t, csr(dev), "password credential")
		dev.Credential = secret.Secret{}
		permanent(t, csr(dev), "no credential")
	})
	t.Run("WrongPin", func(t *testing.T) {
		dev := sim.device(13)
		dev.TLSPin = bytes.Repeat([]byte{7}, 32)
		permanent(t, csr(dev), "does not match its pin")
		assert.Nil(t, pins.Get(dev.ID))
	})
	t.Run("CSRFailure", func(t *testing.T) {
		dev := sim.device(14)
		sim.setFaults(t, dev.ID, `{"csr_failure":true}`)
		permanent(t, csr(dev), "CreatePKCS10CSR")
	})
	t.Run("InstallFailure", func(t *testing.T) {
		dev := sim.device(15)
		_, err := driver.GenerateCSR(ctx, dev, csrRequest(dev, ecdsa))
		require.NoError(t, err)
		sim.setFaults(t, dev.ID, `{"install_failure":true}`)
		theirs, err := driver.Current(ctx, sim.device(23), pki.CertTypeTLS)
		require.NoError(t, err)
		permanent(t, driver.Install(ctx, dev, pki.CertTypeTLS, []*x509.Certificate{theirs}), "simulated install failure")
	})
	t.Run("NoPendingKey", func(t *testing.T) {
		dev := sim.device(16)
		other := sim.device(17)
		theirs, err := driver.Current(ctx, other, pki.CertTypeTLS)
		require.NoError(t, err)
		permanent(t, driver.Install(ctx, dev, pki.CertTypeTLS, []*x509.Certificate{theirs}), "NoMatchingPrivateKey")
	})
	t.Run("Unreachable", func(t *testing.T) {
		dev := sim.device(18)
		sim.setFaults(t, dev.ID, `{"unreachable":true}`)
		transient(t, csr(dev))
	})
	t.Run("Slow", func(t *testing.T) {
		dev := sim.device(24)
		sim.setFaults(t, dev.ID, `{"slow_ms":[1000,1000]}`)
		impatient := onvif.New(&testenv.MemPins{}, 300*time.Millisecond)
		_, err := impatient.Current(ctx, dev, pki.CertTypeTLS)
		transient(t, err)
	})
	t.Run("Flapping", func(t *testing.T) {
		dev := sim.device(19)
		sim.setFaults(t, dev.ID, `{"flap_failures":1}`)
		transient(t, csr(dev))
		require.NoError(t, csr(dev))
	})
	t.Run("UnknownCertType", func(t *testing.T) {
		dev := sim.device(20)
		_, err := driver.GenerateCSR(ctx, dev, pki.CSRRequest{CertType: "codesign", Key: ecdsa})
		permanent(t, err, "codesign")
	})
	t.Run("UnsupportedKey", func(t *testing.T) {
		dev := sim.device(21)
		_, err := driver.GenerateCSR(ctx, dev, pki.CSRRequest{CertType: pki.CertTypeTLS, Key: pki.KeySpec{Algorithm: "ed25519", Size: 256}})
		permanent(t, err, "ed25519")
	})
	t.Run("NotADevice", func(t *testing.T) {
		dev := sim.device(22)
		dev.Address = sim.srv.URL + "/onvif/nope/device_service"
		permanent(t, csr(dev), "HTTP 404")
	})
}

// TestSecurityServiceElsewhere: a device that points the Advanced Security
// service at another host does not get the credential sent there.
func TestSecurityServiceElsewhere(t *testing.T) {
	var calls int
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		out, err := onvifwire.Marshal(nil, &onvifwire.GetServicesResponse{Service: []onvifwire.Service{
			{Namespace: onvifwire.NSTas, XAddr: "https://elsewhere.example/onvif/advancedsecurity_service"},
		}})
		if err != nil {
			panic(err)
		}
		w.Header().Set("Content-Type", onvifwire.ContentType)
		_, _ = w.Write(out)
	}))
	defer srv.Close()
	driver, _ := newDriver()
	dev := device.Device{ID: "cam-x", Address: srv.URL + "/onvif/device_service", Credential: secret.Secret{Kind: secret.Password, Username: "admin", Value: "pw"}}
	_, err := driver.Current(context.Background(), dev, pki.CertTypeTLS)
	require.Error(t, err)
	assert.True(t, device.IsPermanent(err), "%v", err)
	assert.Contains(t, err.Error(), "elsewhere.example")
	assert.Equal(t, 2, calls, "GetSystemDateAndTime (answered with GetServices: the local clock is kept), then GetServices")
}
