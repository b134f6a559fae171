package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/operatorservice/v1"

	"github.com/certfleet/certfleet/db"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/workflows"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestCommandLine(t *testing.T) {
	cases := []struct {
		args   []string
		code   int
		output string
	}{
		{[]string{"version"}, 0, "certfleet dev"},
		{nil, 2, "Usage: certfleet <command>"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"all", "-log-level", "loud"}, 2, "log-level"},
		{[]string{"migrate", "-h"}, 0, "DATABASE_URL"},
		{[]string{"job"}, 2, "certfleet job create"},
		{[]string{"job", "create", "-name", "x"}, 1, "no devices"},
		{[]string{"job", "create", "-devices", "a"}, 1, "name: required"},
		{[]string{"job", "status", "abc"}, 1, `job ID "abc" is not a number`},
		{[]string{"job", "create", "-name", "x", "-devices", "a", "-window", "lots"}, 1, "window"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			code := run(context.Background(), c.args, &out, &out)
			assert.Equal(t, c.code, code)
			assert.Contains(t, out.String(), c.output)
		})
	}
}

// TestBinaryLifecycle builds certfleet and runs it as `make run` does: migrate
// against a bare Postgres and a bare Temporal server, then `all` until ready,
// then SIGTERM, which must end it cleanly.
func TestBinaryLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	binary := filepath.Join(t.TempDir(), "certfleet")
	build := exec.CommandContext(ctx, "go", "build", "-o", binary, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	databaseURL := testenv.EmptyDatabase(t)
	temporalAddr, tc := testenv.Temporal(t, testenv.TemporalOptions{WithoutSearchAttributes: true})
	apiAddr, estAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	kekFile := filepath.Join(t.TempDir(), "secrets", "certfleet.kek")
	env := append(os.Environ(),
		"DATABASE_URL="+databaseURL, "TEMPORAL_ADDRESS="+temporalAddr, "CERTFLEET_API_ADDR="+apiAddr, "CERTFLEET_METRICS_ADDR="+testenv.FreeAddr(t),
		"CERTFLEET_EST_ADDR="+estAddr, "CERTFLEET_SCEP_ADDR="+testenv.FreeAddr(t), "CERTFLEET_KEK_FILE="+kekFile, "CERTFLEET_KEK=")

	// Before migrate, the database exists but its schema does not: refuse to run.
	_, err = db.EnsureDatabase(ctx, databaseURL)
	require.NoError(t, err)
	early := exec.CommandContext(ctx, binary, "all")
	early.Env = env
	out, err = early.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "run `certfleet migrate` first")

	migrate := exec.CommandContext(ctx, binary, "migrate")
	migrate.Env = env
	out, err = migrate.CombinedOutput()
	require.NoError(t, err, "certfleet migrate: %s", out)
	attrs, err := tc.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	require.NoError(t, err)
	for _, key := range workflows.SearchAttributes {
		assert.Contains(t, attrs.GetCustomAttributes(), key.GetName(), "migrate registers search attributes")
	}

	var logs bytes.Buffer
	all := exec.Command(binary, "all")
	all.Env, all.Stdout, all.Stderr = env, &logs, &logs
	require.NoError(t, all.Start())
	exited := make(chan error, 1)
	go func() { exited <- all.Wait() }()
	t.Cleanup(func() { _ = all.Process.Kill() })

	waitReady(t, ctx, "http://"+apiAddr+"/readyz", exited, &logs)
	checkBuiltinCA(t, ctx, databaseURL, kekFile, "http://"+apiAddr)

	require.NoError(t, all.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, "exit after SIGTERM; logs:\n%s", logs.String())
	case <-ctx.Done():
		t.Fatalf("certfleet did not stop after SIGTERM; logs:\n%s", logs.String())
	}
	assert.Contains(t, logs.String(), "shutting down")
}

// waitReady polls url until it answers 200, failing early if the process exits.
func waitReady(t *testing.T, ctx context.Context, url string, exited <-chan error, logs *bytes.Buffer) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("certfleet exited before ready (%v); logs:\n%s", err, logs.String())
		case <-ctx.Done():
			t.Fatalf("certfleet not ready in time; logs:\n%s", logs.String())
		case <-tick.C:
		}
	}
}

// checkBuiltinCA: the first start created the key-encryption key file, private
// to its owner, and the built-in CA, whose CRL the API serves.
func checkBuiltinCA(t *testing.T, ctx context.Context, databaseURL, kekFile, apiURL string) {
	t.Helper()
	info, err := os.Stat(kekFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	pool, err := db.Open(ctx, databaseURL)
	require.NoError(t, err)
	defer pool.Close()
	var ski []byte
	require.NoError(t, pool.QueryRow(ctx, "SELECT issuing_ski FROM local_cas WHERE name = 'default'").Scan(&ski))
	resp, err := http.Get(fmt.Sprintf("%s/crl/%x.crl", apiURL, ski))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/pkix-crl", resp.Header.Get("Content-Type"))
}
