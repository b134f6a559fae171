package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/internal/testenv"
)

// TestQuickstart follows the README's quickstart literally on a fresh stack:
// a certfleet binary on an empty database and a fresh Temporal dev server,
// set up as `make run` does (migrate, a token, `certfleet all`), every port
// ephemeral. It runs scripts/demo.sh (`make demo`), which runs the README's
// quickstart block as it stands, with CERTFLEET_API, CERTFLEET_SIM_ADDR and
// CERTFLEET_TOKEN pointing at this stack; then the job it started must have
// given all 100 simulated cameras their first certificate.
func TestQuickstart(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq", "openssl", "awk", "seq", "paste"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the quickstart needs %s (README, Prerequisites): %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	binary := testenv.Binary(t)
	databaseURL := testenv.EmptyDatabase(t)
	temporalAddr, _ := testenv.Temporal(t, testenv.TemporalOptions{})

	// A fresh working folder, laid out as a clone is: bin/certfleet and .data/.
	work := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(work, "bin"), 0o755))
	require.NoError(t, os.Symlink(binary, filepath.Join(work, "bin", "certfleet")))
	apiAddr, estAddr, simAddr := testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)
	env := append(os.Environ(),
		"DATABASE_URL="+databaseURL, "TEMPORAL_ADDRESS="+temporalAddr, "CERTFLEET_API_ADDR="+apiAddr, "CERTFLEET_METRICS_ADDR="+testenv.FreeAddr(t),
		"CERTFLEET_EST_ADDR="+estAddr, "CERTFLEET_SCEP_ADDR="+testenv.FreeAddr(t), "CERTFLEET_KEK=", "CERTFLEET_KEK_FILE="+filepath.Join(work, ".data", "certfleet.kek"),
		"CERTFLEET_PUBLIC_URL=http://"+apiAddr)

	for _, args := range [][]string{{"migrate"}} {
		cmd := exec.CommandContext(ctx, binary, args...)
		cmd.Env, cmd.Dir = env, work
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "certfleet %v: %s", args, out)
	}
	tokenCmd := exec.CommandContext(ctx, binary, "token", "create", "-name", "quickstart", "-role", "admin")
	tokenCmd.Env, tokenCmd.Dir = env, work
	tokenOut, err := tokenCmd.Output()
	require.NoError(t, err)
	token := strings.TrimSpace(string(tokenOut))

	all := exec.Command(binary, "all")
	all.Env, all.Dir = env, work
	server := testenv.Run(t, all)
	api := "http://" + apiAddr
	waitFor(t, ctx, api+"/readyz", server)

	// make demo: the README's quickstart block, run as it stands.
	demo := exec.CommandContext(ctx, "bash", filepath.Join(testenv.RepoRoot(t), "scripts", "demo.sh"))
	demo.Dir = work
	demo.Env = append(env, "CERTFLEET_API="+api, "CERTFLEET_TOKEN="+token, "CERTFLEET_SIM_ADDR="+simAddr,
		"CERTFLEET_DEMO_DIR="+work, "CERTFLEET_DEVICESIM_SECRET=")
	// Its own process group, so that the simulated fleet it starts in the
	// background goes with it whatever happens.
	demo.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	demo.Cancel = func() error { return syscall.Kill(-demo.Process.Pid, syscall.SIGKILL) }
	t.Cleanup(func() {
		if demo.Process != nil {
			_ = syscall.Kill(-demo.Process.Pid, syscall.SIGKILL)
		}
	})
	out, err := demo.CombinedOutput()
	require.NoError(t, err, "the README's quickstart failed:\n%s", out)
	t.Logf("quickstart output:\n%s", out)

	// The job it started: all 100 cameras got their first certificate.
	var jobs struct {
		Items []struct {
			ID int64 `json:"id"`
		} `json:"items"`
	}
	getJSON(t, api+"/api/v1/jobs?state=all", token, &jobs)
	require.Len(t, jobs.Items, 1, "the quickstart starts one job")
	var job struct {
		Job struct {
			Status      string     `json:"status"`
			CompletedAt *time.Time `json:"completed_at"`
		} `json:"job"`
		Outcomes map[string]int64 `json:"outcomes"`
	}
	getJSON(t, api+"/api/v1/jobs/"+itoa(jobs.Items[0].ID), token, &job)
	assert.NotNil(t, job.Job.CompletedAt)
	assert.Equal(t, int64(100), job.Outcomes["revoke_na"], "first certificates: installed, nothing to revoke; outcomes %v", job.Outcomes)
	assert.Contains(t, string(out), `"revoke_na":100`, "the quickstart shows the outcome the README explains")

	// Run again on the same stack, it stops clearly instead of half-way.
	again := exec.CommandContext(ctx, "bash", filepath.Join(testenv.RepoRoot(t), "scripts", "demo.sh"))
	again.Dir, again.Env = work, demo.Env
	out, err = again.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "make reset")
}

// TestDemoWithoutRun: make demo without a running `make run` fails at once and
// says to start it.
func TestDemoWithoutRun(t *testing.T) {
	cmd := exec.Command("bash", filepath.Join(testenv.RepoRoot(t), "scripts", "demo.sh"))
	cmd.Env = append(os.Environ(), "CERTFLEET_API=http://"+testenv.FreeAddr(t))
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "make run")
	assert.Contains(t, string(out), "is not ready at")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// waitFor polls url until it answers 200, failing if the process has exited.
func waitFor(t *testing.T, ctx context.Context, url string, p *testenv.Process) {
	t.Helper()
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if p.Cmd.ProcessState != nil {
			t.Fatalf("certfleet exited before ready:\n%s", p.Output())
		}
		select {
		case <-ctx.Done():
			t.Fatalf("certfleet not ready in time:\n%s", p.Output())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func getJSON(t *testing.T, url, token string, v any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, url)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
}
