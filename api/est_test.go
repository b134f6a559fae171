package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/auth"
)

func TestESTLabels(t *testing.T) {
	w := newAPIWorld(t)
	status, profile := w.admin.do("POST", "/api/v1/profiles", cameraProfile)
	require.Equal(t, 201, status, profile)
	label := map[string]any{"label": "cams", "is_default": true, "profile_id": profile["id"], "allow_factory": true, "allowed_cidrs": []string{"10.0.0.0/8"}}

	status, body := w.admin.do("POST", "/api/v1/est-labels", label)
	require.Equal(t, 201, status, body)
	assert.Equal(t, true, body["allow_basic"], "Basic is on unless turned off")
	assert.Equal(t, "CN", body["identity_field"])
	assert.Equal(t, []any{"10.0.0.0/8"}, body["allowed_cidrs"])

	for name, bad := range map[string]map[string]any{
		"an operation's name": {"label": "cacerts", "profile_id": profile["id"]},
		"bad characters":      {"label": "Cams!", "profile_id": profile["id"]},
		"not a network":       {"label": "x", "profile_id": profile["id"], "allowed_cidrs": []string{"10.0.0.1/8"}},
		"no way in":           {"label": "x", "profile_id": profile["id"], "allow_basic": false, "allow_reenroll": false},
		"unknown field":       {"label": "x", "profile_id": profile["id"], "secret": "x"},
	} {
		status, body := w.admin.do("POST", "/api/v1/est-labels", bad)
		assert.Equal(t, 400, status, "%s: %v", name, body)
	}
	status, body = w.admin.do("POST", "/api/v1/est-labels", map[string]any{"label": "other", "is_default": true, "profile_id": profile["id"]})
	assert.Equal(t, 409, status, "a second default: %v", body)
	status, body = w.admin.do("POST", "/api/v1/est-labels", map[string]any{"label": "other", "profile_id": 999999})
	assert.Equal(t, 400, status, "an unknown profile: %v", body)
	status, _ = w.operator.do("POST", "/api/v1/est-labels", map[string]any{"label": "other", "profile_id": profile["id"]})
	assert.Equal(t, 403, status, "labels are for admins")

	// Moving the default is one call: the other label becomes it, and cams
	// stops being it, at once.
	status, body = w.admin.do("POST", "/api/v1/est-labels", map[string]any{"label": "other", "profile_id": profile["id"]})
	require.Equal(t, 201, status, body)
	status, body = w.operator.do("POST", "/api/v1/est-labels/other/default", nil)
	assert.Equal(t, 403, status, body)
	status, body = w.admin.do("POST", "/api/v1/est-labels/nope/default", nil)
	assert.Equal(t, 404, status, "an unknown label: %v", body)
	status, body = w.auditor.do("GET", "/api/v1/est-labels/cams", nil)
	require.Equal(t, 200, status)
	assert.Equal(t, true, body["is_default"], "the refused move changed nothing")
	status, body = w.admin.do("POST", "/api/v1/est-labels/other/default", nil)
	require.Equal(t, 200, status, body)
	assert.Equal(t, true, body["is_default"])
	status, body = w.auditor.do("GET", "/api/v1/est-labels/cams", nil)
	require.Equal(t, 200, status)
	assert.Equal(t, false, body["is_default"])
	status, body = w.admin.do("POST", "/api/v1/est-labels/cams/default", nil)
	require.Equal(t, 200, status, body)
	status, _ = w.admin.do("DELETE", "/api/v1/est-labels/other", nil)
	require.Equal(t, 200, status)

	label["allowed_cidrs"] = []string{}
	label["allow_basic"] = false
	status, body = w.admin.do("PUT", "/api/v1/est-labels/cams", label)
	require.Equal(t, 200, status, body)
	assert.Equal(t, false, body["allow_basic"])
	status, body = w.auditor.do("GET", "/api/v1/est-labels", nil)
	require.Equal(t, 200, status)
	assert.Len(t, body["items"], 1)
	status, _ = w.admin.do("DELETE", "/api/v1/est-labels/cams", nil)
	assert.Equal(t, 200, status)
	status, _ = w.admin.do("GET", "/api/v1/est-labels/cams", nil)
	assert.Equal(t, 404, status)
}

// TestBulkRegistration: an import row with an OTP creates a NEW device that
// enrolls itself, with the OTP stored only as a hash.
func TestBulkRegistration(t *testing.T) {
	w := newAPIWorld(t)
	csv := "id,name,device_type,enrollment_otp\ncam-1,Camera 1,camera,otp-1234567\ncam-2,Camera 2,camera,short\ncam-3,Camera 3,camera,\n"
	status, body := w.operator.do("POST", "/api/v1/devices/import", csv)
	require.Equal(t, 207, status, "a row with a short OTP was not imported (207): %v", body)
	assert.Equal(t, float64(2), body["created"])
	require.Len(t, body["errors"], 1)
	assert.Equal(t, "enrollment_otp", body["errors"].([]any)[0].(map[string]any)["field"])

	ctx := context.Background()
	var driver, mode, kind, hash string
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT d.driver, d.mode, c.kind, c.secret_hash FROM devices d JOIN enrollment_credentials c ON c.device_id = d.id WHERE d.id = 'cam-1'`).Scan(&driver, &mode, &kind, &hash))
	assert.Equal(t, []string{"est", "NEW", "otp"}, []string{driver, mode, kind})
	assert.NotContains(t, hash, "otp-1234567")
	ok, err := auth.VerifySecret(hash, "otp-1234567")
	require.NoError(t, err)
	assert.True(t, ok)
	var leaks int
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE details::text LIKE '%otp-1234567%'`).Scan(&leaks))
	assert.Zero(t, leaks)
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT driver FROM devices WHERE id = 'cam-3'`).Scan(&driver))
	assert.Equal(t, "agent", driver, "without an OTP the default driver stands")

	status, body = w.operator.do("PUT", "/api/v1/devices/cam-1/enrollment-password", map[string]any{"password": "short"})
	assert.Equal(t, 400, status, body)
	status, body = w.operator.do("PUT", "/api/v1/devices/cam-9/enrollment-password", map[string]any{"password": "a-long-password"})
	assert.Equal(t, 404, status, body)
	for range 2 { // replacing the password keeps one
		status, body = w.operator.do("PUT", "/api/v1/devices/cam-1/enrollment-password", map[string]any{"password": "a-long-password"})
		require.Equal(t, 200, status, body)
		assert.False(t, strings.Contains(body["enrollment_password"].(string), "a-long"), "the password is not echoed")
	}
	var passwords int
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT count(*) FROM enrollment_credentials WHERE device_id = 'cam-1' AND kind = 'password'`).Scan(&passwords))
	assert.Equal(t, 1, passwords)
}
