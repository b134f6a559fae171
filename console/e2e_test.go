package console_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/console"
	"github.com/certfleet/certfleet/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// simSecret is the simulated fleet's master secret: each device's
// credential derives from it, and the console enters it as a credential.
const simSecret = "console-e2e-fleet-secret-0123456789abcdef"

// TestConsoleInChromium runs e2e/console.mjs (playwright-core driving
// Debian's Chromium) against a real stack: `certfleet all` built from this
// tree with the console embedded, a Temporal dev server, Postgres and a
// simulated fleet with one device whose CSRs fail. The script goes through
// every operator task of the console and an auditor's refusals; this test
// then checks in Postgres that what the pages showed happened, and that every
// view left a screenshot (in CERTFLEET_SCREENSHOTS when it is set).
func TestConsoleInChromium(t *testing.T) {
	if !console.Built() {
		testenv.Unavailable(t, "the built web console (run `make console`)", errors.New("console/dist/app/index.html is missing"))
	}
	chromium := testenv.Command(t, "chromium")
	node := testenv.Command(t, "node")
	if _, err := os.Stat("node_modules/playwright-core"); err != nil {
		testenv.Unavailable(t, "playwright-core (run `make console`)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	stack := startStack(t, ctx)
	simURL, _ := testenv.DeviceSim(t, 10, simSecret)
	resp := testenv.SimAdmin(t, simURL, simSecret, http.MethodPut, "/devices/sim-00005/faults", map[string]bool{"csr_failure": true})
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "the simulated fault is set")
	caCert, caKey := factoryCA(t)

	shots := os.Getenv("CERTFLEET_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	shots, err := filepath.Abs(shots)
	require.NoError(t, err)
	cmd := exec.CommandContext(ctx, node, "e2e/console.mjs")
	cmd.Env = append(os.Environ(), "BASE_URL="+stack.url, "EST_URL="+stack.est, "ADMIN_TOKEN="+stack.admin, "AUDITOR_TOKEN="+stack.auditor,
		"SIM_URL="+simURL, "SIM_SECRET="+simSecret, "CA_CERT="+caCert, "CA_KEY="+caKey, "CHROMIUM="+chromium, "SCREENSHOTS="+shots)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s\ncertfleet's log:\n%s", out, stack.proc.Output())
	t.Logf("%s", out)

	for _, view := range []string{"sign-in", "sign-in-refused", "credentials", "profile-refused", "profile", "profiles", "device-import",
		"devices", "job-running", "ca-requests", "job", "job-failed-items", "jobs", "certificate", "certificates", "trust-anchor-refused",
		"trust-anchors", "dashboard", "device", "est-labels", "renewal-policies", "audit", "tokens", "devices-missing", "auditor-trust-anchors", "stations", "station", "webhooks", "webhook"} {
		info, err := os.Stat(filepath.Join(shots, view+".png"))
		if assert.NoError(t, err, view) {
			assert.Greater(t, info.Size(), int64(5000), "%s is a real screenshot", view)
		}
	}
	checkWhatHappened(t, ctx, stack.pool)
}

// checkWhatHappened reads Postgres: the pages' changes were made, once each,
// the refused ones left nothing, and the auditor changed nothing.
func checkWhatHappened(t *testing.T, ctx context.Context, pool *pgxpool.Pool) {
	count := func(sql string, args ...any) int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, sql, args...).Scan(&n), sql)
		return n
	}
	assert.Equal(t, 2, count(`SELECT count(*) FROM profiles`), "the refused profile was not half-saved")
	assert.Equal(t, 7, count(`SELECT count(*) FROM devices`), "the refused CSV row created nothing (six imported, one made by a station)")
	assert.Equal(t, 1, count(`SELECT count(*) FROM jobs`), "the refused job created nothing")
	assert.Equal(t, 5, count(`SELECT count(*) FROM job_items WHERE state = 'revoke_na'`))
	assert.Equal(t, 1, count(`SELECT count(*) FROM job_items WHERE state = 'device_failure' AND device_id = 'sim-00005'`))
	assert.Equal(t, 1, count(`SELECT count(*) FROM ca_requests WHERE status = 'issued' AND device_id = 'sim-00006' AND decided_by LIKE '%console-admin%'`))
	assert.Equal(t, 1, count(`SELECT count(*) FROM certificates WHERE status = 'revoked' AND revocation_reason = 1 AND device_id = 'sim-00001'`))
	assert.Equal(t, 1, count(`SELECT count(*) FROM trust_anchors WHERE name = 'factory-ca' AND verified_at IS NOT NULL`))
	assert.Equal(t, 1, count(`SELECT count(*) FROM local_cas WHERE name = 'corp' AND root_key_sealed IS NULL`), "corp under the outside root")
	assert.Equal(t, 1, count(`SELECT count(*) FROM provisioning_stations WHERE name = 'line-1' AND disabled_at IS NOT NULL AND enrollments = 1`), "the station made, refused once, then disabled")
	assert.Equal(t, 1, count(`SELECT count(*) FROM station_enrollments WHERE station = 'line-1' AND device_id = 'Cam-0001' AND registered`))
	assert.Equal(t, 1, count(`SELECT count(*) FROM webhooks WHERE name = 'ops' AND url = 'http://127.0.0.1:9/certfleet'`), "the refused webhook was not saved")
	assert.Equal(t, 1, count(`SELECT count(*) FROM webhook_deliveries d JOIN webhook_events e USING (event_id) WHERE e.type = 'ping' AND d.attempts > 0 AND d.status = 'pending'`))
	assert.Equal(t, 1, count(`SELECT count(*) FROM device_types WHERE name = 'smart_meter' AND description = 'Smart meters'`))
	assert.Equal(t, 1, count(`SELECT count(*) FROM device_types t JOIN profiles p ON p.id = t.default_profile_id WHERE t.name = 'camera' AND p.name = 'cameras'`))
	assert.Equal(t, 1, count(`SELECT count(*) FROM audit_log WHERE action = 'ca.activate' AND actor LIKE '%console-admin%'`))
	assert.Equal(t, 1, count(`SELECT count(*) FROM local_cas WHERE name = 'default' AND status = 'next' AND activates_at > now() + interval '29 days'`), "default renewed with a 30-day overlap")
	assert.Equal(t, 2, count(`SELECT count(*) FROM console_sessions WHERE ended_at IS NOT NULL`), "both signed out")
	assert.Zero(t, count(`SELECT count(*) FROM audit_log WHERE actor LIKE '%console-auditor%' AND action NOT LIKE 'session.%'`),
		"the auditor changed nothing")
}

type stack struct {
	url, est, admin, auditor string
	pool                     *pgxpool.Pool
	proc                     *testenv.Process
}

// startStack migrates a fresh database, makes an admin and an auditor token,
// and starts `certfleet all` on free ports against a Temporal dev server.
func startStack(t *testing.T, ctx context.Context) stack {
	binary := testenv.Binary(t)
	databaseURL := testenv.EmptyDatabase(t)
	temporalAddr, _ := testenv.Temporal(t, testenv.TemporalOptions{})
	apiAddr, estAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	env := append(os.Environ(), "DATABASE_URL="+databaseURL, "TEMPORAL_ADDRESS="+temporalAddr, "CERTFLEET_API_ADDR="+apiAddr, "CERTFLEET_METRICS_ADDR="+testenv.FreeAddr(t),
		"CERTFLEET_EST_ADDR="+estAddr, "CERTFLEET_SCEP_ADDR="+testenv.FreeAddr(t), "CERTFLEET_KEK=",
		"CERTFLEET_KEK_FILE="+filepath.Join(t.TempDir(), "certfleet.kek"), "CERTFLEET_PUBLIC_URL=http://"+apiAddr,
		"CERTFLEET_TEMPORAL_UI_URL=http://temporal-ui.invalid", "CERTFLEET_GRAFANA_URL=http://grafana.invalid/d/certfleet")
	run := func(args ...string) string {
		cmd := exec.CommandContext(ctx, binary, args...)
		cmd.Env = env
		out, err := cmd.Output()
		require.NoError(t, err, "certfleet %v", args)
		return strings.TrimSpace(string(out))
	}
	run("migrate")
	s := stack{url: "http://" + apiAddr, est: "https://" + estAddr, admin: run("token", "create", "-name", "console-admin", "-role", "admin"),
		auditor: run("token", "create", "-name", "console-auditor", "-role", "auditor")}
	all := exec.Command(binary, "all")
	all.Env = env
	s.proc = testenv.Run(t, all)
	for {
		if resp, err := http.Get(s.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if s.proc.Cmd.ProcessState != nil || ctx.Err() != nil {
			t.Fatalf("certfleet did not become ready:\n%s", s.proc.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	pool, err := pgxpool.New(ctx, databaseURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s.pool = pool
	return s
}

// factoryCA writes a device maker's CA, its certificate and its PKCS #8 key
// in PEM files: the trust anchor the console uploads and proves.
func factoryCA(t *testing.T) (certFile, keyFile string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Example Cameras Factory CA", Organization: []string{"Example Cameras"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600))
	return certFile, keyFile
}
