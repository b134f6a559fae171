package agent_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/drivers/device/agent"
	"github.com/certfleet/certfleet/internal/testenv"
)

// TestRedirectsAreNotFollowed: a device that redirects, even with 307 to the
// same host, gets neither the credential nor the body to the other address;
// the call fails permanently and pins nothing.
func TestRedirectsAreNotFollowed(t *testing.T) {
	var reached, withCredential atomic.Int32
	elsewhere := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		if r.Header.Get("Authorization") != "" {
			withCredential.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer elsewhere.Close()
	redirecting := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirecting.Close()

	pins := &testenv.MemPins{}
	driver := agent.New(pins, 5*time.Second)
	for name, dev := range map[string]device.Device{
		"first contact": {ID: "gw-redirect", Address: redirecting.URL, Credential: agentSecret},
		"pinned":        {ID: "gw-redirect", Address: redirecting.URL, Credential: agentSecret, TLSPin: pinOf(t, redirecting.URL)},
	} {
		_, err := driver.GenerateCSR(context.Background(), dev, ecRequest)
		require.Error(t, err, name)
		assert.True(t, device.IsPermanent(err), "%s: a redirect is permanent: %v", name, err)
		assert.Contains(t, err.Error(), "redirected (307)", name)
	}
	assert.Zero(t, reached.Load(), "the redirect target received no request")
	assert.Zero(t, withCredential.Load(), "the redirect target received no credential")
	assert.Nil(t, pins.Get("gw-redirect"), "a redirect pins nothing")
}

// TestPinOnlyAfterTheCredentialWasAccepted: answers that did not accept the
// credential (401, 500) leave the device unpinned; the first 2xx pins it.
func TestPinOnlyAfterTheCredentialWasAccepted(t *testing.T) {
	failing := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer failing.Close()
	simURL, _ := startSim(t, 3)
	pins := &testenv.MemPins{}
	driver := agent.New(pins, 5*time.Second)
	ctx := context.Background()

	wrongCredential := simDevice(simURL, "sim-00001")
	wrongCredential.Credential = agentSecret
	_, err := driver.GenerateCSR(ctx, wrongCredential, ecRequest)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "401")
	_, err = driver.GenerateCSR(ctx, device.Device{ID: "gw-500", Address: failing.URL, Credential: agentSecret}, ecRequest)
	require.Error(t, err)
	assert.False(t, device.IsPermanent(err), "a 500 is transient: %v", err)
	assert.Nil(t, pins.Get("sim-00001"), "neither a 401 nor a 500 pins the device")

	_, err = driver.GenerateCSR(ctx, simDevice(simURL, "sim-00001"), ecRequest)
	require.NoError(t, err)
	assert.Equal(t, pinOf(t, simURL), pins.Get("sim-00001"), "the first accepted call pins the device")
}
