//go:build cluster

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/internal/testenv"
)

// TestChaosOnTheProductionShape runs a job over CERTFLEET_CHAOS_DEVICES
// (default 2,000) simulated devices on `make cluster` (scripts/cluster.sh:
// Temporal's services as separate processes on Postgres, two API replicas,
// two workers) while, in turn, a certfleet worker and Temporal's history
// process are SIGKILLed (the cluster restarts them), Postgres is restarted,
// and one API replica is stopped while clients keep calling the other. The
// job must complete with every device holding exactly one new active
// certificate, the CA ledger must show no second issuance, and every client
// call must have been answered (clients retry on the other replica). The
// report goes to bench/results/<date>-chaos-<devices>-<time>.json.
//
// It restarts the machine's Postgres, so it runs alone: `make test-cluster`.
func TestChaosOnTheProductionShape(t *testing.T) {
	devices := 2000
	if n, err := strconv.Atoi(os.Getenv("CERTFLEET_CHAOS_DEVICES")); err == nil && n > 0 {
		devices = n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	cluster := startCluster(t, ctx)
	const fleetSecret = "chaos-fleet-master-secret"
	simURL, _ := testenv.DeviceSim(t, devices, fleetSecret)
	api := leakTestClient{t: t, base: cluster.api[0], token: cluster.token}
	_, job := startSimJob(t, api, simURL, fleetSecret, devices)
	jobID := int64(job["id"].(float64))
	started := time.Now()

	clients := startRetryingClients(ctx, cluster.api, cluster.token, fmt.Sprintf("/api/v1/jobs/%d", jobID))
	finished := func() int { return cluster.finishedItems(t, ctx, jobID) }
	var kills []chaosEvent
	for i, fault := range []struct {
		name string
		do   func() func() bool // does the fault, returns "recovered?"
	}{
		{"SIGKILL certfleet worker 1", func() func() bool { return cluster.kill(t, "worker 1", syscall.SIGKILL) }},
		{"SIGKILL Temporal history", func() func() bool { return cluster.kill(t, "history", syscall.SIGKILL) }},
		{"restart Postgres", func() func() bool { return restartPostgres(t, ctx, cluster) }},
		{"stop API replica 2", func() func() bool { return cluster.kill(t, "api 2", syscall.SIGTERM) }},
	} {
		target := (i + 1) * devices / 6
		waitUntil(t, ctx, fmt.Sprintf("%d items finished before %q", target, fault.name), func() bool { return finished() >= target })
		before := finished()
		at := time.Now()
		recovered := fault.do()
		waitUntil(t, ctx, "recovery from "+fault.name, func() bool { return recovered() && finished() > before })
		event := chaosEvent{Fault: fault.name, ItemsFinished: before, RecoverSeconds: time.Since(at).Seconds()}
		t.Logf("%s with %d of %d items finished; progress again after %.1fs", fault.name, before, devices, event.RecoverSeconds)
		kills = append(kills, event)
	}
	waitUntil(t, ctx, "the job to finish", func() bool {
		return !slices.Contains([]string{"scheduled", "running", "halting"}, cluster.jobStatus(t, ctx, jobID))
	})
	elapsed := time.Since(started)
	calls, retried, failed := clients.stop()

	report := cluster.audit(t, ctx, jobID, devices)
	report.Devices, report.Faults, report.Seconds = devices, kills, elapsed.Seconds()
	report.APICalls, report.APICallsRetried, report.APICallsFailed = calls, retried, failed
	assert.Equal(t, "succeeded", cluster.jobStatus(t, ctx, jobID))
	assert.Zero(t, report.Duplicates, "no device got a second certificate")
	assert.Zero(t, report.Lost, "every device holds its new certificate")
	assert.Equal(t, devices, report.ActiveCertificates)
	assert.Zero(t, failed, "every client call was answered, by one replica or the other")
	assert.Positive(t, calls)
	writeChaosReport(t, report)
}

type chaosEvent struct {
	Fault          string  `json:"fault"`
	ItemsFinished  int     `json:"items_finished_at_fault"`
	RecoverSeconds float64 `json:"seconds_until_progress"`
}

type chaosReport struct {
	Date               string       `json:"date"`
	Devices            int          `json:"devices"`
	Seconds            float64      `json:"seconds"`
	Faults             []chaosEvent `json:"faults"`
	ActiveCertificates int          `json:"active_certificates"`
	Issued             int          `json:"certificates_issued"`
	Duplicates         int          `json:"duplicates"`
	Lost               int          `json:"lost"`
	APICalls           int64        `json:"api_calls"`
	APICallsRetried    int64        `json:"api_calls_retried"`
	APICallsFailed     int64        `json:"api_calls_failed"`
}

// cluster is a running scripts/cluster.sh.
type cluster struct {
	script      *testenv.Process
	databaseURL string
	api         []string // base URLs of the two replicas
	token       string
	metrics     []string // API 1, API 2, worker 1, worker 2
}

// startCluster runs scripts/cluster.sh on free ports, with its own
// databases and data folder, until its banner says it is ready.
func startCluster(t *testing.T, ctx context.Context) *cluster {
	t.Helper()
	for _, tool := range []string{"temporal", "temporal-server", "temporal-sql-tool", "temporal-ui"} {
		testenv.Tool(t, tool)
	}
	// Temporal's two databases, which its schema tool creates, are dropped
	// with the test's own.
	databaseURL, temporalDB, visibilityDB := testenv.EmptyDatabase(t), databaseName(t), databaseName(t)
	port := func() string { a := testenv.FreeAddr(t); return a[strings.LastIndex(a, ":")+1:] }
	c := &cluster{databaseURL: databaseURL}
	apiAddrs := []string{testenv.FreeAddr(t), testenv.FreeAddr(t)}
	for _, a := range apiAddrs {
		c.api = append(c.api, "http://"+a)
	}
	for range 4 {
		c.metrics = append(c.metrics, testenv.FreeAddr(t))
	}
	cmd := exec.Command("bash", filepath.Join(testenv.RepoRoot(t), "scripts", "cluster.sh"))
	cmd.Env = append(os.Environ(), "CERTFLEET_DATA_DIR="+t.TempDir(), "CERTFLEET_BIN="+testenv.Binary(t),
		"DATABASE_URL="+databaseURL, "TEMPORAL_DB="+temporalDB, "TEMPORAL_VISIBILITY_DB="+visibilityDB,
		"TEMPORAL_PORT="+port(), "TEMPORAL_UI_PORT="+port(), "TEMPORAL_ADDRESS=",
		"TEMPORAL_FRONTEND_MEMBERSHIP_PORT="+port(), "TEMPORAL_FRONTEND_HTTP_PORT="+port(),
		"TEMPORAL_HISTORY_PORT="+port(), "TEMPORAL_HISTORY_MEMBERSHIP_PORT="+port(),
		"TEMPORAL_MATCHING_PORT="+port(), "TEMPORAL_MATCHING_MEMBERSHIP_PORT="+port(),
		"TEMPORAL_WORKER_PORT="+port(), "TEMPORAL_WORKER_MEMBERSHIP_PORT="+port(),
		"CERTFLEET_API_ADDR="+apiAddrs[0], "CERTFLEET_API2_ADDR="+apiAddrs[1],
		"CERTFLEET_EST_ADDR="+testenv.FreeAddr(t), "CERTFLEET_EST2_ADDR="+testenv.FreeAddr(t),
		"CERTFLEET_SCEP_ADDR="+testenv.FreeAddr(t), "CERTFLEET_SCEP2_ADDR="+testenv.FreeAddr(t),
		"CERTFLEET_CLUSTER_METRICS_ADDRS="+strings.Join(c.metrics, " "), "CERTFLEET_LOG_LEVEL=warn")
	cmd.Dir = testenv.RepoRoot(t)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.script = testenv.Run(t, cmd)
	t.Cleanup(func() { c.stop(t) })
	waitUntil(t, ctx, "make cluster's banner", func() bool {
		if !alive(c.script.Cmd.Process.Pid) {
			t.Fatalf("cluster.sh exited before it was ready:\n%s", c.script.Output())
		}
		return strings.Contains(c.script.Output(), "certfleet is ready")
	})
	c.token = regexp.MustCompile(`cft_[A-Za-z0-9_-]+`).FindString(c.script.Output())
	require.NotEmpty(t, c.token, "the banner shows an admin token")
	return c
}

// stop ends cluster.sh as Ctrl-C would and checks that it left nothing behind.
func (c *cluster) stop(t *testing.T) {
	pid := c.script.Cmd.Process.Pid
	children := descendants(pid)
	_ = syscall.Kill(pid, syscall.SIGINT)
	deadline := time.Now().Add(time.Minute)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	for _, child := range children {
		if alive(child) {
			t.Errorf("process %d outlived make cluster", child)
			_ = syscall.Kill(child, syscall.SIGKILL)
		}
	}
}

// kill signals the process named ("worker 1", "api 2", "history") and returns
// a check that its replacement, started by cluster.sh, serves again.
func (c *cluster) kill(t *testing.T, name string, signal syscall.Signal) func() bool {
	t.Helper()
	old := c.process(t, name)
	require.NotZero(t, old, "no %s process under cluster.sh", name)
	require.NoError(t, syscall.Kill(old, signal))
	return func() bool {
		pid := c.process(t, name)
		if pid == 0 || pid == old {
			return false
		}
		switch name {
		case "worker 1":
			return get(c.metricsURL(2)) == nil
		case "api 2":
			return get(c.api[1]+"/readyz") == nil
		}
		return true
	}
}

func (c *cluster) metricsURL(i int) string { return "http://" + c.metrics[i] + "/metrics" }

// process finds a supervised process below cluster.sh: a Temporal service
// by its --service flag, a certfleet process by its role and metrics address.
func (c *cluster) process(t *testing.T, name string) int {
	for _, pid := range descendants(c.script.Cmd.Process.Pid) {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if len(args) < 2 || filepath.Base(args[0]) == "bash" || !alive(pid) {
			continue
		}
		environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		metricsIs := func(i int) bool {
			return bytes.Contains(environ, []byte("\x00CERTFLEET_METRICS_ADDR="+c.metrics[i]+"\x00"))
		}
		switch {
		case name == "history" && strings.Contains(strings.Join(args, " "), "--service history"),
			name == "worker 1" && args[1] == "worker" && metricsIs(2),
			name == "api 2" && args[1] == "serve" && metricsIs(1):
			return pid
		}
	}
	return 0
}

func get(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

func (c *cluster) query(t *testing.T, ctx context.Context, sql string, args ...any) int {
	t.Helper()
	conn, err := pgx.Connect(ctx, c.databaseURL)
	if err != nil {
		return -1 // Postgres restarting: the caller asks again
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		return -1
	}
	return n
}

func (c *cluster) finishedItems(t *testing.T, ctx context.Context, jobID int64) int {
	return c.query(t, ctx, `SELECT count(*) FROM job_items WHERE job_id = $1 AND finished_at IS NOT NULL`, jobID)
}

func (c *cluster) jobStatus(t *testing.T, ctx context.Context, jobID int64) string {
	conn, err := pgx.Connect(ctx, c.databaseURL)
	if err != nil {
		return "running"
	}
	defer conn.Close(ctx)
	var status string
	if err := conn.QueryRow(ctx, `SELECT status FROM jobs WHERE id = $1`, jobID).Scan(&status); err != nil {
		return "running"
	}
	return status
}

// audit counts, from the inventory and the CA's ledger, what the job left.
func (c *cluster) audit(t *testing.T, ctx context.Context, jobID int64, devices int) chaosReport {
	t.Helper()
	r := chaosReport{Date: time.Now().UTC().Format("2006-01-02")}
	r.Issued = c.query(t, ctx, `SELECT count(*) FROM certificates`)
	r.ActiveCertificates = c.query(t, ctx, `SELECT count(*) FROM certificates WHERE status = 'active'`)
	requests := c.query(t, ctx, `SELECT count(*) FROM ca_requests`)
	// A device with more than one certificate, or a request issued twice.
	r.Duplicates = c.query(t, ctx, `SELECT count(*) FROM (SELECT device_id FROM certificates GROUP BY device_id HAVING count(*) > 1) d`) +
		max(0, r.Issued-requests)
	// An item without its certificate, or a device whose active certificate
	// is not the one the job issued for it.
	r.Lost = devices - c.query(t, ctx, `SELECT count(*) FROM job_items i JOIN certificates c ON c.id = i.issued_certificate_id
		WHERE i.job_id = $1 AND c.status = 'active' AND c.device_id = i.device_id`, jobID)
	return r
}

func writeChaosReport(t *testing.T, r chaosReport) {
	t.Helper()
	data, err := json.MarshalIndent(r, "", "  ")
	require.NoError(t, err)
	name := fmt.Sprintf("%s-chaos-%d-%s.json", r.Date, r.Devices, time.Now().UTC().Format("150405"))
	path := filepath.Join(testenv.RepoRoot(t), "bench", "results", name)
	require.NoError(t, os.WriteFile(path, append(data, '\n'), 0o644))
	t.Logf("report in %s:\n%s", path, data)
}

// restartPostgres restarts Debian's local cluster that DATABASE_URL names and
// returns a check that it answers again.
func restartPostgres(t *testing.T, ctx context.Context, c *cluster) func() bool {
	t.Helper()
	versions, err := os.ReadDir("/etc/postgresql")
	if err != nil || len(versions) == 0 {
		testenv.Unavailable(t, "Debian's local Postgres cluster (pg_ctlcluster)", err)
	}
	out, err := exec.CommandContext(ctx, "pg_ctlcluster", "--skip-systemctl-redirect", versions[len(versions)-1].Name(), "main", "restart").CombinedOutput()
	require.NoError(t, err, "pg_ctlcluster restart: %s", out)
	return func() bool { return c.query(t, ctx, `SELECT 1`) == 1 }
}

// databaseName names a database that does not exist yet and is dropped
// when the test ends.
func databaseName(t *testing.T) string {
	u, err := url.Parse(testenv.EmptyDatabase(t))
	require.NoError(t, err)
	return strings.TrimPrefix(u.Path, "/")
}

// retryingClients call path on the API replicas, in turn, as an operator's
// dashboard would; a call that fails is retried on the other replica, with
// backoff, for up to a minute before it counts as failed.
type retryingClients struct {
	calls, retried, failed atomic.Int64
	cancel                 context.CancelFunc
	wg                     sync.WaitGroup
}

func startRetryingClients(ctx context.Context, bases []string, token, path string) *retryingClients {
	ctx, cancel := context.WithCancel(ctx)
	rc := &retryingClients{cancel: cancel}
	for worker := range 4 {
		rc.wg.Go(func() {
			for i := worker; ctx.Err() == nil; i++ {
				rc.call(ctx, bases, i, token, path)
				select {
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
			}
		})
	}
	return rc
}

func (rc *retryingClients) call(ctx context.Context, bases []string, first int, token, path string) {
	rc.calls.Add(1)
	deadline := time.Now().Add(time.Minute)
	backoff := 50 * time.Millisecond
	for attempt := first; ; attempt++ {
		err := authorizedGet(ctx, bases[attempt%len(bases)]+path, token)
		if err == nil || ctx.Err() != nil {
			return
		}
		if attempt == first {
			rc.retried.Add(1)
		}
		if time.Now().After(deadline) {
			rc.failed.Add(1)
			return
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 2*time.Second)
	}
}

func authorizedGet(ctx context.Context, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

func (rc *retryingClients) stop() (calls, retried, failed int64) {
	rc.cancel()
	rc.wg.Wait()
	return rc.calls.Load(), rc.retried.Load(), rc.failed.Load()
}
