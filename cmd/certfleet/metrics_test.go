package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/internal/testenv"
)

// TestMetricsAndAlertsDuringAJob runs the real binary with its metrics
// listener and a real Prometheus (Debian's) scraping it every second with
// certfleet's alert rules (deploy/prometheus/alerts.yml). A job over a
// simulated fleet, one of whose devices fails its CSR, moves the counters
// as it goes (items finished by outcome and step, CA submissions, API
// requests), an EST enrollment is counted by label and outcome, the fleet
// gauges read from Postgres follow, the Temporal SDK's worker metrics are
// exported, Prometheus fires CertfleetJobItemsFailed for the failed device,
// and every metric the rules and the Grafana dashboard use is exported.
func TestMetricsAndAlertsDuringAJob(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const fleetSecret = "metrics-test-fleet-secret-0123456789"
	prometheus := testenv.Command(t, "prometheus")
	databaseURL := testenv.EmptyDatabase(t)
	temporalAddr, tc := testenv.Temporal(t, testenv.TemporalOptions{})
	simURL, _ := testenv.DeviceSim(t, 6, fleetSecret)
	resp := testenv.SimAdmin(t, simURL, fleetSecret, http.MethodPut, "/devices/sim-00006/faults", map[string]bool{"csr_failure": true})
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	apiAddr, estAddr, metricsAddr := testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)
	env := []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + databaseURL, "TEMPORAL_ADDRESS=" + temporalAddr,
		"CERTFLEET_API_ADDR=" + apiAddr, "CERTFLEET_EST_ADDR=" + estAddr, "CERTFLEET_SCEP_ADDR=" + testenv.FreeAddr(t),
		"CERTFLEET_METRICS_ADDR=" + metricsAddr, "CERTFLEET_FLEET_METRICS_INTERVAL=1s", "CERTFLEET_WORKER_ACTIVITIES=25",
		"CERTFLEET_KEK_FILE=" + filepath.Join(t.TempDir(), "certfleet.kek"), "CERTFLEET_EST_HOSTS=localhost"}
	token, proc := runAll(t, ctx, env, apiAddr)
	testenv.WaitListening(t, metricsAddr, time.Minute)

	promAddr := startPrometheus(t, prometheus, metricsAddr)
	waitUntil(t, ctx, "Prometheus to scrape certfleet", func() bool {
		v, ok := promQuery(t, promAddr, `up{job="certfleet"}`)
		return ok && v == 1
	})

	scrape := func() map[string]float64 { return scrapeMetrics(t, "http://"+metricsAddr+"/metrics") }
	before := scrape()
	slots := 0.0
	for series, v := range before {
		if strings.HasPrefix(series, "temporal_worker_task_slots_available{") && strings.Contains(series, `worker_type="ActivityWorker"`) {
			slots = v
		}
	}
	assert.Equal(t, 25.0, slots, "CERTFLEET_WORKER_ACTIVITIES reaches the worker")
	assert.Zero(t, before[`certfleet_job_items_finished_total{outcome="device_failure",step="csr"}`], "every outcome starts at zero")
	_, exported := before[`certfleet_job_items_finished_total{outcome="device_failure",step="csr"}`]
	assert.True(t, exported, "the zero is exported, so that an increase is seen")

	api := leakTestClient{t: t, base: "http://" + apiAddr, token: token}
	profile, job := startSimJob(t, api, simURL, fleetSecret, 6)

	// The counters move while the job runs, not only at its end.
	waitUntil(t, ctx, "job items to be counted as they finish", func() bool {
		return sumOf(scrape(), "certfleet_job_items_finished_total") > 0
	})
	waitJobDone(t, ctx, tc, fmt.Sprint(job["workflow_id"]))
	logs := proc.Output()
	assert.Regexp(t, `level=WARN msg="job item failed".*JobID=1 DeviceID=sim-00006 Step=csr Outcome=device_failure`, logs, "one line for the failed item")
	assert.NotRegexp(t, `level=ERROR.*Activity error`, logs, "failed attempts that Temporal retries are warnings")
	after := scrape()
	assert.Equal(t, 5.0, after[`certfleet_job_items_finished_total{outcome="revoke_na",step="revoke"}`], "five devices got their first certificate")
	assert.Equal(t, 1.0, after[`certfleet_job_items_finished_total{outcome="device_failure",step="csr"}`], "one failed its CSR")
	assert.Equal(t, 5.0, after[`certfleet_ca_submissions_total{driver="local",result="issued"}`])
	assert.Equal(t, 5.0, after[`certfleet_ca_submission_duration_seconds_count{driver="local"}`])
	assert.Equal(t, 1.0, after[`certfleet_http_requests_total{code="2xx",method="POST",route="/api/v1/jobs",server="api"}`])
	assert.Positive(t, sumOf(after, "temporal_activity_schedule_to_start_latency_seconds_count"), "the SDK's worker metrics are exported")
	assert.Contains(t, strings.Join(keys(after), "\n"), `task_queue="certfleet"`, "SDK metrics carry the task queue")

	api.call("POST", "/api/v1/est-labels", map[string]any{"label": "cams", "is_default": true, "profile_id": profile["id"]}, http.StatusCreated)
	api.call("POST", "/api/v1/devices/import", "id,name,device_type,enrollment_otp\r\nest-1,EST 1,camera,metrics-test-otp-0123\r\n", http.StatusOK)
	enrollOverEST(t, estAddr, "est-1", "est-1", "metrics-test-otp-0123")
	after = scrape()
	assert.Equal(t, 1.0, after[`certfleet_enrollments_total{label="cams",outcome="issued",protocol="est"}`])
	assert.Equal(t, 1.0, after[`certfleet_http_requests_total{code="2xx",method="POST",route="POST /.well-known/est/simpleenroll",server="est"}`])
	assert.Regexp(t, `msg="http request" server=est method=POST route="POST /.well-known/est/simpleenroll" status=200`, proc.Output(), "one line per EST request")

	waitUntil(t, ctx, "the fleet gauges to follow Postgres", func() bool {
		m := scrape()
		return m[`certfleet_jobs{status="completed_with_failures"}`] == 1 && m[`certfleet_certificates{status="active"}`] == 6 &&
			m[`certfleet_devices_without_valid_certificate`] == 1 && m[`certfleet_ca_requests{status="issued"}`] == 6
	})
	after = scrape()
	assert.Positive(t, after[`certfleet_ca_certificate_expiry_timestamp_seconds{ca="default",role="issuing",status="active"}`]-float64(time.Now().Unix()))
	for series := range after {
		assert.NotContains(t, series, "sim-0000", "no device ID in a label: %s", series)
	}

	waitUntil(t, ctx, "Prometheus to fire CertfleetJobItemsFailed", func() bool {
		return slices.ContainsFunc(promAlerts(t, promAddr), func(a promAlert) bool {
			return a.Labels["alertname"] == "CertfleetJobItemsFailed" && a.State == "firing" && a.Labels["outcome"] == "device_failure" && a.Labels["step"] == "csr"
		})
	})

	if dir := os.Getenv("CERTFLEET_SCREENSHOTS"); dir != "" {
		screenshot(t, filepath.Join(dir, "prometheus-job-items.png"), "http://"+promAddr+"/classic/graph?g0.range_input=30s&g0.tab=0&g0.expr="+
			url.QueryEscape(`sum by (outcome) (certfleet_job_items_finished_total{outcome=~"revoke_na|device_failure"})`))
		screenshot(t, filepath.Join(dir, "prometheus-alerts.png"), "http://"+promAddr+"/classic/alerts")
	}

	names := map[string]bool{}
	for series := range after {
		name, _, _ := strings.Cut(series, "{")
		names[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")] = true
	}
	for _, file := range []string{"deploy/prometheus/alerts.yml", "deploy/grafana/certfleet.json"} {
		data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), file))
		require.NoError(t, err)
		for _, used := range regexp.MustCompile(`\b(?:certfleet|temporal)_[a-z0-9_]+`).FindAllString(string(data), -1) {
			used = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(used, "_bucket"), "_sum"), "_count")
			assert.True(t, names[used], "%s uses %s, which certfleet does not export", file, used)
		}
	}
}

// startPrometheus runs Prometheus on a free port, scraping target every
// second and evaluating certfleet's alert rules every second.
func startPrometheus(t *testing.T, binary, target string) string {
	dir := t.TempDir()
	rules, err := filepath.Abs(filepath.Join(testenv.RepoRoot(t), "deploy", "prometheus", "alerts.yml"))
	require.NoError(t, err)
	config := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: certfleet
    static_configs: [{targets: [%q]}]
`, rules, target)
	path := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(path, []byte(config), 0o600))
	addr := testenv.FreeAddr(t)
	cmd := exec.Command(binary, "--config.file="+path, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	testenv.Run(t, cmd)
	testenv.WaitListening(t, addr, 30*time.Second)
	// It listens before its storage is open, answering 503 until then.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitUntil(t, ctx, "Prometheus to be ready", func() bool {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return addr
}

// screenshot saves a page of Prometheus as Chromium shows it, for the README.
func screenshot(t *testing.T, path, page string) {
	out, err := exec.Command(testenv.Command(t, "chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--window-size=1366,900", "--virtual-time-budget=10000", "--screenshot="+path, page).CombinedOutput()
	require.NoError(t, err, "%s", out)
}

// promQuery evaluates an instant query to one value.
func promQuery(t *testing.T, addr, query string) (float64, bool) {
	var answer struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	promGet(t, addr, "/api/v1/query?query="+url.QueryEscape(query), &answer)
	if len(answer.Data.Result) != 1 {
		return 0, false
	}
	v, err := strconv.ParseFloat(fmt.Sprint(answer.Data.Result[0].Value[1]), 64)
	return v, err == nil
}

type promAlert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

func promAlerts(t *testing.T, addr string) []promAlert {
	var answer struct {
		Data struct {
			Alerts []promAlert `json:"alerts"`
		} `json:"data"`
	}
	promGet(t, addr, "/api/v1/alerts", &answer)
	return answer.Data.Alerts
}

func promGet(t *testing.T, addr, path string, into any) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, path)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(into))
}

// scrapeMetrics reads a /metrics page into series → value, each series
// written as Prometheus writes it (labels sorted by name).
func scrapeMetrics(t *testing.T, address string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(address)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	series := map[string]float64{}
	lines := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	for lines.Scan() {
		line := lines.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		series[line[:i]] = v
	}
	require.NoError(t, lines.Err())
	return series
}

// sumOf adds up every series of a metric.
func sumOf(series map[string]float64, name string) float64 {
	var sum float64
	for s, v := range series {
		if s == name || strings.HasPrefix(s, name+"{") {
			sum += v
		}
	}
	return sum
}

func keys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// waitUntil polls cond until it holds, failing the test at ctx's end.
func waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-tick.C:
		}
	}
}
