package httpdigest_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/httpdigest"
)

// TestSession: a request goes bare until the server challenges, then answers
// the challenge; a 401 to the answer is a refusal unless the nonce was stale,
// and stale nonces are answered a bounded number of times.
func TestSession(t *testing.T) {
	server := httpdigest.NewServer("camera")
	var s httpdigest.Session
	send := func(password string) *http.Request {
		req := httptest.NewRequest(http.MethodPost, "/onvif/device_service", nil)
		require.NoError(t, s.Authorize(req, "admin", password))
		return req
	}
	challenge := func(stale bool) http.Header {
		w := httptest.NewRecorder()
		server.Challenge(w, stale)
		return w.Header()
	}

	assert.Empty(t, send("secret").Header.Get("Authorization"), "no answer before a challenge")
	require.NoError(t, s.Challenged(challenge(false), 0))
	req := send("secret")
	assert.Equal(t, httpdigest.OK, server.Verify(req, "admin", "secret"))
	assert.NotContains(t, req.Header.Get("Authorization"), "secret")

	assert.ErrorIs(t, s.Challenged(challenge(false), 1), httpdigest.ErrRefused, "a fresh challenge after an answer")
	require.NoError(t, s.Challenged(challenge(true), 1), "a stale nonce is answered again")
	require.NoError(t, s.Challenged(challenge(true), 2))
	assert.ErrorIs(t, s.Challenged(challenge(true), 3), httpdigest.ErrStaleLoop)
	err := s.Challenged(http.Header{"Www-Authenticate": {`Basic realm="x"`}}, 0)
	require.Error(t, err, "never Basic")
	assert.NotErrorIs(t, err, httpdigest.ErrRefused)
}
