package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeviceTypesThroughTheAPI: an admin creates a device type, which
// profiles, devices, CSV imports and EST labels then use; a default profile is given to every new
// device of the type; bad input is refused beside its field; a type in use
// cannot be deleted, an unused one can.
func TestDeviceTypesThroughTheAPI(t *testing.T) {
	ctx := context.Background()
	w := newAPIWorld(t)
	status, body := w.operator.do("POST", "/api/v1/device-types", map[string]any{"name": "meter"})
	assert.Equal(t, http.StatusForbidden, status, body)
	status, body = w.admin.do("POST", "/api/v1/device-types", map[string]any{"name": "Smart Meter"})
	require.Equal(t, http.StatusBadRequest, status, body)
	assert.Equal(t, "name", refusedField(body))
	status, body = w.admin.do("POST", "/api/v1/device-types", map[string]any{"name": "meter", "description": "Smart meters", "enforce_factory_mode": true})
	require.Equal(t, http.StatusCreated, status, body)
	status, body = w.admin.do("POST", "/api/v1/device-types", map[string]any{"name": "meter"})
	assert.Equal(t, http.StatusConflict, status, body)

	meterProfile := map[string]any{}
	for k, v := range cameraProfile {
		meterProfile[k] = v
	}
	meterProfile["name"], meterProfile["device_type"] = "meters", "meter"
	status, body = w.admin.do("POST", "/api/v1/profiles", meterProfile)
	require.Equal(t, http.StatusCreated, status, "a profile for the new type: %v", body)
	meters := body["id"]
	status, body = w.admin.do("POST", "/api/v1/profiles", cameraProfile)
	require.Equal(t, http.StatusCreated, status, body)
	cameras := body["id"]

	status, body = w.admin.do("PUT", "/api/v1/device-types/meter", map[string]any{"description": "Smart meters", "default_profile_id": cameras})
	require.Equal(t, http.StatusBadRequest, status, body)
	assert.Equal(t, "default_profile_id", refusedField(body), "a camera profile is no meter's default")
	status, body = w.admin.do("PUT", "/api/v1/device-types/meter", map[string]any{"description": "Smart meters", "enforce_factory_mode": true, "default_profile_id": meters})
	require.Equal(t, http.StatusOK, status, body)
	status, body = w.admin.do("PUT", "/api/v1/device-types/nope", map[string]any{"description": "x"})
	assert.Equal(t, http.StatusNotFound, status, body)

	status, body = w.operator.do("POST", "/api/v1/devices", map[string]any{"id": "meter-1", "name": "Meter 1", "device_type": "meter", "driver": "agent", "address": "https://10.0.0.9"})
	require.Equal(t, http.StatusCreated, status, body)
	var profileID int64
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT profile_id FROM device_profiles WHERE device_id = 'meter-1'`).Scan(&profileID))
	assert.Equal(t, int64(meters.(float64)), profileID, "the type's default profile, given at creation")

	status, body = w.operator.do("POST", "/api/v1/devices/import", "id,name,device_type,enrollment_otp\r\nmeter-2,Meter 2,meter,meter-2-one-time-password\r\n")
	require.Equal(t, http.StatusOK, status, "an import into the new type: %v", body)
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT profile_id FROM device_profiles WHERE device_id = 'meter-2'`).Scan(&profileID))
	assert.Equal(t, int64(meters.(float64)), profileID, "imported devices get the type's default profile too")
	status, body = w.admin.do("POST", "/api/v1/est-labels", map[string]any{"label": "meters", "profile_id": meters})
	require.Equal(t, http.StatusCreated, status, "an EST label enrolling the new type: %v", body)

	status, body = w.auditor.do("GET", "/api/v1/device-types", nil)
	require.Equal(t, http.StatusOK, status, body)
	var meter map[string]any
	for _, item := range body["items"].([]any) {
		if item.(map[string]any)["name"] == "meter" {
			meter = item.(map[string]any)
		}
	}
	require.NotNil(t, meter)
	assert.Equal(t, 2.0, meter["devices"])
	assert.Equal(t, 1.0, meter["profiles"])
	assert.Equal(t, true, meter["enforce_factory_mode"])

	status, body = w.admin.do("DELETE", "/api/v1/device-types/meter", nil)
	assert.Equal(t, http.StatusConflict, status, body)
	assert.Contains(t, body["error"].(map[string]any)["message"], "2 devices and 1 profiles")
	status, body = w.admin.do("POST", "/api/v1/device-types", map[string]any{"name": "spare"})
	require.Equal(t, http.StatusCreated, status, body)
	req, _ := http.NewRequest("DELETE", w.admin.srv.URL+"/api/v1/device-types/spare", nil)
	req.Header.Set("Authorization", "Bearer "+w.admin.token)
	resp, err := w.admin.srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	status, body = w.admin.do("DELETE", "/api/v1/device-types/spare", nil)
	assert.Equal(t, http.StatusNotFound, status, body)

	var audited int
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE object_type = 'device_type'`).Scan(&audited))
	assert.Equal(t, 4, audited, "two creations, an update and a deletion; refusals record nothing")
}
