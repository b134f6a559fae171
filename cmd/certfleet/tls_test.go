package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/config"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
)

// listenWatcher is a log handler that reports the address of the first
// "<what> listening" record: the moment a server accepts connections,
// without polling for it.
type listenWatcher struct {
	what string
	addr chan string
}

func (w listenWatcher) Enabled(context.Context, slog.Level) bool { return true }
func (w listenWatcher) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w listenWatcher) WithGroup(string) slog.Handler            { return w }
func (w listenWatcher) Handle(_ context.Context, r slog.Record) error {
	if r.Message != w.what+" listening" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "addr" {
			select {
			case w.addr <- a.Value.String():
			default:
			}
		}
		return true
	})
	return nil
}

// TestAPIServesHTTPSOnly runs `certfleet serve` in process with
// CERTFLEET_API_TLS_CERT and _KEY set, on an ephemeral port: the API answers
// over HTTPS with that certificate, refuses plain HTTP and TLS before 1.2.
func TestAPIServesHTTPSOnly(t *testing.T) {
	_, databaseURL := testenv.Database(t)
	temporalAddr, _ := testenv.Temporal(t, testenv.TemporalOptions{})
	ca := testpki.NewCA(t, "API test CA")
	cert, key := ca.Server(t)
	dir := t.TempDir()
	vars := map[string]string{
		"DATABASE_URL": databaseURL, "TEMPORAL_ADDRESS": temporalAddr, "CERTFLEET_API_ADDR": "127.0.0.1:0", "CERTFLEET_METRICS_ADDR": "127.0.0.1:0",
		"CERTFLEET_KEK_FILE":     filepath.Join(dir, "certfleet.kek"),
		"CERTFLEET_API_TLS_CERT": testpki.Write(t, dir, "api.pem", testpki.CertPEM(cert)),
		"CERTFLEET_API_TLS_KEY":  testpki.Write(t, dir, "api.key", testpki.KeyPEM(t, key)),
	}
	cfg, err := config.Load("serve", []string{"-est-addr="}, func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, io.Discard)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	watcher := listenWatcher{what: "API", addr: make(chan string, 1)}
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(watcher), roles["serve"]) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done, "serve stops cleanly")
	})
	var addr string
	select {
	case addr = <-watcher.addr:
	case err := <-done:
		t.Fatalf("serve ended before the API listened: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the API did not start listening within a minute")
	}

	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	httpsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}, Timeout: 10 * time.Second}
	resp, err := httpsClient.Get("https://" + addr + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotNil(t, resp.TLS)
	assert.Equal(t, cert.Raw, resp.TLS.PeerCertificates[0].Raw, "the configured certificate")

	resp, err = http.Get("http://" + addr + "/healthz")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "plain HTTP is refused")
	assert.Contains(t, string(body), "HTTP request to an HTTPS server")

	old, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err == nil {
		old.Close()
	}
	assert.Error(t, err, "TLS 1.1 is refused")
}

func TestAPITLSNeedsReadableFiles(t *testing.T) {
	none, err := apiTLS(config.TLSFiles{})
	require.NoError(t, err)
	assert.Nil(t, none, "no certificate: plain HTTP")
	_, err = apiTLS(config.TLSFiles{Cert: "/nonexistent/api.pem", Key: "/nonexistent/api.key"})
	assert.ErrorContains(t, err, "api-tls-cert /nonexistent/api.pem")
}

// TestMakeRunBindsLoopback: `make run` and `make cluster` expose the API,
// and their printed admin token, on loopback only unless CERTFLEET_API_ADDR
// says otherwise, and their banner shows the address they really use.
func TestMakeRunBindsLoopback(t *testing.T) {
	scripts := filepath.Join(testenv.RepoRoot(t), "scripts")
	shared, err := os.ReadFile(filepath.Join(scripts, "stack.sh"))
	require.NoError(t, err)
	assert.Contains(t, string(shared), "export CERTFLEET_API_ADDR=${CERTFLEET_API_ADDR:-127.0.0.1:8080}")
	assert.Contains(t, string(shared), `API_URL=$(api_url "$CERTFLEET_API_ADDR")`, "the banner follows the address and scheme")
	for _, script := range []string{"run.sh", "cluster.sh", "stack.sh"} {
		out, err := exec.Command("bash", "-n", filepath.Join(scripts, script)).CombinedOutput()
		assert.NoError(t, err, "bash -n %s: %s", script, out)
	}
}
