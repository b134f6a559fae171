package onvif_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/credentials/secret"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/drivers/device/onvif"
	"github.com/certfleet/certfleet/httpdigest"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/onvifwire"
	"github.com/certfleet/certfleet/pki"
)

// renew takes dev through a whole TLS renewal and checks the camera serves the result.
func renew(t *testing.T, is issuer, d device.Driver, dev device.Device) {
	t.Helper()
	ctx := context.Background()
	_, err := d.Current(ctx, dev, pki.CertTypeTLS)
	require.NoError(t, err)
	chain := is.issue(t, d, dev, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	require.NoError(t, d.Install(ctx, dev, pki.CertTypeTLS, chain))
	current, err := d.Current(ctx, dev, pki.CertTypeTLS)
	require.NoError(t, err)
	assert.True(t, chain[0].Equal(current), "the camera serves the new certificate")
}

// postLocal sends GetAllKeys to dev's Advanced Security service with a
// UsernameToken created on the local clock, as a driver without the clock
// offset would, and returns the fault if any.
func (s *simFleet) postLocal(t *testing.T, dev device.Device) *onvifwire.Fault {
	t.Helper()
	sec, err := onvifwire.NewSecurity(dev.Credential.Username, dev.Credential.Value, time.Now())
	require.NoError(t, err)
	msg, err := onvifwire.Marshal(sec, &onvifwire.GetAllKeys{})
	require.NoError(t, err)
	resp, err := s.srv.Client().Post(s.srv.URL+"/onvif/"+dev.ID+"/advancedsecurity_service", onvifwire.ContentType, bytes.NewReader(msg))
	require.NoError(t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	require.NoError(t, err)
	env, err := onvifwire.Unmarshal(buf.Bytes(), func(xml.Name) (any, error) { return &onvifwire.GetAllKeysResponse{}, nil })
	require.NoError(t, err)
	return env.Fault
}

func TestCameraClockOffset(t *testing.T) {
	pool, _ := testenv.Database(t)
	is := newIssuer(t, pool)
	sim := startSim(t)
	driver, _ := newDriver()

	ahead := sim.device(30)
	sim.cams.SetClockSkew(ahead.ID, 2*time.Hour)
	f := sim.postLocal(t, ahead)
	require.NotNil(t, f, "a token of the local clock is refused by a camera two hours ahead")
	assert.True(t, f.Has("NotAuthorized"), "%v", f)
	renew(t, is, driver, ahead)
	calls := sim.cams.Calls(ahead.ID)
	assert.Equal(t, 4, calls["GetSystemDateAndTime"], "asked once per operation (Current, GenerateCSR, Install, Current): %v", calls)

	behind := sim.device(31)
	sim.cams.SetClockSkew(behind.ID, -3*time.Hour)
	require.NotNil(t, sim.postLocal(t, behind))
	_, err := driver.Current(context.Background(), behind, pki.CertTypeTLS)
	require.NoError(t, err, "a camera three hours behind")

	// The clock moves between operations: the next operation follows it.
	sim.cams.SetClockSkew(behind.ID, 0)
	_, err = driver.Current(context.Background(), behind, pki.CertTypeTLS)
	require.NoError(t, err)
}

// TestWrongPasswordOnSkewedCamera: with the camera's clock right, a refused
// token is still a refused credential, permanent and without the password.
func TestWrongPasswordOnSkewedCamera(t *testing.T) {
	sim := startSim(t)
	driver, _ := newDriver()
	dev := sim.device(32)
	sim.cams.SetClockSkew(dev.ID, 2*time.Hour)
	dev.Credential.Value = "not-the-password"
	_, err := driver.Current(context.Background(), dev, pki.CertTypeTLS)
	require.Error(t, err)
	assert.True(t, device.IsPermanent(err), "%v", err)
	assert.Contains(t, err.Error(), "credential refused")
	assert.NotContains(t, err.Error(), "not-the-password")
}

func TestHTTPDigest(t *testing.T) {
	pool, _ := testenv.Database(t)
	is := newIssuer(t, pool)
	sim := startSim(t)
	driver, _ := newDriver()

	dev := sim.device(33)
	sim.cams.RequireHTTPDigest(dev.ID, true)
	renew(t, is, driver, dev)

	t.Run("WithClockSkew", func(t *testing.T) {
		dev := sim.device(34)
		sim.cams.RequireHTTPDigest(dev.ID, true)
		sim.cams.SetClockSkew(dev.ID, 2*time.Hour)
		renew(t, is, driver, dev)
	})
	t.Run("WrongPassword", func(t *testing.T) {
		dev := sim.device(35)
		sim.cams.RequireHTTPDigest(dev.ID, true)
		dev.Credential.Value = "not-the-password"
		_, err := driver.GenerateCSR(context.Background(), dev, csrRequest(dev, pki.KeySpec{Algorithm: "ecdsa", Size: 256}))
		require.Error(t, err)
		assert.True(t, device.IsPermanent(err), "%v", err)
		assert.Contains(t, err.Error(), "refused the credential (HTTP 401 to an HTTP Digest answer)")
		assert.NotContains(t, err.Error(), "not-the-password")
		assert.Equal(t, 2, sim.cams.Calls(dev.ID)["GetServices"], "one challenge, one answer, no retries")
	})
}

// TestServiceAddressCached: the Advanced Security address from GetServices
// is remembered across operations, and forgotten when a call to it fails.
func TestServiceAddressCached(t *testing.T) {
	ctx := context.Background()
	sim := startSim(t)
	driver, _ := newDriver()
	dev := sim.device(36)

	_, err := driver.Current(ctx, dev, pki.CertTypeTLS)
	require.NoError(t, err)
	assert.Equal(t, 1, sim.cams.Calls(dev.ID)["GetServices"])
	sim.cams.ResetCalls(dev.ID)
	_, err = driver.GenerateCSR(ctx, dev, csrRequest(dev, pki.KeySpec{Algorithm: "ecdsa", Size: 256}))
	require.NoError(t, err)
	calls := sim.cams.Calls(dev.ID)
	assert.Zero(t, calls["GetServices"], "the second operation does not ask GetServices: %v", calls)
	assert.Equal(t, 1, calls["GetSystemDateAndTime"], "but still reads the clock: %v", calls)
	assert.Equal(t, 1, calls["CreatePKCS10CSR"])

	// Another address of the same device is another entry.
	moved := dev
	moved.Address = sim.srv.URL + "/onvif/" + dev.ID + "/device_service?moved"
	sim.cams.ResetCalls(dev.ID)
	_, err = driver.Current(ctx, moved, pki.CertTypeTLS)
	require.NoError(t, err)
	assert.Equal(t, 1, sim.cams.Calls(dev.ID)["GetServices"])

	// A failed call at the remembered address forgets it.
	theirs, err := driver.Current(ctx, sim.device(37), pki.CertTypeTLS)
	require.NoError(t, err)
	require.Error(t, driver.Install(ctx, dev, pki.CertTypeTLS, []*x509.Certificate{theirs}), "no key for this certificate")
	sim.cams.ResetCalls(dev.ID)
	_, err = driver.Current(ctx, dev, pki.CertTypeTLS)
	require.NoError(t, err)
	assert.Equal(t, 1, sim.cams.Calls(dev.ID)["GetServices"], "asked again after the failure")

	// Without the cache every operation asks.
	uncached := onvif.New(&testenv.MemPins{}, 10*time.Second, onvif.WithServiceCache(0, 0))
	sim.cams.ResetCalls(dev.ID)
	for range 2 {
		_, err = uncached.Current(ctx, dev, pki.CertTypeTLS)
		require.NoError(t, err)
	}
	assert.Equal(t, 2, sim.cams.Calls(dev.ID)["GetServices"])
}

// TestNeverBasic: a camera that offers only Basic gets no password, in clear
// or otherwise; its 401 is a refused credential.
func TestNeverBasic(t *testing.T) {
	var mu sync.Mutex
	var authorizations []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		authorizations = append(authorizations, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="camera"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	driver, _ := newDriver()
	dev := device.Device{ID: "cam-basic", Address: srv.URL + "/onvif/device_service", Credential: secret.Secret{Kind: secret.Password, Username: "admin", Value: "pw-in-clear"}}
	_, err := driver.Current(context.Background(), dev, pki.CertTypeTLS)
	require.Error(t, err)
	assert.True(t, device.IsPermanent(err), "%v", err)
	assert.Contains(t, err.Error(), "credential refused (HTTP 401)")
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"", ""}, authorizations, "GetSystemDateAndTime and GetServices, neither with an Authorization header")
}

// TestDigestStaleBounded: a camera that calls every Digest answer stale is
// answered a bounded number of times, then refused for good.
func TestDigestStaleBounded(t *testing.T) {
	digest := httpdigest.NewServer("camera")
	var mu sync.Mutex
	var plain, answered int
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("Authorization") == "" {
			plain++
			digest.Challenge(w, false)
		} else {
			answered++
			digest.Challenge(w, true)
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	driver, _ := newDriver()
	dev := device.Device{ID: "cam-stale", Address: srv.URL + "/onvif/device_service", Credential: secret.Secret{Kind: secret.Password, Username: "admin", Value: "pw"}}
	_, err := driver.Current(context.Background(), dev, pki.CertTypeTLS)
	require.Error(t, err)
	assert.True(t, device.IsPermanent(err), "%v", err)
	assert.Contains(t, err.Error(), "stale")
	assert.Contains(t, err.Error(), "GetSystemDateAndTime")
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, [2]int{1, 3}, [2]int{plain, answered})
}
