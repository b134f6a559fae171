package api_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/db/store"
)

// refusedField is the field a 4xx answer names.
func refusedField(body map[string]any) any {
	e, _ := body["error"].(map[string]any)
	details, _ := e["details"].(map[string]any)
	return details["field"]
}

// TestESTLabelSCEPSettings: a label's SCEP settings round-trip, default to
// off and every challenge kind, and a bad kind is refused naming the field.
func TestESTLabelSCEPSettings(t *testing.T) {
	w := newAPIWorld(t)
	status, profile := w.admin.do("POST", "/api/v1/profiles", cameraProfile)
	require.Equal(t, http.StatusCreated, status, profile)

	status, body := w.admin.do("POST", "/api/v1/est-labels", map[string]any{"label": "plain", "profile_id": profile["id"]})
	require.Equal(t, http.StatusCreated, status, body)
	assert.Equal(t, false, body["scep_enabled"])
	assert.Equal(t, []any{"otp", "dynamic"}, body["scep_challenges"], "omitted: every kind")

	label := map[string]any{"label": "mdm", "profile_id": profile["id"], "scep_enabled": true, "scep_challenges": []string{"dynamic"}}
	status, body = w.admin.do("POST", "/api/v1/est-labels", label)
	require.Equal(t, http.StatusCreated, status, body)
	status, body = w.auditor.do("GET", "/api/v1/est-labels/mdm", nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, true, body["scep_enabled"])
	assert.Equal(t, []any{"dynamic"}, body["scep_challenges"])

	label["scep_challenges"] = []string{"dynamic", "otp"}
	status, body = w.admin.do("PUT", "/api/v1/est-labels/mdm", label)
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, []any{"dynamic", "otp"}, body["scep_challenges"])

	for name, kinds := range map[string]any{
		"unknown kind": []string{"otp", "basic"},
		"twice":        []string{"otp", "otp"},
		"not a list":   "otp",
	} {
		label["scep_challenges"] = kinds
		status, body = w.admin.do("PUT", "/api/v1/est-labels/mdm", label)
		assert.Equal(t, http.StatusBadRequest, status, "%s: %v", name, body)
		assert.Equal(t, "scep_challenges", refusedField(body), name)
	}
	status, body = w.auditor.do("GET", "/api/v1/est-labels/mdm", nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, []any{"dynamic", "otp"}, body["scep_challenges"], "a refused change changes nothing")
}

// TestSCEPChallenges: an operator gets a one-time challenge, shown once;
// only its SHA-256 is stored, the audit row names it without the secret, and
// bad requests change nothing.
func TestSCEPChallenges(t *testing.T) {
	w := newAPIWorld(t)
	ctx := context.Background()
	status, profile := w.admin.do("POST", "/api/v1/profiles", cameraProfile)
	require.Equal(t, http.StatusCreated, status, profile)
	status, body := w.admin.do("POST", "/api/v1/est-labels", map[string]any{"label": "mdm", "profile_id": profile["id"], "scep_enabled": true})
	require.Equal(t, http.StatusCreated, status, body)
	status, body = w.admin.do("POST", "/api/v1/est-labels", map[string]any{"label": "est-only", "profile_id": profile["id"]})
	require.Equal(t, http.StatusCreated, status, body)
	_, err := store.New(w.pool).CreateDevice(ctx, store.CreateDeviceParams{ID: "cam-1", Name: "cam-1", DeviceType: "camera", Mode: "NEW", Driver: "est"})
	require.NoError(t, err)

	before := time.Now()
	status, body = w.operator.do("POST", "/api/v1/scep/challenges", map[string]any{"device_id": "cam-1", "label": "mdm", "lifetime": "30m"})
	require.Equal(t, http.StatusCreated, status, body)
	secret, _ := body["challenge"].(string)
	assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{32}$`), secret)
	assert.Equal(t, "cam-1", body["device_id"])
	assert.Equal(t, "mdm", body["label"])
	expires, err := time.Parse(time.RFC3339, body["expires_at"].(string))
	require.NoError(t, err)
	assert.WithinDuration(t, before.Add(30*time.Minute), expires, time.Minute)
	id := fmt.Sprint(body["id"])

	var digest []byte
	var createdBy string
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT secret_sha256, created_by FROM scep_challenges WHERE id = $1`, id).Scan(&digest, &createdBy))
	sum := sha256.Sum256([]byte(secret))
	assert.Equal(t, sum[:], digest, "the secret's SHA-256 is stored")
	assert.Regexp(t, `^token:operator-token#\d+$`, createdBy, "made by the caller's token")
	var leaks int
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM scep_challenges s WHERE s::text LIKE '%' || $1 || '%')
		+ (SELECT count(*) FROM audit_log a WHERE a::text LIKE '%' || $1 || '%')`, secret).Scan(&leaks))
	assert.Zero(t, leaks, "the secret is stored nowhere")
	var audited int
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'scep_challenge.create'
		AND object_type = 'scep_challenge' AND object_ids = ARRAY[$1::text] AND details->>'device_id' = 'cam-1'`, id).Scan(&audited))
	assert.Equal(t, 1, audited)

	status, body = w.operator.do("POST", "/api/v1/scep/challenges", map[string]any{})
	require.Equal(t, http.StatusCreated, status, body)
	assert.Nil(t, body["device_id"], "for any device")
	assert.NotEqual(t, secret, body["challenge"])

	status, _ = w.auditor.do("POST", "/api/v1/scep/challenges", map[string]any{})
	assert.Equal(t, http.StatusForbidden, status, "challenges are for operators")
	for name, c := range map[string]struct {
		body  map[string]any
		field string
	}{
		"unknown device":      {map[string]any{"device_id": "cam-9"}, "device_id"},
		"unknown label":       {map[string]any{"label": "nope"}, "label"},
		"label without SCEP":  {map[string]any{"label": "est-only"}, "label"},
		"lifetime too short":  {map[string]any{"lifetime": "30s"}, "lifetime"},
		"lifetime too long":   {map[string]any{"lifetime": "169h"}, "lifetime"},
		"lifetime not a time": {map[string]any{"lifetime": "1 hour"}, "lifetime"},
		"unknown field":       {map[string]any{"secret": "mine"}, "secret"},
	} {
		status, body := w.operator.do("POST", "/api/v1/scep/challenges", c.body)
		assert.Equal(t, http.StatusBadRequest, status, "%s: %v", name, body)
		assert.Equal(t, c.field, refusedField(body), name)
	}
	var rows, audits int
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM scep_challenges),
		(SELECT count(*) FROM audit_log WHERE action = 'scep_challenge.create')`).Scan(&rows, &audits))
	assert.Equal(t, []int{2, 2}, []int{rows, audits}, "refusals change nothing")
}
