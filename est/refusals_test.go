package est_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/estwire"
)

// TestUnauthenticatedGetsBasicChallenge reads the raw response: the header
// name must be written "WWW-Authenticate", which Go's client would hide.
func TestUnauthenticatedGetsBasicChallenge(t *testing.T) {
	w := newWorld(t)
	_, root := w.ca.Certificates()
	pool := x509.NewCertPool()
	pool.AddCert(root)
	conn, err := tls.Dial("tcp", w.host, &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS12})
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /.well-known/est/cams/simpleenroll HTTP/1.1\r\nHost: "+w.host+
		"\r\nContent-Type: application/pkcs10\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	require.NoError(t, err)
	raw, err := io.ReadAll(bufio.NewReader(conn))
	require.NoError(t, err)
	response := string(raw)
	assert.True(t, strings.HasPrefix(response, "HTTP/1.1 401 "), response)
	assert.Contains(t, response, "\r\nWWW-Authenticate: Basic realm=\"certfleet EST\"")
	assert.Contains(t, response, "\r\nContent-Length: ")
}

// TestBadRequestsChangeNothing sends what a broken or hostile client might:
// each gets a 4xx with a text body saying what was wrong, and no device,
// certificate, CA request or spent OTP is left behind.
func TestBadRequestsChangeNothing(t *testing.T) {
	w := newWorld(t)
	w.device(t, "cam-1", "otp", "otp-cam-1-0123")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	good := csr(t, key, "cam-1").Raw
	badSignature := append([]byte{}, good...)
	badSignature[len(badSignature)-3] ^= 0xff

	cases := []struct {
		name, path, user, pass string
		body                   []byte
		headers                map[string]string
		status                 int
		says                   string
	}{
		{"not base64", "cams/simpleenroll", "cam-1", "otp-cam-1-0123", []byte("!!not base64!!"), nil, 400, "not base64"},
		{"empty body", "cams/simpleenroll", "cam-1", "otp-cam-1-0123", nil, nil, 400, "empty"},
		{"base64 of garbage", "cams/simpleenroll", "cam-1", "otp-cam-1-0123", estwire.EncodeBase64([]byte("garbage")), nil, 400, "PKCS#10"},
		{"bad CSR signature", "cams/simpleenroll", "cam-1", "otp-cam-1-0123", estwire.EncodeBase64(badSignature), nil, 400, "signature"},
		{"wrong content type", "cams/simpleenroll", "cam-1", "otp-cam-1-0123", estwire.EncodeBase64(good), map[string]string{"Content-Type": "text/plain"}, 415, "application/pkcs10"},
		{"oversize body", "cams/simpleenroll", "cam-1", "otp-cam-1-0123", []byte(strings.Repeat("A", 70<<10)), nil, 413, "bytes"},
		{"CSR for another device", "cams/simpleenroll", "cam-1", "otp-cam-1-0123", estwire.EncodeBase64(csr(t, key, "cam-2").Raw), nil, 403, "belongs to device cam-1"},
		{"key type the profile refuses", "cams/simpleenroll", "cam-1", "otp-cam-1-0123", estwire.EncodeBase64(csr(t, p384, "cam-1").Raw), nil, 400, "profile"},
		{"wrong secret", "cams/simpleenroll", "cam-1", "otp-cam-1-9999", estwire.EncodeBase64(good), nil, 401, "secret"},
		{"unknown device", "cams/simpleenroll", "cam-9", "otp-cam-1-0123", estwire.EncodeBase64(good), nil, 401, "secret"},
		{"reenroll without a certificate", "cams/simplereenroll", "cam-1", "otp-cam-1-0123", estwire.EncodeBase64(good), nil, 403, "TLS client certificate"},
		{"address outside the label's networks", "lan-only/simpleenroll", "cam-1", "otp-cam-1-0123", estwire.EncodeBase64(good), nil, 403, "client address"},
		{"unknown label", "nope/simpleenroll", "cam-1", "otp-cam-1-0123", estwire.EncodeBase64(good), nil, 404, "no EST label"},
		{"SQL in the label", "x'%3BDROP%20TABLE%20devices--/simpleenroll", "cam-1", "otp-cam-1-0123", estwire.EncodeBase64(good), nil, 404, "no EST label"},
	}
	before := w.snapshot(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := w.post(t, c.path, c.user, c.pass, c.body, c.headers)
			assert.Equal(t, c.status, resp.StatusCode, body)
			assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
			assert.Contains(t, body, c.says)
		})
	}
	resp, err := w.client(t).Get(w.url + "/cams/simpleenroll")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, before, w.snapshot(t), "refused requests changed nothing")

	// The OTP still works after all that.
	resp, body := w.post(t, "cams/simpleenroll", "cam-1", "otp-cam-1-0123", estwire.EncodeBase64(good), nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode, body)
}

// snapshot counts what a request could create or spend.
func (w *world) snapshot(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for name, query := range map[string]string{
		"devices":      `SELECT count(*) FROM devices`,
		"certificates": `SELECT count(*) FROM certificates`,
		"ca_requests":  `SELECT count(*) FROM ca_requests`,
		"spent OTPs":   `SELECT count(*) FROM enrollment_credentials WHERE used_at IS NOT NULL`,
		"audit":        `SELECT count(*) FROM audit_log`,
	} {
		out[name] = w.count(t, query)
	}
	return out
}
