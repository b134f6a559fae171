package scep_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/pki"
)

// TestInteropWithScepclient drives Debian's scepclient (micromdm) through
// what a device does: enroll with an OTP, renew with the certificate it got,
// enroll an ECDSA key with a one-time challenge from the API, and wait out a
// request the CA holds until an operator approves it. Every certificate
// passes openssl verify and is in the inventory.
func TestInteropWithScepclient(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)

	t.Run("OTP, then renewal", func(t *testing.T) {
		w.device(t, "phone-1", "otp", "otp-phone-1-0123")
		dir := t.TempDir()
		out, err := w.scepclient(t, dir, "phones", "-cn", "phone-1", "-challenge", "otp-phone-1-0123")
		require.NoError(t, err, out)
		w.record(t, "pkcsreq.der")
		first := filepath.Join(dir, "client.pem")
		w.opensslVerify(t, first)
		cert := readCert(t, first)
		assert.Equal(t, "phone-1", cert.Subject.CommonName)
		assert.Equal(t, []string{"Acme"}, cert.Subject.Organization, "the profile's fixed O")
		assert.IsType(t, &rsa.PublicKey{}, cert.PublicKey)
		assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM certificates WHERE device_id = 'phone-1' AND status = 'active' AND sha256 = $1`, pki.Fingerprint(cert)))

		// scepclient renews when client.pem exists: a RenewalReq signed with
		// it, and no challenge.
		firstPEM, err := os.ReadFile(first)
		require.NoError(t, err)
		out, err = w.scepclient(t, dir, "phones", "-cn", "phone-1")
		require.NoError(t, err, out)
		w.record(t, "renewalreq.der")
		w.opensslVerify(t, first)
		renewed := readCert(t, first)
		assert.NotEqual(t, cert.SerialNumber, renewed.SerialNumber, "a new certificate")
		assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM certificates WHERE device_id = 'phone-1' AND status = 'active' AND sha256 = $1`, pki.Fingerprint(renewed)))
		assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM certificates WHERE device_id = 'phone-1' AND status <> 'active' AND sha256 = $1`, pki.Fingerprint(cert)), "the renewed certificate is superseded")
		assert.Equal(t, 2, w.count(t, `SELECT count(*) FROM ca_requests WHERE device_id = 'phone-1' AND idempotency_key LIKE 'scep/phone-1/%'`), "an enrollment and a renewal")

		// The first certificate, superseded, renews nothing.
		require.NoError(t, os.WriteFile(first, firstPEM, 0o600))
		out, err = w.scepclient(t, dir, "phones", "-cn", "phone-1")
		require.Error(t, err, out)
		assert.Contains(t, out, "badRequest")
	})

	t.Run("ECDSA key with a one-time challenge", func(t *testing.T) {
		w.device(t, "phone-2", "", "")
		w.challenge(t, "0123456789abcdef0123456789abcdef", "phone-2")
		dir := t.TempDir()
		// The CSR is the device's, for an ECDSA key; scepclient signs the
		// message with an RSA key of its own, which SCEP encrypts the answer to.
		ecKey := filepath.Join(dir, "ec.pem")
		run(t, "openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", ecKey)
		config := filepath.Join(dir, "req.cnf")
		require.NoError(t, os.WriteFile(config, []byte("[req]\nprompt = no\ndistinguished_name = dn\nattributes = attrs\n[dn]\nCN = phone-2\n[attrs]\nchallengePassword = 0123456789abcdef0123456789abcdef\n"), 0o600))
		run(t, "openssl", "req", "-new", "-key", ecKey, "-config", config, "-out", filepath.Join(dir, "csr.pem"))
		out, err := w.scepclient(t, dir, "phones", "-cn", "phone-2")
		require.NoError(t, err, out)
		path := filepath.Join(dir, "client.pem")
		w.opensslVerify(t, path)
		cert := readCert(t, path)
		require.IsType(t, &ecdsa.PublicKey{}, cert.PublicKey)
		assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM certificates WHERE device_id = 'phone-2' AND status = 'active'`))
		assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM scep_challenges WHERE device_id = 'phone-2' AND used_for LIKE 'scep/phone-2/%'`), "the challenge is spent")
		w.assertChallengeSealed(t, "phone-2", "0123456789abcdef0123456789abcdef")
	})

	t.Run("pending until approved", func(t *testing.T) {
		w.device(t, "phone-3", "otp", "otp-phone-3-0123")
		dir := t.TempDir()
		client := exec.Command(testenv.Command(t, "scepclient"), "-private-key", filepath.Join(dir, "key.pem"), "-server-url", w.url+"/scep/approve",
			"-ca-fingerprint", w.raFingerprint(t), "-cn", "phone-3", "-challenge", "otp-phone-3-0123")
		output := &lockedBuffer{}
		client.Stdout, client.Stderr = output, output
		require.NoError(t, client.Start())
		done := make(chan error, 1)
		go func() { done <- client.Wait() }()

		var requestID string
		require.Eventually(t, func() bool {
			return w.pool.QueryRow(ctx, `SELECT id::text FROM ca_requests WHERE device_id = 'phone-3' AND status = 'pending'`).Scan(&requestID) == nil
		}, 30*time.Second, 100*time.Millisecond, "the request waits for approval")
		require.Eventually(t, func() bool { return strings.Contains(output.String(), "PENDING") }, 30*time.Second, 100*time.Millisecond, "the client was told PENDING")
		_, err := w.ca.Approve(ctx, requestID, "tester", nil)
		require.NoError(t, err)
		// scepclient asks again after 30 seconds.
		select {
		case err := <-done:
			require.NoError(t, err, output.String())
		case <-time.After(90 * time.Second):
			t.Fatalf("scepclient did not finish: %s", output.String())
		}
		w.opensslVerify(t, filepath.Join(dir, "client.pem"))
		assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM certificates WHERE device_id = 'phone-3' AND status = 'active'`))
		w.assertChallengeSealed(t, "phone-3", "otp-phone-3-0123")
		assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM ca_requests WHERE device_id = 'phone-3'`), "the retries were one enrollment")
	})
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	require.NoError(t, err, string(out))
}

// lockedBuffer collects a running command's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
