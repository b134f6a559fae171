package testenv

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/certfleet/certfleet/workflows"
)

// Tool is the path of a pinned tool that `make tools` builds into bin/.
func Tool(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(RepoRoot(t), "bin", name)
	if _, err := os.Stat(path); err != nil {
		unavailable(t, name+" (run `make tools`)", err)
	}
	return path
}

// TemporalOptions tunes a dev server started for one test.
type TemporalOptions struct {
	// WithoutSearchAttributes starts the server without certfleet's custom search
	// attributes, for tests of the code that registers them.
	WithoutSearchAttributes bool
}

// Temporal starts an in-memory Temporal dev server on a free port for this
// test, stops it when the test ends, and returns its frontend address and a
// client of its default namespace.
func Temporal(t testing.TB, opts TemporalOptions) (string, client.Client) {
	t.Helper()
	binary := Tool(t, "temporal")
	var args []string
	if !opts.WithoutSearchAttributes {
		for _, key := range workflows.SearchAttributes {
			args = append(args, "--search-attribute", key.GetName()+"="+key.GetValueType().String())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	server, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath: binary,
		LogLevel:     "error",
		ExtraArgs:    args,
		Stdout:       io.Discard, // the CLI's banner; errors still reach stderr
		ClientOptions: &client.Options{
			Namespace: "default",
			Logger:    tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		},
	})
	if err != nil {
		t.Fatalf("start Temporal dev server from %s: %v", binary, err)
	}
	t.Cleanup(func() {
		if err := server.Stop(); err != nil {
			t.Logf("stop Temporal dev server: %v", err)
		}
	})
	return server.FrontendHostPort(), server.Client()
}

// Command is the path of a command a test needs from the machine (a real
// client from Debian's packages, which `make test` installs).
func Command(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		unavailable(t, name+" (see scripts/prereqs.sh)", err)
	}
	return path
}
