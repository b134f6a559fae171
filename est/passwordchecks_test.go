package est_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/est"
	"github.com/certfleet/certfleet/estwire"
)

// TestBusyPasswordChecksGet503 holds the only argon2id slot from the test:
// a Basic-auth request then gets 503 with Retry-After and a text body, for a
// known device as for an unknown one, and changes nothing; once the slot is
// free, the same request enrolls.
func TestBusyPasswordChecksGet503(t *testing.T) {
	checks := auth.NewSecretChecks(1, 0, time.Hour)
	w := newWorld(t, worldOption{server: func(s *est.Server) { s.SecretChecks = checks }})
	w.device(t, "cam-busy", "otp", "otp-busy-0123")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	body := estwire.EncodeBase64(csr(t, key, "cam-busy").Raw)

	release, err := checks.Acquire(context.Background())
	require.NoError(t, err)
	before := w.snapshot(t)
	for _, user := range []string{"cam-busy", "cam-unknown"} {
		resp, text := w.post(t, "cams/simpleenroll", user, "otp-busy-0123", body, nil)
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s: %s", user, text)
		assert.Equal(t, "1", resp.Header.Get("Retry-After"), user)
		assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"), user)
		assert.Contains(t, text, "too many password checks", user)
	}
	assert.Equal(t, before, w.snapshot(t), "busy requests changed nothing")

	release()
	resp, text := w.post(t, "cams/simpleenroll", "cam-busy", "otp-busy-0123", body, nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode, text)
}
