package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"

	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/credentials"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/pki/trust"
	"github.com/certfleet/certfleet/renewal"
)

// TestCreateJobWhileTemporalIsSilent: POST /api/v1/jobs while Temporal
// answers nothing is 503 with Retry-After and names the job it stored (the
// reconciler starts it later); a start_at beyond the horizon is 400 naming
// start_at, and stores nothing.
func TestCreateJobWhileTemporalIsSilent(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	builtin, keys := testenv.BuiltinCA(t, pool, local.Options{})
	w := newAPIWorldWith(t, pool, api.Deps{Logger: quiet, Pool: pool,
		Jobs: &jobs.Service{Pool: pool, Temporal: unreachableTemporal{describe: serviceerror.NewUnavailable("dial tcp 10.0.0.7:7233: connection refused")}, TaskQueue: "silent-test"}, Approver: builtin, Trust: trust.New(pool),
		Revoker: builtin, Renewals: &renewal.Service{Pool: pool}, Credentials: &credentials.Store{Pool: pool, KEK: keys}})
	status, body := w.admin.do("POST", "/api/v1/profiles", cameraProfile)
	require.Equal(t, http.StatusCreated, status, body)
	w.lanCredential(t)
	status, body = w.operator.do("POST", "/api/v1/devices", map[string]any{"id": "cam-1", "name": "Lobby", "device_type": "camera",
		"address": "https://10.0.0.5", "credential": "cams-lan"})
	require.Equal(t, http.StatusCreated, status, body)
	status, body = w.operator.do("POST", "/api/v1/profile-assignments", map[string]any{"profile_id": 1, "device_ids": []string{"cam-1"}})
	require.Equal(t, http.StatusOK, status, body)

	far := time.Now().Add(2 * 365 * 24 * time.Hour).UTC().Format(time.RFC3339)
	status, body = w.operator.do("POST", "/api/v1/jobs", map[string]any{"name": "far", "cert_type": "tls", "device_ids": []string{"cam-1"}, "start_at": far})
	require.Equal(t, http.StatusBadRequest, status, body)
	assert.Equal(t, "start_at", body["error"].(map[string]any)["details"].(map[string]any)["field"])
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&n))
	assert.Zero(t, n, "a refused job stores nothing")

	data, err := json.Marshal(map[string]any{"name": "renew", "cert_type": "tls", "device_ids": []string{"cam-1"}})
	require.NoError(t, err)
	req, err := http.NewRequest("POST", w.operator.srv.URL+"/api/v1/jobs", bytes.NewReader(data))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+w.operator.token)
	resp, err := w.operator.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var answer map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&answer))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, answer)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	failure := answer["error"].(map[string]any)
	assert.Equal(t, "unavailable", failure["code"])
	assert.NotContains(t, failure["message"], "10.0.0.7", "the cause is not shown")
	jobID, ok := failure["details"].(map[string]any)["job_id"].(float64)
	require.True(t, ok, "the answer names the stored job: %v", failure)
	var state string
	require.NoError(t, pool.QueryRow(ctx, `SELECT status FROM jobs WHERE id = $1`, int64(jobID)).Scan(&state))
	assert.Equal(t, "scheduled", state, "the job waits for the reconciler")
}
