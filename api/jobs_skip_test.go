package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/jobs"
)

// TestJobsShowSkippedDevices: a job created with a disabled device says so
// in its answer, counts it under skipped in its detail with the reason, and
// lists it among its items; the job still runs its other devices.
func TestJobsShowSkippedDevices(t *testing.T) {
	w := newAuditWorld(t)
	status, body := w.operator.do("POST", "/api/v1/devices/cam-2/disable", nil)
	require.Equal(t, http.StatusOK, status, body)

	status, body = w.operator.do("POST", "/api/v1/jobs", map[string]any{"name": "renew", "cert_type": "tls", "device_ids": []string{"cam-1", "cam-2"}})
	require.Equal(t, http.StatusCreated, status, body)
	skipped := []any{map[string]any{"device_id": "cam-2", "reason": jobs.ReasonDisabled}}
	assert.Equal(t, skipped, body["skipped"])
	job := fmt.Sprint(body["id"])

	status, body = w.auditor.do("GET", "/api/v1/jobs/"+job, nil)
	require.Equal(t, http.StatusOK, status, body)
	outcomes := body["outcomes"].(map[string]any)
	assert.Equal(t, float64(1), outcomes["skipped"])
	assert.Equal(t, float64(1), outcomes["pending"])
	assert.Equal(t, skipped, body["skipped"])

	status, body = w.auditor.do("GET", "/api/v1/jobs/"+job+"/items?state=skipped", nil)
	require.Equal(t, http.StatusOK, status, body)
	items := body["items"].([]any)
	require.Len(t, items, 1)
	assert.Equal(t, "cam-2", items[0].(map[string]any)["device_id"])
	assert.Equal(t, jobs.ReasonDisabled, items[0].(map[string]any)["last_error"])

	status, body = w.operator.do("POST", "/api/v1/jobs", map[string]any{"name": "again", "cert_type": "tls", "device_ids": []string{"cam-1", "cam-3"}})
	assert.Equal(t, http.StatusConflict, status, "cam-1 is in the first job, cam-2 is not: %v", body)
	status, body = w.operator.do("POST", "/api/v1/jobs", map[string]any{"name": "again", "cert_type": "tls", "device_ids": []string{"cam-2", "cam-3"}})
	require.Equal(t, http.StatusCreated, status, "a skipped item holds its device in no job: %v", body)
	assert.Equal(t, skipped, body["skipped"])
}
