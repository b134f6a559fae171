package est_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/credentials/secret"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/drivers/ca/est"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/profiles"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// peer is a running globalsign estserver v1.0.6: an independent EST CA.
type peer struct {
	url      string
	trust    *testpki.CA // signs the server's TLS certificate and accepted client certificates
	dir      string
	settings est.Settings
}

func startPeer(t *testing.T) peer {
	t.Helper()
	binary := testenv.Tool(t, "estserver")
	dir := t.TempDir()
	trust := testpki.NewCA(t, "estserver test TLS CA")
	serverCert, serverKey := trust.Server(t)
	addr := testenv.FreeAddr(t)
	config, err := json.Marshal(map[string]any{"tls": map[string]any{
		"listen_address": addr,
		"certificates":   testpki.Write(t, dir, "server.pem", testpki.CertPEM(serverCert, trust.Cert)),
		"private_key":    testpki.Write(t, dir, "server.key", testpki.KeyPEM(t, serverKey)),
		"client_cas":     []string{testpki.Write(t, dir, "clientca.pem", testpki.CertPEM(trust.Cert))},
	}})
	require.NoError(t, err)
	cmd := exec.Command(binary, "-config", testpki.Write(t, dir, "config.json", config))
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	testenv.WaitListening(t, addr, 20*time.Second)
	return peer{
		url: "https://" + addr, trust: trust, dir: dir,
		settings: est.Settings{URL: "https://" + addr, CAFile: testpki.Write(t, dir, "trust.pem", testpki.CertPEM(trust.Cert))},
	}
}

func profile(t *testing.T, pool *pgxpool.Pool) pki.Profile {
	t.Helper()
	row, err := store.New(pool).CreateProfile(context.Background(), store.CreateProfileParams{
		Name: "upstream", CertType: pki.CertTypeIEEE8021X, DeviceType: "gateway",
		SubjectRules: json.RawMessage(`[{"attr":"CN","rule":"from_csr"}]`), SanRules: json.RawMessage(`[]`),
		ExtraAttributes: json.RawMessage(`[]`), KeyAlgorithms: json.RawMessage(`[{"algorithm":"ecdsa","sizes":[256]}]`),
		Validity: 30 * 24 * time.Hour, RenewBefore: 24 * time.Hour, CaDriver: "est",
		CaSettings: json.RawMessage(`{}`), MaxCaWait: time.Hour,
	})
	require.NoError(t, err)
	p, err := profiles.FromRow(row)
	require.NoError(t, err)
	return p
}

func csr(t *testing.T, key crypto.Signer, cn string) *x509.CertificateRequest {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	require.NoError(t, err)
	parsed, err := pki.ParseCSR(der)
	require.NoError(t, err)
	return parsed
}

func TestEnrollWithBasicAuthAndCACerts(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	p := startPeer(t)
	settings := p.settings
	driver, err := est.New(pool, settings, secret.Secret{Kind: secret.Password, Username: "gateway-ra", Value: "s3cret"}, testenv.KEK(t))
	require.NoError(t, err)

	chain, err := driver.CACertificates(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, chain)
	assert.True(t, chain[0].IsCA)

	key := testpki.NewKey(t)
	prof := profile(t, pool)
	result, err := driver.Submit(ctx, ca.Request{CSR: csr(t, key, "gw-17"), Profile: prof, IdempotencyKey: "job-1/gw-17", DeviceID: ""})
	require.NoError(t, err)
	require.Equal(t, ca.Issued, result.Status)
	assert.Equal(t, "gw-17", result.Certificate.Subject.CommonName)
	assert.True(t, pki.SamePublicKey(key.Public(), result.Certificate.PublicKey))
	require.NoError(t, result.Certificate.CheckSignatureFrom(result.Chain[0]), "the leaf chains to /cacerts")

	again, err := driver.Submit(ctx, ca.Request{CSR: csr(t, key, "gw-17"), Profile: prof, IdempotencyKey: "job-1/gw-17"})
	require.NoError(t, err)
	assert.True(t, result.Certificate.Equal(again.Certificate), "the same key answers from the ledger, without a second enrollment")
	var certificates int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM certificates").Scan(&certificates))
	assert.Equal(t, 1, certificates)
}

func TestEnrollWithClientCertificate(t *testing.T) {
	pool, _ := testenv.Database(t)
	p := startPeer(t)
	clientCert, clientKey := p.trust.Client(t, "certfleet-ra")
	settings := p.settings
	pair := string(testpki.CertPEM(clientCert)) + string(testpki.KeyPEM(t, clientKey))
	driver, err := est.New(pool, settings, secret.Secret{Kind: secret.TLSClient, Value: pair}, testenv.KEK(t))
	require.NoError(t, err)

	result, err := driver.Submit(context.Background(), ca.Request{CSR: csr(t, testpki.NewKey(t), "gw-18"), Profile: profile(t, pool), IdempotencyKey: "job-1/gw-18"})
	require.NoError(t, err)
	assert.Equal(t, ca.Issued, result.Status)
}

// TestDeferredAndRefused uses estserver's test hooks under the label
// "triggererrors": CN "Trigger Error Deferred" gets 202 with Retry-After 600,
// "Trigger Error Forbidden" gets 403.
func TestDeferredAndRefused(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	p := startPeer(t)
	settings := p.settings
	settings.Label = "triggererrors"
	driver, err := est.New(pool, settings, secret.Secret{}, testenv.KEK(t))
	require.NoError(t, err)
	prof := profile(t, pool)

	pending, err := driver.Submit(ctx, ca.Request{CSR: csr(t, testpki.NewKey(t), "Trigger Error Deferred"), Profile: prof, IdempotencyKey: "job-2/a"})
	require.NoError(t, err)
	assert.Equal(t, ca.Pending, pending.Status)
	assert.Equal(t, 600*time.Second, pending.RetryAfter)
	polled, err := driver.Poll(ctx, pending.RequestID)
	require.NoError(t, err)
	assert.Equal(t, ca.Pending, polled.Status)
	assert.Equal(t, pending.RequestID, polled.RequestID)

	refused, err := driver.Submit(ctx, ca.Request{CSR: csr(t, testpki.NewKey(t), "Trigger Error Forbidden"), Profile: prof, IdempotencyKey: "job-2/b"})
	require.NoError(t, err)
	assert.Equal(t, ca.Rejected, refused.Status)
	assert.Contains(t, refused.Reason, "HTTP 403")
}

// TestOutageIsTransientAndFreesTheRequest: an unreachable server is worth
// retrying, and the failed call leaves the request pending and unleased, so
// the retry asks the server again at once.
func TestOutageIsTransientAndFreesTheRequest(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	driver, err := est.New(pool, est.Settings{URL: "https://" + testenv.FreeAddr(t)}, secret.Secret{}, testenv.KEK(t))
	require.NoError(t, err)

	req := ca.Request{CSR: csr(t, testpki.NewKey(t), "gw-19"), Profile: profile(t, pool), IdempotencyKey: "job-3/gw-19"}
	for range 2 {
		_, err = driver.Submit(ctx, req)
		require.Error(t, err)
		assert.False(t, ca.IsPermanent(err), "an unreachable CA is worth retrying: %v", err)
	}
	var status string
	var leased bool
	require.NoError(t, pool.QueryRow(ctx, "SELECT status, lease_until IS NOT NULL FROM ca_requests").Scan(&status, &leased))
	assert.Equal(t, "pending", status)
	assert.False(t, leased, "the lease is released, so the retry was not told to wait")
}

// TestServerCallsRunOutsideTransactions: while a worker waits on the EST
// server, the request's row is not locked (another transaction can update
// it at once), and a second worker is told to come back instead of asking
// the server twice.
func TestServerCallsRunOutsideTransactions(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	slow := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		close(entered)
		<-release
		w.WriteHeader(http.StatusAccepted)
	}))
	defer slow.Close()
	defer close(release)
	trustFile := testpki.Write(t, t.TempDir(), "ca.pem", testpki.CertPEM(slow.Certificate()))
	driver, err := est.New(pool, est.Settings{URL: slow.URL, CAFile: trustFile}, secret.Secret{}, testenv.KEK(t))
	require.NoError(t, err)
	req := ca.Request{CSR: csr(t, testpki.NewKey(t), "gw-20"), Profile: profile(t, pool), IdempotencyKey: "job-4/gw-20"}
	go driver.Submit(ctx, req) //nolint:errcheck // the server never answers before the test ends
	<-entered

	lockCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tag, err := pool.Exec(lockCtx, "UPDATE ca_requests SET updated_at = now() WHERE idempotency_key = 'job-4/gw-20'")
	require.NoError(t, err, "no transaction holds the row during the call")
	assert.EqualValues(t, 1, tag.RowsAffected(), "the claim is committed before the call")
	second, err := driver.Submit(lockCtx, req)
	require.NoError(t, err)
	assert.Equal(t, ca.Pending, second.Status)
	assert.Positive(t, second.RetryAfter)
	assert.EqualValues(t, 1, calls.Load(), "only one worker asks the server")
}

func TestSettingsAreChecked(t *testing.T) {
	for name, raw := range map[string]string{
		"not https":           `{"url":"http://ca.example.net"}`,
		"unknown field":       `{"url":"https://ca.example.net","pasword":"x"}`,
		"a secret's file":     `{"url":"https://ca.example.net","client_key_file":"/etc/certfleet/kek"}`,
		"a secret's variable": `{"url":"https://ca.example.net","username":"ra","password_env":"CERTFLEET_KEK"}`,
	} {
		_, err := est.ParseSettings([]byte(raw))
		assert.Error(t, err, name)
	}
	s, err := est.ParseSettings([]byte(`{"url":"https://ca.example.net:8443","label":"devices","credential":"upstream-ra"}`))
	require.NoError(t, err)
	assert.Equal(t, "devices", s.Label)
	assert.Equal(t, "upstream-ra", s.Credential)
}
