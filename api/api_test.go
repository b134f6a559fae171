package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func get(t *testing.T, srv *httptest.Server, method, path string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	require.NoError(t, err)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

// TestReadinessFollowsRealDependencies runs the health endpoints against a real
// Postgres and a real Temporal dev server, then takes Postgres away.
func TestReadinessFollowsRealDependencies(t *testing.T) {
	pool, _ := testenv.Database(t)
	_, tc := testenv.Temporal(t, testenv.TemporalOptions{})
	srv := httptest.NewServer(api.New(api.Deps{
		Logger: quiet,
		Checks: map[string]api.HealthCheck{
			"postgres": pool.Ping,
			"temporal": func(ctx context.Context) error {
				_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
				return err
			},
		},
	}))
	defer srv.Close()

	status, body := get(t, srv, http.MethodGet, "/healthz")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "ok", body["status"])

	status, body = get(t, srv, http.MethodGet, "/readyz")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, map[string]any{"postgres": "ok", "temporal": "ok"}, body["checks"])

	pool.Close()
	status, body = get(t, srv, http.MethodGet, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, "not ready", body["status"])
	assert.Equal(t, map[string]any{"postgres": "unavailable", "temporal": "ok"}, body["checks"])

	status, _ = get(t, srv, http.MethodGet, "/healthz")
	assert.Equal(t, http.StatusOK, status, "liveness does not depend on Postgres")
}

func TestErrorsHaveOneShape(t *testing.T) {
	srv := httptest.NewServer(api.New(api.Deps{Logger: quiet}))
	defer srv.Close()

	status, body := get(t, srv, http.MethodGet, "/no/such/route")
	assert.Equal(t, http.StatusNotFound, status)
	assert.Equal(t, map[string]any{"code": "not_found", "message": "no such route"}, body["error"])

	status, body = get(t, srv, http.MethodPost, "/healthz")
	assert.Equal(t, http.StatusMethodNotAllowed, status)
	assert.Equal(t, "method_not_allowed", body["error"].(map[string]any)["code"])
}
