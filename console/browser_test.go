package console_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/console"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/internal/testenv"
)

// TestSignInAndDashboardInChromium runs e2e/signin.mjs (playwright-core
// driving Debian's Chromium) against the API on a real Postgres, serving the
// console built into this test binary: a wrong token is refused beside the
// field, the right one opens the dashboard, a reload keeps the session,
// signing out ends it, and the page asks nothing of another origin. The
// views are saved as screenshots, in CERTFLEET_SCREENSHOTS when it is set.
func TestSignInAndDashboardInChromium(t *testing.T) {
	if !console.Built() {
		testenv.Unavailable(t, "the built web console (run `make console`)", errors.New("console/dist/app/index.html is missing"))
	}
	chromium := testenv.Command(t, "chromium")
	node := testenv.Command(t, "node")
	if _, err := os.Stat("node_modules/playwright-core"); err != nil {
		testenv.Unavailable(t, "playwright-core (run `make console`)", err)
	}
	pool, _ := testenv.Database(t)
	token, err := auth.Create(context.Background(), store.New(pool), "console-admin", auth.Admin, "test")
	require.NoError(t, err)
	srv := httptest.NewServer(api.New(api.Deps{Logger: slog.New(slog.DiscardHandler), Pool: pool, Console: console.Handler()}))
	defer srv.Close()
	shots := os.Getenv("CERTFLEET_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	shots, err = filepath.Abs(shots)
	require.NoError(t, err)

	cmd := exec.Command(node, "e2e/signin.mjs")
	cmd.Env = append(os.Environ(), "BASE_URL="+srv.URL, "TOKEN="+token, "CHROMIUM="+chromium, "SCREENSHOTS="+shots)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, view := range []string{"sign-in", "sign-in-refused", "dashboard"} {
		info, err := os.Stat(filepath.Join(shots, view+".png"))
		require.NoError(t, err, view)
		assert.Greater(t, info.Size(), int64(5000), "%s is a real screenshot", view)
	}
	var ended int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM console_sessions WHERE ended_at IS NOT NULL`).Scan(&ended))
	assert.Equal(t, 1, ended, "signed out")
}
