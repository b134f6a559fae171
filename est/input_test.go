package est_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/est"
	"github.com/certfleet/certfleet/estwire"
)

// lockedLog is a log the server writes from its handlers' goroutines.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestCredentialsPostgresCannotStore: a Basic username or password holding
// NUL or bytes that are not UTF-8, and such a label, are refused with a 4xx
// text before any query (Postgres refuses such text, which used to end in a
// 500), and, as the caller proved nothing, nothing is logged at ERROR. A
// wrong secret is told apart from a missing one.
func TestCredentialsPostgresCannotStore(t *testing.T) {
	logs := &lockedLog{}
	w := newWorld(t, worldOption{server: func(s *est.Server) {
		s.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}})
	w.device(t, "cam-1", "password", "password-cam-1-0123")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	body := estwire.EncodeBase64(csr(t, key, "cam-1").Raw)

	for _, c := range []struct {
		name, path, user, pass string
		status                 int
		says                   string
	}{
		{"NUL in the username", "cams/simpleenroll", "cam\x00-1", "password-cam-1-0123", 400, "username (the device ID) holds a NUL character"},
		{"invalid UTF-8 in the username", "cams/simpleenroll", "cam-\xff", "password-cam-1-0123", 400, "username (the device ID) is not valid UTF-8"},
		{"NUL in the password", "cams/simpleenroll", "cam-1", "pass\x00word", 400, "password holds a NUL character"},
		{"invalid UTF-8 in the password", "cams/simpleenroll", "cam-1", "pass\xc3\x28word", 400, "password is not valid UTF-8"},
		{"NUL in the label", "ca%00ms/simpleenroll", "cam-1", "password-cam-1-0123", 404, "no EST label"},
		{"invalid UTF-8 in the label", "ca%FFms/simpleenroll", "cam-1", "password-cam-1-0123", 404, "no EST label"},
		{"NUL in the label of cacerts", "ca%00ms/cacerts", "", "", 404, "no EST label"},
		{"a wrong password", "cams/simpleenroll", "cam-1", "password-cam-1-9999", 401, "the device ID and enrollment secret were refused"},
		{"an unknown device", "cams/simpleenroll", "cam-9", "password-cam-1-0123", 401, "the device ID and enrollment secret were refused"},
		{"no credentials", "cams/simpleenroll", "", "", 401, "device ID and enrollment secret required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var resp *http.Response
			var text string
			if c.user == "" && c.pass == "" && c.status == http.StatusNotFound { // cacerts: a GET without credentials
				r, err := w.client(t).Get(w.url + "/" + c.path)
				require.NoError(t, err)
				data, err := io.ReadAll(r.Body)
				r.Body.Close()
				require.NoError(t, err)
				resp, text = r, string(data)
			} else {
				resp, text = w.post(t, c.path, c.user, c.pass, body, nil)
			}
			assert.Equal(t, c.status, resp.StatusCode, text)
			assert.Contains(t, text, c.says)
		})
	}
	assert.NotContains(t, logs.String(), "level=ERROR", "a client's bad credentials are no server error")
	assert.Zero(t, w.count(t, `SELECT count(*) FROM ca_requests`), "nothing was enrolled")
}

// TestRepeatedRequestForACertificateNoLongerActive: a repeated request finds
// its enrollment, whose certificate has since been superseded or revoked;
// it is refused with a 409 saying so, not answered with that certificate.
func TestRepeatedRequestForACertificateNoLongerActive(t *testing.T) {
	w := newWorld(t)
	w.device(t, "cam-1", "password", "password-cam-1-0123")
	first, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	second, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	firstCSR := estwire.EncodeBase64(csr(t, first, "cam-1").Raw)
	secondCSR := estwire.EncodeBase64(csr(t, second, "cam-1").Raw)
	enroll := func(body []byte) (*http.Response, string) {
		return w.post(t, "cams/simpleenroll", "cam-1", "password-cam-1-0123", body, nil)
	}

	resp, text := enroll(firstCSR)
	require.Equal(t, http.StatusOK, resp.StatusCode, text)
	resp, text = enroll(firstCSR)
	require.Equal(t, http.StatusOK, resp.StatusCode, "a retry while the certificate is active gets it again: %s", text)

	resp, text = enroll(secondCSR) // supersedes the first certificate
	require.Equal(t, http.StatusOK, resp.StatusCode, text)
	resp, text = enroll(firstCSR)
	assert.Equal(t, http.StatusConflict, resp.StatusCode, text)
	assert.Contains(t, text, "superseded by a newer certificate")
	assert.Contains(t, text, "enroll again with a new key pair")

	_, err = w.pool.Exec(context.Background(), `UPDATE certificates SET status = 'revoked', revoked_at = now(), revocation_reason = 1
		WHERE device_id = 'cam-1' AND status = 'active'`)
	require.NoError(t, err)
	resp, text = enroll(secondCSR)
	assert.Equal(t, http.StatusConflict, resp.StatusCode, text)
	assert.Contains(t, text, "revoked (reason: keyCompromise)")
	assert.Equal(t, 2, w.count(t, `SELECT count(*) FROM certificates WHERE device_id = 'cam-1'`), "no certificate was issued for a refused repeat")
}
