package api_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/workflows"
)

const fleetSecret = "api-test-fleet-secret-0123456789"

// TestJobsThroughTheAPI creates a job through the API against a real stack
// and reads it back: detail with counts, items with workflow IDs, lists.
func TestJobsThroughTheAPI(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	_, tc := testenv.Temporal(t, testenv.TemporalOptions{})
	simURL, _ := testenv.DeviceSim(t, 4, fleetSecret)
	builtin, keys := testenv.BuiltinCA(t, pool, local.Options{})
	creds, _ := testenv.FleetCredential(t, pool, keys, fleetSecret)
	testenv.StartWorker(t, tc, "api-test", testenv.Activities(pool, builtin, creds), nil)
	world := newAPIWorldWith(t, pool, api.Deps{Logger: quiet, Pool: pool, Jobs: &jobs.Service{Pool: pool, Temporal: tc, TaskQueue: "api-test"}})

	status, body := world.admin.do("POST", "/api/v1/profiles", cameraProfile)
	require.Equal(t, http.StatusCreated, status, body)
	profileID := json.Number(fmt.Sprint(body["id"]))
	for i := 1; i <= 4; i++ {
		id := fmt.Sprintf("sim-%05d", i)
		// An admin binds the fleet's credential: it carries no address patterns.
		status, body = world.admin.do("POST", "/api/v1/devices", map[string]any{
			"id": id, "name": id, "device_type": "camera", "address": simURL + "/devices/" + id, "credential": "fleet",
		})
		require.Equal(t, http.StatusCreated, status, body)
	}
	status, body = world.operator.do("POST", "/api/v1/profile-assignments", map[string]any{"profile_id": profileID, "device_ids": []string{"sim-00001", "sim-00002", "sim-00003"}})
	require.Equal(t, http.StatusOK, status, body)

	status, body = world.operator.do("POST", "/api/v1/jobs", map[string]any{"name": "renew", "cert_type": "tls", "device_ids": []string{"sim-00001", "sim-00004"}})
	require.Equal(t, http.StatusBadRequest, status, "sim-00004 has no profile: %v", body)
	assert.Equal(t, []any{"sim-00004"}, body["error"].(map[string]any)["details"].(map[string]any)["devices"])

	status, body = world.operator.do("POST", "/api/v1/jobs", map[string]any{"name": "renew", "cert_type": "tls", "device_ids": []string{"sim-00001", "sim-00002", "sim-00003"}})
	require.Equal(t, http.StatusCreated, status, body)
	jobID := int64(body["id"].(float64))
	assert.Equal(t, workflows.JobWorkflowID(jobID), body["workflow_id"])
	status, body = world.operator.do("POST", "/api/v1/jobs", map[string]any{"name": "again", "cert_type": "tls", "device_ids": []string{"sim-00002"}})
	require.Equal(t, http.StatusConflict, status, body)
	assert.Len(t, body["error"].(map[string]any)["details"].(map[string]any)["devices"], 1)
	status, _ = world.auditor.do("POST", fmt.Sprintf("/api/v1/jobs/%d/halt", jobID), nil)
	assert.Equal(t, http.StatusForbidden, status)

	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	require.NoError(t, tc.GetWorkflow(waitCtx, workflows.JobWorkflowID(jobID), "").Get(waitCtx, nil))

	status, body = world.auditor.do("GET", fmt.Sprintf("/api/v1/jobs/%d", jobID), nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, float64(3), body["outcomes"].(map[string]any)["revoke_na"])
	assert.Equal(t, "succeeded", body["job"].(map[string]any)["status"])
	assert.NotContains(t, body, "live", "a finished job shows its stored state only")
	assert.Equal(t, float64(0), body["retried_items"])
	status, body = world.operator.do("POST", fmt.Sprintf("/api/v1/jobs/%d/retry", jobID), nil)
	assert.Equal(t, http.StatusConflict, status, "nothing failed, nothing to retry: %v", body)
	req, err := http.NewRequest("GET", world.auditor.srv.URL+"/api/v1/jobs.csv", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+world.auditor.token)
	resp, err := world.auditor.srv.Client().Do(req)
	require.NoError(t, err)
	records, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	require.NoError(t, err)
	require.Len(t, records, 2)
	column := func(name string) string { return records[1][slices.Index(records[0], name)] }
	assert.Equal(t, "succeeded", column("status"))
	assert.Equal(t, "3", column("revoke_na"), "the CSV counts the job's items by outcome")
	assert.Equal(t, "0", column("device_failure"))
	assert.Equal(t, "", column("retry_of"))
	status, body = world.auditor.do("POST", fmt.Sprintf("/api/v1/jobs/%d/retry", jobID), nil)
	assert.Equal(t, http.StatusForbidden, status, "retrying is for operators: %v", body)
	status, body = world.auditor.do("GET", fmt.Sprintf("/api/v1/jobs/%d/items?state=revoke_na&limit=2", jobID), nil)
	require.Equal(t, http.StatusOK, status, body)
	items := body["items"].([]any)
	require.Len(t, items, 2)
	assert.Equal(t, workflows.DeviceWorkflowID(jobID, "sim-00001"), items[0].(map[string]any)["workflow_id"])
	assert.Equal(t, "sim-00002", body["next"])
	status, body = world.operator.do("POST", fmt.Sprintf("/api/v1/jobs/%d/halt", jobID), nil)
	assert.Equal(t, http.StatusConflict, status, "a finished job cannot be halted: %v", body)

	// Renew by certificate: the job's devices and type come from the certificates.
	var certIDs []any
	for _, item := range items {
		certIDs = append(certIDs, item.(map[string]any)["issued_certificate_id"])
	}
	status, body = world.operator.do("POST", "/api/v1/jobs", map[string]any{"name": "renew by certificate", "certificate_ids": certIDs})
	require.Equal(t, http.StatusCreated, status, body)
	renewal := int64(body["id"].(float64))
	assert.Equal(t, "tls", body["cert_type"])
	require.NoError(t, tc.GetWorkflow(waitCtx, workflows.JobWorkflowID(renewal), "").Get(waitCtx, nil))
	_, body = world.auditor.do("GET", fmt.Sprintf("/api/v1/jobs/%d", renewal), nil)
	assert.Equal(t, float64(2), body["outcomes"].(map[string]any)["succeeded"], "both prior certificates superseded and revoked")
	for _, bad := range []map[string]any{
		{"name": "x", "certificate_ids": []int{999999}},
		{"name": "x", "certificate_ids": certIDs, "device_ids": []string{"sim-00001"}},
		{"name": "x", "cert_type": "ieee8021x", "certificate_ids": certIDs},
	} {
		status, body = world.operator.do("POST", "/api/v1/jobs", bad)
		assert.Equal(t, http.StatusBadRequest, status, "%v", body)
		assert.Equal(t, "certificate_ids", body["error"].(map[string]any)["details"].(map[string]any)["field"])
	}

	status, body = world.auditor.do("GET", "/api/v1/jobs?state=closed&sort=name&order=asc", nil)
	require.Equal(t, http.StatusOK, status, body)
	require.Len(t, body["items"], 2)
	assert.Equal(t, "renew", body["items"].([]any)[0].(map[string]any)["name"], "sorted by name")
	status, body = world.auditor.do("GET", "/api/v1/jobs?state=active", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Empty(t, body["items"])
	for _, bad := range []string{"sort=bogus", "order=up", "state=sometimes", "limit=101", "offset=-1"} {
		status, body = world.auditor.do("GET", "/api/v1/jobs?"+bad, nil)
		assert.Equal(t, http.StatusBadRequest, status, "%s: %v", bad, body)
	}
}

// TestJobDetailWithoutTemporal: a running job's detail answers from Postgres
// within about a second while Temporal accepts connections but never answers,
// leaving out only the live block.
func TestJobDetailWithoutTemporal(t *testing.T) {
	pool, _ := testenv.Database(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() { // accept and hold every connection, answering nothing
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() })
		}
	}()
	tc, err := client.NewLazyClient(client.Options{HostPort: ln.Addr().String(), Logger: tlog.NewStructuredLogger(quiet)})
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	world := newAPIWorldWith(t, pool, api.Deps{Logger: quiet, Pool: pool, Jobs: &jobs.Service{Pool: pool, Temporal: tc, TaskQueue: "api-test"}})
	job, err := store.New(pool).CreateJob(context.Background(), store.CreateJobParams{Name: "running", CertType: "tls", CreatedBy: "test", ScheduledAt: time.Now()})
	require.NoError(t, err)
	_, err = pool.Exec(context.Background(), `UPDATE jobs SET status = 'running', started_at = now() WHERE id = $1`, job.ID)
	require.NoError(t, err)

	begin := time.Now()
	status, body := world.auditor.do("GET", fmt.Sprintf("/api/v1/jobs/%d", job.ID), nil)
	took := time.Since(begin)
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "running", body["job"].(map[string]any)["status"])
	assert.NotContains(t, body, "live", "no answer from Temporal, no live block")
	assert.Less(t, took, 3*time.Second, "the live query is bounded")
}
