package local_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	xocsp "golang.org/x/crypto/ocsp"

	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/ocspresponder"
	"github.com/certfleet/certfleet/pki"
)

// ocspWorld is the built-in CA with its OCSP responder and CA Issuers
// files served by the API's router on a loopback port, and the URL written
// into the certificates it issues.
type ocspWorld struct {
	ca      *local.CA
	url     string
	dir     string
	rootPEM string
	issuing string // the issuing CA's PEM file
	profile pki.Profile
}

func newOCSPWorld(t *testing.T) *ocspWorld {
	t.Helper()
	pool, _ := testenv.Database(t)
	handler := http.NewServeMux()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	c, _ := testenv.BuiltinCA(t, pool, local.Options{PublicURL: srv.URL})
	responder := ocspresponder.New(ocspresponder.Options{Path: local.OCSPPath, Validity: time.Hour}, ocspresponder.Static{c})
	handler.Handle("/", api.New(api.Deps{Logger: slog.New(slog.DiscardHandler), CRLs: local.SetOf(c), OCSP: responder, CAIssuers: local.SetOf(c)}))
	w := &ocspWorld{ca: c, url: srv.URL, dir: t.TempDir(), profile: cameraProfile(t, pool, "cameras", false)}
	issuing, root := c.Certificates()
	w.rootPEM = writeFile(t, w.dir, "root.pem", pki.EncodeCertificatesPEM(root))
	w.issuing = writeFile(t, w.dir, "issuing.pem", pki.EncodeCertificatesPEM(issuing))
	return w
}

func (w *ocspWorld) issue(t *testing.T, cn string) (*x509.Certificate, string) {
	t.Helper()
	result, err := w.ca.Submit(context.Background(), ca.Request{CSR: newCSR(t, ecKey(t), cn), Profile: w.profile, IdempotencyKey: "ocsp/" + cn})
	require.NoError(t, err)
	require.Equal(t, ca.Issued, result.Status)
	return result.Certificate, writeFile(t, w.dir, cn+".pem", pki.EncodeCertificatesPEM(result.Certificate))
}

// opensslOCSP asks the responder about one certificate the way a relying
// party does (POST, with a nonce) and returns what openssl printed.
func (w *ocspWorld) opensslOCSP(t *testing.T, issuer string, cert ...string) string {
	t.Helper()
	args := append([]string{"ocsp", "-issuer", issuer, "-url", w.url + local.OCSPPath, "-CAfile", w.rootPEM, "-resp_text"}, cert...)
	return openssl(t, args...)
}

// TestOCSPWithOpenSSL: every certificate names the responder and its CA
// certificate in its AIA; openssl gets good, then revoked with its reason
// at once after a revocation, and unknown for a serial the CA never issued
// and for a CA certfleet does not run; each answer verifies against the
// root alone, through the delegated signer it carries, and echoes the nonce.
func TestOCSPWithOpenSSL(t *testing.T) {
	ctx := context.Background()
	w := newOCSPWorld(t)
	leaf, leafPEM := w.issue(t, "cam-101")

	require.Equal(t, []string{w.url + "/ocsp"}, leaf.OCSPServer)
	require.Len(t, leaf.IssuingCertificateURL, 1)
	resp, err := http.Get(leaf.IssuingCertificateURL[0])
	require.NoError(t, err)
	der, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, "application/pkix-cert", resp.Header.Get("Content-Type"))
	issuing, _ := w.ca.Certificates()
	assert.Equal(t, issuing.Raw, der, "the CA Issuers URL serves the issuing CA, DER")
	require.NoError(t, leaf.CheckSignatureFrom(issuing))

	out := w.opensslOCSP(t, w.issuing, "-cert", leafPEM)
	assert.Contains(t, out, leafPEM+": good")
	assert.Contains(t, out, "Response verify OK")
	assert.Contains(t, out, "OCSP Nonce", "the nonce is echoed among the response extensions")
	assert.NotContains(t, out, "WARNING")
	assert.Contains(t, out, "OCSP Signing", "signed by a delegated signer, which the answer carries")
	assert.Contains(t, out, "OCSP No Check")

	require.NoError(t, w.ca.Revoke(ctx, leaf, ca.ReasonKeyCompromise))
	out = w.opensslOCSP(t, w.issuing, "-cert", leafPEM)
	assert.Contains(t, out, leafPEM+": revoked")
	assert.Contains(t, out, "Reason: keyCompromise")
	assert.Contains(t, out, "Response verify OK")

	out = w.opensslOCSP(t, w.issuing, "-serial", "0x1234567890abcdef")
	assert.Contains(t, out, ": unknown", "a serial the CA never issued")
	assert.Contains(t, out, "Response verify OK")

	other := testpki.NewCA(t, "Factory CA")
	otherLeaf, _ := other.Client(t, "cam-102")
	otherIssuer := writeFile(t, w.dir, "other-ca.pem", testpki.CertPEM(other.Cert))
	otherPEM := writeFile(t, w.dir, "other-leaf.pem", testpki.CertPEM(otherLeaf))
	// The answer is signed by certfleet's signer, not the factory CA's, so
	// openssl cannot verify it; it still reads the status.
	out = opensslMayFail(t, "ocsp", "-issuer", otherIssuer, "-cert", otherPEM, "-url", w.url+"/ocsp", "-CAfile", w.rootPEM, "-resp_text")
	assert.Contains(t, out, otherPEM+": unknown", "a CA certfleet does not run: unknown, never good")
}

// TestOCSPOverGET: a GET answer (RFC 5019) is cacheable until its next
// update, reused while the status holds, and replaced the moment the
// certificate is revoked; the same request without a nonce over POST gets
// the same answer; bad requests get a malformedRequest answer and 400.
func TestOCSPOverGET(t *testing.T) {
	ctx := context.Background()
	w := newOCSPWorld(t)
	leaf, _ := w.issue(t, "cam-201")
	issuing, _ := w.ca.Certificates()
	reqDER, err := xocsp.CreateRequest(leaf, issuing, &xocsp.RequestOptions{Hash: crypto.SHA256})
	require.NoError(t, err)
	get := func() (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get(w.url + "/ocsp/" + url.PathEscape(base64.StdEncoding.EncodeToString(reqDER)))
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%x", body)
		return resp, body
	}

	resp, first := get()
	assert.Equal(t, "application/ocsp-response", resp.Header.Get("Content-Type"))
	assert.Regexp(t, `^max-age=(3[0-5]\d\d|3600), public, no-transform, must-revalidate$`, resp.Header.Get("Cache-Control"))
	parsed, err := xocsp.ParseResponseForCert(first, leaf, issuing)
	require.NoError(t, err, "x/crypto/ocsp reads and verifies the answer too")
	assert.Equal(t, xocsp.Good, parsed.Status)
	assert.WithinDuration(t, time.Now().Add(time.Hour), parsed.NextUpdate, time.Minute)
	_, second := get()
	assert.Equal(t, first, second, "a signed answer is reused while its status holds")

	post, err := http.Post(w.url+"/ocsp", "application/ocsp-request", strings.NewReader(string(reqDER)))
	require.NoError(t, err)
	posted, _ := io.ReadAll(post.Body)
	post.Body.Close()
	assert.Equal(t, first, posted)
	assert.Equal(t, "no-store", post.Header.Get("Cache-Control"), "POST answers are not for shared caches")

	require.NoError(t, w.ca.Revoke(ctx, leaf, ca.ReasonCessationOfOperation))
	_, third := get()
	parsed, err = xocsp.ParseResponseForCert(third, leaf, issuing)
	require.NoError(t, err)
	assert.Equal(t, xocsp.Revoked, parsed.Status, "the revocation shows in the next answer, cache or not")
	assert.Equal(t, xocsp.CessationOfOperation, parsed.RevocationReason)

	for name, r := range map[string]func() (*http.Response, error){
		"garbage POST": func() (*http.Response, error) {
			return http.Post(w.url+"/ocsp", "application/ocsp-request", strings.NewReader("not DER"))
		},
		"GET, not base64": func() (*http.Response, error) { return http.Get(w.url + "/ocsp/@@@") },
		"GET, truncated": func() (*http.Response, error) {
			return http.Get(w.url + "/ocsp/" + url.PathEscape(base64.StdEncoding.EncodeToString(reqDER[:20])))
		},
	} {
		resp, err := r()
		require.NoError(t, err, name)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, name)
		_, err = xocsp.ParseResponse(body, nil)
		assert.ErrorIs(t, err, xocsp.ResponseError{Status: xocsp.Malformed}, "%s: a malformedRequest answer", name)
	}
}

// opensslMayFail runs openssl where a non-zero exit is part of what is
// checked, and returns everything it printed.
func opensslMayFail(t *testing.T, args ...string) string {
	t.Helper()
	out, _ := exec.Command("openssl", args...).CombinedOutput()
	return string(out)
}
