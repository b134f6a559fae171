package api_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/db/store"
)

// TestJobRefusalsSayWhatToFix: a job naming a device that does not exist is
// told so, apart from one naming a device without a profile for the
// certificate type; and devices held by an active job are refused in one
// shape by job creation and by profile assignment alike: details.devices
// lists the device IDs, details.jobs each one's job.
func TestJobRefusalsSayWhatToFix(t *testing.T) {
	w := newAPIWorld(t)
	status, body := w.admin.do("POST", "/api/v1/profiles", cameraProfile)
	require.Equal(t, http.StatusCreated, status, body)
	profileID := int64(body["id"].(float64))
	for _, id := range []string{"cam-1", "cam-2", "cam-3"} {
		status, body = w.operator.do("POST", "/api/v1/devices", map[string]any{"id": id, "name": id, "device_type": "camera"})
		require.Equal(t, http.StatusCreated, status, body)
	}
	status, body = w.operator.do("POST", "/api/v1/profile-assignments", map[string]any{"profile_id": profileID, "device_ids": []string{"cam-1", "cam-2"}})
	require.Equal(t, http.StatusOK, status, body)

	refusal := func(body map[string]any) (string, map[string]any) {
		e := body["error"].(map[string]any)
		details, _ := e["details"].(map[string]any)
		return e["message"].(string), details
	}
	job := func(ids ...string) map[string]any {
		return map[string]any{"name": "renew", "cert_type": "tls", "device_ids": ids}
	}

	status, body = w.operator.do("POST", "/api/v1/jobs", job("cam-1", "cam-9"))
	require.Equal(t, http.StatusBadRequest, status, body)
	message, details := refusal(body)
	assert.Equal(t, "device_ids: no such devices: cam-9", message)
	assert.Equal(t, []any{"cam-9"}, details["devices"])
	assert.Equal(t, []any{"cam-9"}, details["unknown"])

	status, body = w.operator.do("POST", "/api/v1/jobs", job("cam-1", "cam-3"))
	require.Equal(t, http.StatusBadRequest, status, body)
	message, details = refusal(body)
	assert.Equal(t, "device_ids: no tls profile is assigned to cam-3 (assign one with POST /api/v1/profile-assignments)", message)
	assert.Equal(t, []any{"cam-3"}, details["without_profile"])

	status, body = w.operator.do("POST", "/api/v1/jobs", job("cam-3", "cam-9"))
	require.Equal(t, http.StatusBadRequest, status, body)
	message, details = refusal(body)
	assert.Contains(t, message, "no such devices: cam-9; no tls profile is assigned to cam-3")
	assert.Equal(t, []any{"cam-3", "cam-9"}, details["devices"])

	// cam-2 is held by an active job.
	q := store.New(w.pool)
	held, err := q.CreateJob(context.Background(), store.CreateJobParams{Name: "held", CertType: "tls", CreatedBy: "t", ScheduledAt: time.Now()})
	require.NoError(t, err)
	require.NoError(t, q.AddJobItem(context.Background(), store.AddJobItemParams{JobID: held.ID, DeviceID: "cam-2", CertType: "tls", ProfileID: profileID}))
	for name, attempt := range map[string]func() (int, map[string]any){
		"job creation": func() (int, map[string]any) { return w.operator.do("POST", "/api/v1/jobs", job("cam-1", "cam-2")) },
		"profile assignment": func() (int, map[string]any) {
			return w.operator.do("POST", "/api/v1/profile-assignments", map[string]any{"profile_id": profileID, "device_ids": []string{"cam-1", "cam-2"}})
		},
	} {
		status, body := attempt()
		require.Equal(t, http.StatusConflict, status, "%s: %v", name, body)
		message, details := refusal(body)
		assert.Equal(t, fmt.Sprintf("already in an active tls job: cam-2 (job %d)", held.ID), message, name)
		assert.Equal(t, []any{"cam-2"}, details["devices"], name)
		assert.Equal(t, map[string]any{"cam-2": float64(held.ID)}, details["jobs"], name)
	}
}

// TestDeviceImportReportsEveryError: a row is reported with every error it
// has, not the first only; a field Postgres cannot store is a row error
// too; and the status says whether every row was imported: 200 when all
// were, 207 when some were not.
func TestDeviceImportReportsEveryError(t *testing.T) {
	w := newAPIWorld(t)
	upload := "id,name,device_type,address\r\n" +
		"cam-1,Lobby,camera,https://10.0.0.1\r\n" + // line 2: good
		"bad id,,toaster,http://10.0.0.2\r\n" + // line 3: four errors
		"cam-3,Gate \x00north,camera,\r\n" + // line 4: NUL in the name
		"cam-4,Yard \xff,camera,\r\n" // line 5: not UTF-8
	status, body := w.operator.do("POST", "/api/v1/devices/import", upload)
	require.Equal(t, http.StatusMultiStatus, status, body)
	assert.Equal(t, float64(1), body["created"])
	fields := map[float64][]string{}
	for _, e := range body["errors"].([]any) {
		row := e.(map[string]any)
		fields[row["line"].(float64)] = append(fields[row["line"].(float64)], row["field"].(string))
	}
	assert.Equal(t, map[float64][]string{3: {"id", "name", "device_type", "address"}, 4: {"name"}, 5: {"name"}}, fields)

	status, body = w.operator.do("POST", "/api/v1/devices/import", "id,name,device_type\r\nbad id,x,camera\r\n")
	assert.Equal(t, http.StatusMultiStatus, status, "no row imported is not all imported: %v", body)
	assert.Equal(t, float64(0), body["created"])

	status, body = w.operator.do("POST", "/api/v1/devices/import", "id,name,device_type\r\ncam-5,Clean,camera\r\ncam-6,Clean,camera\r\n")
	assert.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, float64(2), body["created"])
	assert.Equal(t, []any{}, body["errors"])
}
