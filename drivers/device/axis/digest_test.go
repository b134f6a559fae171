package axis_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/credentials/secret"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/drivers/device/axis"
	"github.com/certfleet/certfleet/httpdigest"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/vapixwire"
)

// A camera whose first nonce goes stale: the driver answers the new
// challenge without failing, and never sends Basic or a bare password.
func TestStaleNonceIsAnsweredAgain(t *testing.T) {
	const password = "camera-password-0042"
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		mu.Lock()
		seen = append(seen, auth)
		mu.Unlock()
		if auth == "" {
			w.Header().Add("WWW-Authenticate", `Basic realm="cam"`)
			w.Header().Add("WWW-Authenticate", `Digest realm="cam", nonce="first", qop="auth", algorithm=MD5`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		a, err := httpdigest.ParseAuthorization(auth)
		if err != nil || a.Nonce == "first" {
			w.Header().Add("WWW-Authenticate", `Digest realm="cam", nonce="second", qop="auth", algorithm=SHA-256, stale=true`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", vapixwire.SOAPContentType)
		body, _ := vapixwire.MarshalEnvelope(vapixwire.Body{GetWebServerTlsConfigurationResponse: &vapixwire.GetWebServerTlsConfigurationResponse{}})
		_, _ = w.Write(body)
	}))
	defer srv.Close()

	driver := axis.New(&testenv.MemPins{}, 5*time.Second)
	dev := device.Device{ID: "cam-stale", Address: srv.URL, Credential: secret.Secret{Kind: secret.Password, Username: "root", Value: password}}
	current, err := driver.Current(context.Background(), dev, pki.CertTypeTLS)
	require.NoError(t, err)
	assert.Nil(t, current, "nothing bound to HTTPS")

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 3)
	assert.Empty(t, seen[0], "the first request carries no credential")
	for _, h := range seen[1:] {
		assert.True(t, strings.HasPrefix(h, "Digest "), h)
		assert.NotContains(t, h, password)
	}
	assert.Contains(t, seen[1], "algorithm=MD5")
	assert.Contains(t, seen[2], "algorithm=SHA-256")
}

// A camera that offers only Basic is refused before any password is sent.
func TestBasicOnlyCameraIsRefused(t *testing.T) {
	var authorized atomic.Bool
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			authorized.Store(true)
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="cam"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	driver := axis.New(&testenv.MemPins{}, 5*time.Second)
	dev := device.Device{ID: "cam-basic", Address: srv.URL, Credential: secret.Secret{Kind: secret.Password, Username: "root", Value: "pw"}}
	_, err := driver.Current(context.Background(), dev, pki.CertTypeTLS)
	requirePermanent(t, err)
	assert.False(t, authorized.Load(), "no Authorization header was ever sent")
}
