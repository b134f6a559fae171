package api_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/renewal"
	"github.com/certfleet/certfleet/workflows"
)

// TestRenewalPoliciesThroughTheAPI: each change reaches the policy's
// schedule on a real dev server, bad policies change nothing, and the alerts
// list what is due and what has expired.
func TestRenewalPoliciesThroughTheAPI(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	_, tc := testenv.Temporal(t, testenv.TemporalOptions{})
	world := newAPIWorldWith(t, pool, api.Deps{Logger: quiet, Pool: pool, Renewals: &renewal.Service{Pool: pool, Temporal: tc, TaskQueue: "api-test"}})

	policy := map[string]any{"name": "nightly", "cert_type": "tls", "renew_before_days": 30, "cron": "0 3 * * *", "time_zone": "Europe/Berlin",
		"windows": []map[string]any{{"days": []string{"mon", "tue"}, "start": "01:00", "end": "05:00"}}}
	for name, bad := range map[string]map[string]any{
		"no rhythm":             {"name": "x", "cert_type": "tls", "renew_before_days": 30},
		"cron Temporal refuses": {"name": "x", "cert_type": "tls", "renew_before_days": 30, "cron": "99 99 * * *"},
		"unknown field":         {"name": "x", "cert_type": "tls", "renew_before_days": 30, "cron": "0 3 * * *", "color": "red"},
	} {
		status, body := world.admin.do("POST", "/api/v1/renewal-policies", bad)
		assert.Equal(t, http.StatusBadRequest, status, "%s: %v", name, body)
	}
	var policies int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM renewal_policies`).Scan(&policies))
	require.Zero(t, policies, "refused policies leave no row")

	status, created := world.admin.do("POST", "/api/v1/renewal-policies", policy)
	require.Equal(t, http.StatusCreated, status, created)
	id := int64(created["id"].(float64))
	path := fmt.Sprintf("/api/v1/renewal-policies/%d", id)
	handle := tc.ScheduleClient().GetHandle(ctx, workflows.RenewalScheduleID(id))
	desc, err := handle.Describe(ctx)
	require.NoError(t, err)
	assert.Equal(t, "Europe/Berlin", desc.Schedule.Spec.TimeZoneName)

	policy["every"], policy["cron"] = "6h", ""
	status, body := world.admin.do("PUT", path, policy)
	require.Equal(t, http.StatusOK, status, body)
	desc, err = handle.Describe(ctx)
	require.NoError(t, err)
	require.Len(t, desc.Schedule.Spec.Intervals, 1, "the change reached the schedule")
	assert.Equal(t, 6*time.Hour, desc.Schedule.Spec.Intervals[0].Every)

	status, body = world.operator.do("POST", path+"/pause", nil)
	require.Equal(t, http.StatusOK, status, body)
	desc, err = handle.Describe(ctx)
	require.NoError(t, err)
	assert.True(t, desc.Schedule.State.Paused)
	status, body = world.auditor.do("GET", path, nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.NotContains(t, body, "next_run_at", "a paused schedule has no next run")
	status, _ = world.operator.do("POST", path+"/resume", nil)
	require.Equal(t, http.StatusOK, status)

	// The policy shows its schedule's next run, from Temporal's Describe.
	status, body = world.auditor.do("GET", path, nil)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "next_run_at", body)
	next, err := time.Parse(time.RFC3339Nano, body["next_run_at"].(string))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(3*time.Hour), next, 3*time.Hour+time.Minute, "every 6h: the next run is within 6 hours")
	status, body = world.auditor.do("GET", "/api/v1/renewal-policies", nil)
	require.Equal(t, http.StatusOK, status, body)
	items := body["items"].([]any)
	require.Len(t, items, 1)
	assert.Equal(t, next.Format(time.RFC3339Nano), items[0].(map[string]any)["next_run_at"], "the list shows it too")
	status, body = world.operator.do("POST", path+"/backfill", map[string]any{"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"})
	assert.Equal(t, http.StatusBadRequest, status, body)
	status, body = world.operator.do("POST", path+"/trigger", nil)
	assert.Equal(t, http.StatusAccepted, status, body)
	status, _ = world.operator.do("POST", "/api/v1/renewal-policies/999/trigger", nil)
	assert.Equal(t, http.StatusNotFound, status)
	status, _ = world.operator.do("PUT", path, policy)
	assert.Equal(t, http.StatusForbidden, status, "changing a policy is for admins")

	status, body = world.auditor.do("GET", "/api/v1/renewal-alerts", nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, "due")
	assert.Contains(t, body, "expired")

	status, _ = world.admin.do("DELETE", path, nil)
	require.Equal(t, http.StatusOK, status)
	_, err = handle.Describe(ctx)
	assert.Error(t, err, "deleting the policy deleted its schedule")
	var audit int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE object_type = 'renewal_policy'`).Scan(&audit))
	assert.Equal(t, 6, audit, "create, update, pause, resume, trigger, delete")
}
