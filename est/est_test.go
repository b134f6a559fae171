package est_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/certfleet/certfleet/estwire"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/pki/trust"
)

// TestInteropWithGlobalsignClient drives globalsign's independent estclient
// v1.0.6 through every operation, with EC P-256 and RSA 2048 keys.
func TestInteropWithGlobalsignClient(t *testing.T) {
	w := newWorld(t)
	t.Run("cacerts and csrattrs", func(t *testing.T) {
		out := filepath.Join(w.dir, "cacerts.pem")
		text, err := w.estclient(t, "cacerts", "-aps", "cams", "-out", out)
		require.NoError(t, err, text)
		data, err := os.ReadFile(out)
		require.NoError(t, err)
		certs, err := pki.ParseCertificatesPEM(data)
		require.NoError(t, err)
		issuing, root := w.ca.Certificates()
		require.Len(t, certs, 2)
		assert.True(t, certs[0].Equal(issuing) && certs[1].Equal(root), "cacerts is the issuing CA, then the root")

		text, err = w.estclient(t, "csrattrs", "-aps", "cams")
		require.NoError(t, err, text)
		for _, oid := range []string{"1.2.840.10045.2.1", "1.2.840.10045.3.1.7", "1.2.840.10045.4.3.2", "1.2.840.113549.1.1.1"} {
			assert.Contains(t, text, oid)
		}
	})
	for _, alg := range []string{"ec", "rsa"} {
		t.Run(alg+"/otp, reenroll, serverkeygen", func(t *testing.T) { w.enrollRenewAndGenerate(t, alg) })
		t.Run(alg+"/zero-touch", func(t *testing.T) { w.zeroTouch(t, alg) })
	}
	t.Run("runs are listed under the device's DeviceId", func(t *testing.T) {
		query := `DeviceId = "cam-ec" AND CertJobId = "est"`
		require.Eventually(t, func() bool {
			resp, err := w.temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
			return err == nil && len(resp.Executions) >= 3
		}, 30*time.Second, 200*time.Millisecond, "enroll, reenroll and serverkeygen runs of cam-ec in visibility")
	})
}

func (w *world) enrollRenewAndGenerate(t *testing.T, alg string) {
	dev, otp := "cam-"+alg, "otp-"+alg+"-0123"
	w.device(t, dev, "otp", otp)
	_, keyPath := w.key(t, alg, dev+".key")
	first := filepath.Join(w.dir, dev+".pem")
	out, err := w.estclient(t, "enroll", "-aps", "cams", "-key", keyPath, "-cn", dev, "-user", dev, "-pass", otp, "-out", first)
	require.NoError(t, err, out)
	cert := readCert(t, first)
	assert.Equal(t, dev, cert.Subject.CommonName)
	assert.Equal(t, []string{"Acme"}, cert.Subject.Organization, "the profile's fixed O")
	w.opensslVerify(t, first)
	assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM devices WHERE id = $1 AND mode = 'OPERATIONAL'`, dev))
	assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM certificates c JOIN device_profiles p USING (device_id) WHERE c.device_id = $1 AND c.sha256 = $2`, dev, pki.Fingerprint(cert)))

	_, otherKey := w.key(t, alg, dev+"-other.key")
	out, err = w.estclient(t, "enroll", "-aps", "cams", "-key", otherKey, "-cn", dev, "-user", dev, "-pass", otp, "-out", filepath.Join(w.dir, "replay.pem"))
	require.Error(t, err, "a replayed OTP")
	assert.Contains(t, out, "this OTP was used already")
	otherCSR, _ := w.key(t, alg, dev+"-third.key")
	resp, _ := w.post(t, "cams/simpleenroll", dev, otp, estwire.EncodeBase64(csr(t, otherCSR, dev).Raw), nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a replayed OTP")

	renewed := filepath.Join(w.dir, dev+"-renewed.pem")
	out, err = w.estclient(t, "reenroll", "-aps", "cams", "-key", keyPath, "-certs", first, "-out", renewed)
	require.NoError(t, err, out)
	next := readCert(t, renewed)
	assert.NotEqual(t, cert.SerialNumber, next.SerialNumber)
	assert.Equal(t, cert.Subject.String(), next.Subject.String())
	w.opensslVerify(t, renewed)
	assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM certificates WHERE sha256 = $1 AND status = 'revoked' AND revocation_reason = 4`, pki.Fingerprint(cert)),
		"re-enrollment revokes the certificate it renews as superseded")

	out, err = w.estclient(t, "reenroll", "-aps", "cams", "-key", keyPath, "-certs", first, "-out", filepath.Join(w.dir, "again.pem"))
	require.Error(t, err, "re-enrollment with a revoked certificate")
	assert.Contains(t, out, "the client certificate is revoked")
	assert.Equal(t, http.StatusForbidden, w.statusWithCertificate(t, "cams/simplereenroll", first, keyPath))

	password := "password-" + alg + "-0123456789"
	w.secret(t, dev, "password", password)
	keyOut, certOut := filepath.Join(w.dir, dev+"-skg.key"), filepath.Join(w.dir, dev+"-skg.pem")
	args := []string{"-aps", "cams", "-user", dev, "-pass", password, "-out", certOut, "-keyout", keyOut}
	if alg == "rsa" { // estclient signs its own CSR with EC; ask for RSA with an RSA CSR
		key, _ := w.key(t, alg, "csr-signing.key")
		args = append(args, "-csr", testpki.Write(t, w.dir, dev+"-skg.csr", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr(t, key, dev).Raw})))
	} else {
		args = append(args, "-cn", dev)
	}
	out, err = w.estclient(t, "serverkeygen", args...)
	require.NoError(t, err, out)
	generated := readCert(t, certOut)
	keyPEM, err := os.ReadFile(keyOut)
	require.NoError(t, err)
	block, _ := pem.Decode(keyPEM)
	require.NotNil(t, block)
	key, err := pki.ParsePrivateKey(block.Bytes)
	require.NoError(t, err)
	assert.True(t, pki.SamePublicKey(key.Public(), generated.PublicKey), "the key returned is the certified one")
	spec, err := pki.SpecOf(key.Public())
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"ec": "ecdsa-256", "rsa": "rsa-2048"}[alg], spec.String())
	w.opensslVerify(t, certOut)
	assertNoKeyStored(t, w, key)
	if alg == "ec" {
		ids := w.enrollmentIDs(t, dev)
		require.Len(t, ids, 3, "enroll, reenroll, serverkeygen")
		w.replayHistories(t, map[string]string{"issued.json": ids[0], "reenrolled.json": ids[1], "serverkeygen.json": ids[2]})
	}
}

// assertNoKeyStored checks that no table holds the generated private key:
// neither its PKCS#8 encoding nor its secret number.
func assertNoKeyStored(t *testing.T, w *world, key crypto.Signer) {
	t.Helper()
	pkcs8, err := pki.MarshalPrivateKey(key)
	require.NoError(t, err)
	var secret []byte
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		secret = k.D.Bytes()
	case *rsa.PrivateKey:
		secret = k.D.Bytes()[:32]
	}
	for _, table := range []string{"certificates", "ca_requests", "audit_log", "devices", "enrollment_credentials"} {
		n := w.count(t, `SELECT count(*) FROM `+table+` t WHERE strpos(t::text, $1) > 0 OR strpos(t::text, $2) > 0 OR strpos(t::text, $3) > 0`,
			hex.EncodeToString(pkcs8[len(pkcs8)/2:][:32]), hex.EncodeToString(secret), base64.StdEncoding.EncodeToString(pkcs8)[40:80])
		assert.Zero(t, n, "the generated key appears in %s", table)
	}
}

func (w *world) zeroTouch(t *testing.T, alg string) {
	ctx := context.Background()
	factory := testpki.NewCA(t, "Acme Factory CA "+alg)
	anchor := testenv.ProvenAnchor(t, w.trust, factory, trust.Upload{Name: "factory-" + alg, AutoRegister: true, NameMapping: "CN"})
	dev := "factory-" + alg
	fcert, fkey := factory.Client(t, dev)
	certPath := testpki.Write(t, w.dir, dev+"-idevid.pem", testpki.CertPEM(fcert))
	keyPath := testpki.Write(t, w.dir, dev+"-idevid.key", testpki.KeyPEM(t, fkey))
	enroll := func(name string) (string, error) {
		opKey, _ := w.key(t, alg, name+".key")
		csrPath := testpki.Write(t, w.dir, name+".csr", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr(t, opKey, dev).Raw}))
		return w.estclient(t, "enroll", "-aps", "cams", "-certs", certPath, "-key", keyPath, "-csr", csrPath, "-out", filepath.Join(w.dir, name+".pem"))
	}

	out, err := enroll(dev + "-op1")
	require.NoError(t, err, out)
	w.opensslVerify(t, filepath.Join(w.dir, dev+"-op1.pem"))
	assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM devices WHERE id = $1 AND mode = 'OPERATIONAL' AND driver = 'est' AND factory_cert_sha256 = $2`, dev, pki.Fingerprint(fcert)),
		"registered on first contact, then made operational")
	assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM audit_log WHERE action = 'device.auto_register' AND $1 = ANY(object_ids)`, dev))
	assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM devices d JOIN ca_requests r ON r.device_id = d.id
		JOIN audit_log a ON a.action = 'device.auto_register' AND d.id = ANY(a.object_ids)
		WHERE d.id = $1 AND a.xmin = r.xmin`, dev), "registered (the audit row tells) in the transaction that recorded the CA request")

	namesake, namesakeKey := factory.Client(t, dev) // another factory certificate naming the same device
	namesakeCert := testpki.Write(t, w.dir, dev+"-namesake.pem", testpki.CertPEM(namesake))
	namesakeKeyPath := testpki.Write(t, w.dir, dev+"-namesake.key", testpki.KeyPEM(t, namesakeKey))
	requests := w.count(t, `SELECT count(*) FROM ca_requests`)
	assert.Equal(t, http.StatusConflict, w.statusWithCertificate(t, "cams/simpleenroll", namesakeCert, namesakeKeyPath))
	assert.Equal(t, requests, w.count(t, `SELECT count(*) FROM ca_requests`), "refused before anything is written")

	out, err = enroll(dev + "-op2")
	require.NoError(t, err, out)
	assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM devices WHERE factory_cert_sha256 = $1`, pki.Fingerprint(fcert)), "re-provisioning finds the device")
	assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM certificates WHERE device_id = $1 AND status = 'active'`, dev), "the second certificate supersedes the first")

	require.NoError(t, w.trust.SetEnabled(ctx, anchor.ID, false))
	out, err = enroll(dev + "-op3")
	require.Error(t, err, "a factory certificate under a disabled anchor")
	assert.Contains(t, out, "disabled trust anchor")
	assert.Equal(t, http.StatusForbidden, w.statusWithCertificate(t, "cams/simpleenroll", certPath, keyPath))
}

// TestApprovalMode: a request the CA holds gets 202 with Retry-After; once an
// operator approves it, the device's retry gets the certificate.
func TestApprovalMode(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.device(t, "cam-approve", "password", "password-approve-0123")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	request := func() (*http.Response, string) {
		// Re-signed on every try, as a device would: the enrollment is still the same.
		return w.post(t, "approve/simpleenroll", "cam-approve", "password-approve-0123", estwire.EncodeBase64(csr(t, key, "cam-approve").Raw), nil)
	}
	resp, body := request()
	require.Equal(t, http.StatusAccepted, resp.StatusCode, body)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))

	var requestID string
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT id::text FROM ca_requests WHERE device_id = 'cam-approve' AND status = 'pending'`).Scan(&requestID))
	_, err = w.ca.Approve(ctx, requestID, "tester", nil)
	require.NoError(t, err)

	deadline := time.Now().Add(30 * time.Second)
	for resp.StatusCode == http.StatusAccepted && time.Now().Before(deadline) {
		wait, err := time.ParseDuration(resp.Header.Get("Retry-After") + "s")
		require.NoError(t, err)
		time.Sleep(wait) // the client honours Retry-After, as EST clients do
		resp, body = request()
	}
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	certs, err := estwire.ParseCertsOnly([]byte(body))
	require.NoError(t, err)
	assert.True(t, pki.SamePublicKey(key.Public(), certs[0].PublicKey))
	assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM ca_requests WHERE device_id = 'cam-approve'`), "the retries were one enrollment")
	w.replayHistories(t, map[string]string{"approved-after-pending.json": w.enrollmentIDs(t, "cam-approve")[0]})
}

// post sends an EST request with Basic credentials; headers may add or
// override Content-Type.
func (w *world) post(t *testing.T, path, user, pass string, body []byte, headers map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, w.url+"/"+path, strings.NewReader(string(body)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", estwire.TypePKCS10)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := w.client(t).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(data)
}

func (w *world) client(t *testing.T, certificates ...tls.Certificate) *http.Client {
	t.Helper()
	_, root := w.ca.Certificates()
	pool := x509.NewCertPool()
	pool.AddCert(root)
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certificates}}}
}

// statusWithCertificate posts a fresh CSR, for the certificate's subject,
// with the certificate as the TLS client certificate, and returns the status.
func (w *world) statusWithCertificate(t *testing.T, path, certPath, keyPath string) int {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	require.NoError(t, err)
	cert := readCert(t, certPath)
	key, _ := w.key(t, "ec", "status.key")
	resp, err := w.client(t, pair).Post(w.url+"/"+path, estwire.TypePKCS10, strings.NewReader(string(estwire.EncodeBase64(csr(t, key, cert.Subject.CommonName).Raw))))
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestRawExchange speaks EST with curl and openssl alone: an unwrapped
// base64 request without Content-Transfer-Encoding over TLS 1.2, and the
// response's exact headers and line wrapping.
func TestRawExchange(t *testing.T) {
	w := newWorld(t)
	w.device(t, "cam-curl", "password", "password-curl-0123")
	run := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		require.NoError(t, err, "%s %v: %s", name, args, out)
		return string(out)
	}
	d := w.dir
	run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", d+"/curl.key",
		"-subj", "/CN=cam-curl", "-outform", "DER", "-out", d+"/curl.csr.der")
	der, err := os.ReadFile(d + "/curl.csr.der")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(d+"/curl.csr.b64", []byte(base64.StdEncoding.EncodeToString(der)), 0o600))
	run("curl", "-sS", "--fail-with-body", "--tls-max", "1.2", "--cacert", w.rootPEM, "-u", "cam-curl:password-curl-0123",
		"-H", "Content-Type: application/pkcs10", "--data-binary", "@"+d+"/curl.csr.b64",
		"-D", d+"/headers.txt", "-o", d+"/body.b64", w.url+"/cams/simpleenroll")

	headers, err := os.ReadFile(d + "/headers.txt")
	require.NoError(t, err)
	body, err := os.ReadFile(d + "/body.b64")
	require.NoError(t, err)
	assert.Contains(t, string(headers), "\r\nContent-Type: application/pkcs7-mime; smime-type=certs-only\r\n")
	assert.Contains(t, string(headers), "\r\nContent-Transfer-Encoding: base64\r\n")
	assert.Contains(t, string(headers), "\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n")
	lines := strings.Split(strings.TrimSuffix(string(body), "\r\n"), "\r\n")
	require.Greater(t, len(lines), 1, "the body is wrapped")
	for _, line := range lines {
		assert.LessOrEqual(t, len(line), 76)
		assert.NotContains(t, line, "\n")
	}
	run("openssl", "base64", "-d", "-in", d+"/body.b64", "-out", d+"/body.p7")
	run("openssl", "pkcs7", "-inform", "DER", "-in", d+"/body.p7", "-print_certs", "-out", d+"/curl.pem")
	w.opensslVerify(t, d+"/curl.pem")

	// cacerts over TLS 1.3, with the chain openssl can read.
	run("curl", "-sS", "--fail-with-body", "--tlsv1.3", "--cacert", w.rootPEM, "-D", d+"/cacerts-headers.txt", "-o", d+"/cacerts.b64", w.url+"/cacerts")
	headers, err = os.ReadFile(d + "/cacerts-headers.txt")
	require.NoError(t, err)
	assert.Contains(t, string(headers), "\r\nContent-Type: application/pkcs7-mime\r\n")
	run("openssl", "base64", "-d", "-in", d+"/cacerts.b64", "-out", d+"/cacerts.p7")
	assert.Equal(t, 2, strings.Count(run("openssl", "pkcs7", "-inform", "DER", "-in", d+"/cacerts.p7", "-print_certs"), "BEGIN CERTIFICATE"))
}
