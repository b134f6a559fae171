package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/apiclient"
	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/drivers/registry"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/inventory"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/pki/trust"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	fleetSecret = "certfleetctl-test-fleet-secret-0123"
	taskQueue   = "certfleetctl-test"
)

// ctl runs certfleetctl against a real API, as a user at a shell would.
type ctl struct {
	t          *testing.T
	url, token string
}

func (c ctl) run(stdin string, args ...string) (int, string, string) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	env := map[string]string{"CERTFLEET_URL": c.url, "CERTFLEET_TOKEN": c.token}
	code := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func (c ctl) ok(stdin string, args ...string) string {
	c.t.Helper()
	code, out, errOut := c.run(stdin, args...)
	require.Equal(c.t, 0, code, "certfleetctl %v: %s%s", args, out, errOut)
	return out
}

// TestDailyTasksThroughTheAPI drives a simulated fleet's first certificates
// with certfleetctl only: import, assign, a job watched to its end, the
// certificates it issued, a PEM download and a revocation.
func TestDailyTasksThroughTheAPI(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	_, tc := testenv.Temporal(t, testenv.TemporalOptions{})
	builtin, keys := testenv.BuiltinCA(t, pool, local.Options{})
	simURL, _ := testenv.DeviceSim(t, 3, fleetSecret)
	creds, _ := testenv.FleetCredential(t, pool, keys, fleetSecret)
	testenv.StartWorker(t, tc, taskQueue, testenv.Activities(pool, builtin, creds), nil)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(api.New(api.Deps{Logger: quiet, Pool: pool, Credentials: creds, Drivers: registry.New(pool, local.SetOf(builtin), creds, time.Second),
		Jobs: &jobs.Service{Pool: pool, Temporal: tc, TaskQueue: taskQueue}, Approver: builtin, Revoker: builtin, Trust: trust.New(pool),
		Inventory: &inventory.Service{Pool: pool, Temporal: tc, TaskQueue: taskQueue}}))
	t.Cleanup(srv.Close)
	token, err := auth.Create(ctx, store.New(pool), "ctl", auth.Admin, "test")
	require.NoError(t, err)
	c := ctl{t: t, url: srv.URL, token: token}

	profile := map[string]any{"name": "cameras", "cert_type": "tls", "device_type": "camera",
		"subject_rules": []map[string]any{{"attr": "CN", "rule": "from_csr"}}, "key_algorithms": []map[string]any{{"algorithm": "ecdsa", "sizes": []int{256}}},
		"validity_days": 90, "renew_before_days": 30}
	body, _ := json.Marshal(profile)
	_, err = c.api(t).Raw(ctx, "POST", "/api/v1/profiles", bytes.NewReader(body), "application/json")
	require.NoError(t, err)

	csv := "id,name,device_type,address,credential\n"
	for _, id := range []string{"sim-00001", "sim-00002", "sim-00003"} {
		csv += id + ",Camera," + "camera," + simURL + "/devices/" + id + ",fleet\n"
	}
	assert.Contains(t, c.ok(csv, "devices", "import", "-"), "3 devices created, 0 rows refused")
	assert.Contains(t, c.ok("", "devices", "assign", "-profile", "1", "sim-00001", "sim-00002", "sim-00003"), "assigned to 3 devices")
	list := c.ok("", "devices", "list")
	assert.Regexp(t, `(?m)^ID\s+NAME\s+TYPE\s+MODE`, list, "a table with headings")
	assert.Equal(t, 4, strings.Count(list, "\n"), "a heading and three devices:\n%s", list)

	var devices []map[string]any
	require.NoError(t, json.Unmarshal([]byte(c.ok("", "-o", "json", "devices", "list")), &devices), "-o json is JSON for scripts")
	assert.Len(t, devices, 3)

	created := c.ok("", "jobs", "create", "-name", "first", "-devices", "sim-00001,sim-00002,sim-00003")
	assert.Contains(t, created, "job 1 created for 3 devices")
	watched := c.ok("", "jobs", "watch", "1")
	assert.Contains(t, watched, "3/3")
	assert.Contains(t, watched, "revoke_na 3", "each first certificate has nothing to revoke:\n%s", watched)
	assert.Contains(t, c.ok("", "jobs", "items", "1"), "sim-00002")
	held := c.ok("", "devices", "inventory", "sim-00002")
	assert.Regexp(t, `(?m)^CERT TYPE\s+CERTIFICATE\s+SUBJECT`, held)
	assert.Regexp(t, `(?m)^tls\s+\d+\s+CN=sim-00002\s.*\sfalse\s`, held, "the device holds the certificate the job issued, which the inventory knew:\n%s", held)

	certs := c.ok("", "certs", "expiring", "-days", "365")
	assert.Equal(t, 4, strings.Count(certs, "\n"), "three certificates expire within a year:\n%s", certs)
	block, _ := pem.Decode([]byte(c.ok("", "certs", "pem", "1")))
	require.NotNil(t, block, "certs pem writes PEM")
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	assert.Contains(t, cert.Subject.CommonName, "sim-0000")
	pemFile := filepath.Join(t.TempDir(), "c.pem")
	require.NoError(t, os.WriteFile(pemFile, pem.EncodeToMemory(block), 0o600))

	assert.Contains(t, c.ok("", "certs", "revoke", "1", "-reason", "1"), "certificate 1 revoked")
	assert.Contains(t, c.ok("", "certs", "list", "-status", "revoked"), "revoked")
	assert.Equal(t, 1, strings.Count(c.ok("", "approvals", "list"), "\n"), "no pending approvals: the heading only")
}

// TestErrorsSayWhatWasWrong: the API's error shape, a usage mistake and a
// missing token each give a message and an exit code a script can test.
func TestErrorsSayWhatWasWrong(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(api.New(api.Deps{Logger: quiet, Pool: pool, Drivers: registry.New(pool, nil, nil, time.Second)}))
	t.Cleanup(srv.Close)
	token, err := auth.Create(ctx, store.New(pool), "ctl", auth.Auditor, "test")
	require.NoError(t, err)

	code, _, errOut := ctl{t: t, url: srv.URL, token: "cft_wrong"}.run("", "devices", "list")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "HTTP 401")
	code, _, errOut = ctl{t: t, url: srv.URL, token: token}.run("", "certs", "revoke", "7")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "admin", "an auditor is told which role it takes: %s", errOut)
	code, _, errOut = ctl{t: t, url: srv.URL, token: token}.run("", "devices", "list", "-mode", "broken")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "mode", "the field at fault is named: %s", errOut)
	code, _, errOut = ctl{t: t, url: srv.URL, token: token}.run("", "jobs", "items", "abc")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "not an ID")
	code, _, errOut = ctl{t: t, url: srv.URL, token: token}.run("", "frobnicate", "now")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "Usage: certfleetctl")
	code, _, errOut = ctl{t: t, url: srv.URL}.run("", "devices", "list")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "CERTFLEET_TOKEN")
}

func (c ctl) api(t *testing.T) *apiclient.Client {
	t.Helper()
	client, err := apiclient.New(c.url, c.token)
	require.NoError(t, err)
	return client
}
