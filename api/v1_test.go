package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/credentials"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/drivers/registry"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/inventory"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/pki/trust"
	"github.com/certfleet/certfleet/renewal"
)

type apiClient struct {
	t     *testing.T
	srv   *httptest.Server
	token string
}

// do sends a request and decodes the JSON answer.
func (c apiClient) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		reader = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		require.NoError(c.t, err)
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.srv.URL+path, reader)
	require.NoError(c.t, err)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.srv.Client().Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	require.NoError(c.t, json.Unmarshal(data, &out), "%s %s answered %q", method, path, data)
	return resp.StatusCode, out
}

type apiWorld struct {
	pool                     *pgxpool.Pool
	admin, operator, auditor apiClient
	anonymous                apiClient
}

func newAPIWorld(t *testing.T) apiWorld {
	t.Helper()
	pool, _ := testenv.Database(t)
	builtin, keys := testenv.BuiltinCA(t, pool, local.Options{})
	// Renewals without Temporal: enough for everything that fails before a schedule is touched.
	return newAPIWorldWith(t, pool, api.Deps{Logger: quiet, Pool: pool, Jobs: &jobs.Service{Pool: pool}, Approver: builtin, Trust: trust.New(pool), Revoker: builtin,
		Renewals: &renewal.Service{Pool: pool}, Credentials: &credentials.Store{Pool: pool, KEK: keys}})
}

// lanCredential is a bearer credential an operator may bind to devices on 10.0.0.0/16.
func (w apiWorld) lanCredential(t *testing.T) {
	t.Helper()
	status, body := w.admin.do("POST", "/api/v1/credentials", map[string]any{
		"name": "cams-lan", "kind": "bearer", "secret": "lan-bearer-secret-0123456789", "allowed_addresses": []string{"https://10.0.*"},
	})
	require.Equal(t, http.StatusCreated, status, body)
}

func newAPIWorldWith(t *testing.T, pool *pgxpool.Pool, deps api.Deps) apiWorld {
	t.Helper()
	if deps.Drivers == nil { // enough to list drivers and check their settings
		deps.Drivers = registry.New(pool, nil, nil, time.Second)
	}
	if deps.Inventory == nil { // enough for the refusals before a workflow starts
		deps.Inventory = &inventory.Service{Pool: pool}
	}
	srv := httptest.NewServer(api.New(deps))
	t.Cleanup(srv.Close)
	token := func(role auth.Role) apiClient {
		tok, err := auth.Create(context.Background(), store.New(pool), string(role)+"-token", role, "test")
		require.NoError(t, err)
		return apiClient{t: t, srv: srv, token: tok}
	}
	return apiWorld{pool: pool, admin: token(auth.Admin), operator: token(auth.Operator), auditor: token(auth.Auditor), anonymous: apiClient{t: t, srv: srv}}
}

var cameraProfile = map[string]any{
	"name": "cameras", "cert_type": "tls", "device_type": "camera",
	"subject_rules":  []map[string]any{{"attr": "CN", "rule": "from_csr"}},
	"key_algorithms": []map[string]any{{"algorithm": "ecdsa", "sizes": []int{256}}},
	"validity_days":  90, "renew_before_days": 30,
}

func TestProfilesDevicesAndAssignments(t *testing.T) {
	w := newAPIWorld(t)

	status, body := w.admin.do("POST", "/api/v1/profiles", cameraProfile)
	require.Equal(t, http.StatusCreated, status, body)
	profileID := fmt.Sprint(body["id"])
	assert.Equal(t, "local", body["ca_driver"])
	assert.Equal(t, float64(168), body["max_ca_wait_hours"])
	status, body = w.auditor.do("GET", "/api/v1/profiles/"+profileID, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "cameras", body["name"])
	updated := map[string]any{}
	for k, v := range cameraProfile {
		updated[k] = v
	}
	updated["approval_mode"] = true
	status, body = w.admin.do("PUT", "/api/v1/profiles/"+profileID, updated)
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, true, body["approval_mode"])
	status, body = w.admin.do("POST", "/api/v1/profiles", cameraProfile)
	assert.Equal(t, http.StatusConflict, status, "names are unique: %v", body)

	w.lanCredential(t)
	for i := 1; i <= 3; i++ {
		status, body = w.operator.do("POST", "/api/v1/devices", map[string]any{
			"id": fmt.Sprintf("cam-%d", i), "name": fmt.Sprintf("Lobby %d", i), "device_type": "camera",
			"address": fmt.Sprintf("https://10.0.0.%d:9443", i), "credential": "cams-lan",
		})
		require.Equal(t, http.StatusCreated, status, body)
		assert.Equal(t, "NEW", body["mode"])
	}
	status, body = w.auditor.do("GET", "/api/v1/devices?limit=2", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, body["items"], 2)
	assert.Equal(t, "cam-2", body["next"])
	status, body = w.auditor.do("GET", "/api/v1/devices?limit=2&after=cam-2", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, body["items"], 1)
	status, body = w.operator.do("PUT", "/api/v1/devices/cam-3", map[string]any{
		"name": "Lobby 3 (moved)", "device_type": "camera", "address": "https://10.0.1.3:9443", "credential": "cams-lan",
	})
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "Lobby 3 (moved)", body["name"])
	status, _ = w.operator.do("PUT", "/api/v1/devices/cam-3", map[string]any{"id": "cam-4", "name": "x", "device_type": "camera"})
	assert.Equal(t, http.StatusBadRequest, status, "an ID cannot change")
	status, body = w.operator.do("POST", "/api/v1/devices/cam-3/disable", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "DISABLED", body["mode"])
	status, body = w.operator.do("POST", "/api/v1/devices/cam-3/enable", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "NEW", body["mode"], "no certificate yet")

	status, body = w.operator.do("POST", "/api/v1/profile-assignments", map[string]any{"profile_id": body["id"], "device_ids": []string{"cam-1"}})
	assert.Equal(t, http.StatusBadRequest, status, "a device ID is not a profile ID: %v", body)
	status, body = w.operator.do("POST", "/api/v1/profile-assignments", map[string]any{"profile_id": json.Number(profileID), "device_ids": []string{"cam-1", "cam-9"}})
	require.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, []any{"cam-9"}, body["error"].(map[string]any)["details"].(map[string]any)["devices"])
	status, body = w.operator.do("POST", "/api/v1/profile-assignments", map[string]any{"profile_id": json.Number(profileID), "device_ids": []string{"cam-1", "cam-2", "cam-3"}})
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, float64(3), body["assigned"])

	// A device in an active job cannot be reassigned for that certificate type.
	q := store.New(w.pool)
	job, err := q.CreateJob(context.Background(), store.CreateJobParams{Name: "j", CertType: "tls", CreatedBy: "t", ScheduledAt: time.Now()})
	require.NoError(t, err)
	var pid int64
	fmt.Sscan(profileID, &pid)
	require.NoError(t, q.AddJobItem(context.Background(), store.AddJobItemParams{JobID: job.ID, DeviceID: "cam-2", CertType: "tls", ProfileID: pid}))
	status, body = w.operator.do("POST", "/api/v1/profile-assignments", map[string]any{"profile_id": json.Number(profileID), "device_ids": []string{"cam-1", "cam-2"}})
	require.Equal(t, http.StatusConflict, status)
	busy := body["error"].(map[string]any)["details"].(map[string]any)["devices"].([]any)
	require.Len(t, busy, 1)
	assert.Equal(t, "cam-2", busy[0])
	assert.Equal(t, map[string]any{"cam-2": float64(job.ID)}, body["error"].(map[string]any)["details"].(map[string]any)["jobs"])

	status, body = w.admin.do("POST", "/api/v1/profiles/"+profileID+"/archive", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, body["archived"])
	_, body = w.auditor.do("GET", "/api/v1/profiles", nil)
	assert.Empty(t, body["items"], "archived profiles leave the active list")
	_, body = w.auditor.do("GET", "/api/v1/profiles?status=archived", nil)
	assert.Len(t, body["items"], 1)
	status, body = w.admin.do("POST", "/api/v1/profiles/"+profileID+"/unarchive", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, false, body["archived"])
	_, body = w.auditor.do("GET", "/api/v1/profiles", nil)
	assert.Len(t, body["items"], 1, "back in the active list")

	status, body = w.auditor.do("GET", "/api/v1/audit?object_type=device", nil)
	require.Equal(t, http.StatusOK, status)
	actions := []string{}
	for _, row := range body["items"].([]any) {
		entry := row.(map[string]any)
		actions = append(actions, entry["action"].(string))
		assert.Equal(t, "token:operator-token#2", entry["actor"])
	}
	assert.Equal(t, []string{"device.create", "device.create", "device.create", "device.update", "device.disable", "device.enable", "profile.assign"}, actions)
}

// TestRoles: no token is 401, and each change needs its role; an auditor
// gets 403 on every change.
func TestRoles(t *testing.T) {
	w := newAPIWorld(t)
	status, _ := w.anonymous.do("GET", "/api/v1/devices", nil)
	assert.Equal(t, http.StatusUnauthorized, status)
	bogus := w.admin
	bogus.token = "cft_not-a-real-token"
	status, _ = bogus.do("GET", "/api/v1/devices", nil)
	assert.Equal(t, http.StatusUnauthorized, status)

	changes := []struct {
		method, path string
		needsAdmin   bool
	}{
		{"POST", "/api/v1/profiles", true},
		{"PUT", "/api/v1/profiles/1", true},
		{"POST", "/api/v1/profiles/1/archive", true},
		{"POST", "/api/v1/profiles/1/unarchive", true},
		{"POST", "/api/v1/devices", false},
		{"POST", "/api/v1/devices/import", false},
		{"PUT", "/api/v1/devices/cam-1", false},
		{"POST", "/api/v1/devices/cam-1/disable", false},
		{"POST", "/api/v1/devices/cam-1/enable", false},
		{"POST", "/api/v1/profile-assignments", false},
		{"POST", "/api/v1/jobs", false},
		{"POST", "/api/v1/jobs/1/halt", false},
		{"POST", "/api/v1/ca-requests/1/approve", false},
		{"POST", "/api/v1/ca-requests/1/reject", false},
		{"POST", "/api/v1/certificates/1/revoke", true},
		{"POST", "/api/v1/trust-anchors", true},
		{"POST", "/api/v1/est-labels", true},
		{"POST", "/api/v1/renewal-policies", true},
		{"PUT", "/api/v1/renewal-policies/1", true},
		{"DELETE", "/api/v1/renewal-policies/1", true},
		{"POST", "/api/v1/renewal-policies/1/pause", false},
		{"POST", "/api/v1/renewal-policies/1/resume", false},
		{"POST", "/api/v1/renewal-policies/1/trigger", false},
		{"POST", "/api/v1/renewal-policies/1/backfill", false},
		{"PUT", "/api/v1/est-labels/cams", true},
		{"DELETE", "/api/v1/est-labels/cams", true},
		{"PUT", "/api/v1/devices/cam-1/enrollment-password", false},
		{"POST", "/api/v1/trust-anchors/1/enable", true},
		{"POST", "/api/v1/trust-anchors/1/disable", true},
		{"DELETE", "/api/v1/trust-anchors/1", true},
		{"POST", "/api/v1/trust-anchors/1/verification-code", true},
		{"POST", "/api/v1/trust-anchors/1/proof", true},
		{"POST", "/api/v1/trust-anchors/1/revocations", true},
		{"POST", "/api/v1/trust-anchors/1/revocations.csv", true},
	}
	for _, ch := range changes {
		status, body := w.auditor.do(ch.method, ch.path, "{}")
		assert.Equal(t, http.StatusForbidden, status, "auditor %s %s: %v", ch.method, ch.path, body)
		status, _ = w.operator.do(ch.method, ch.path, "{}")
		if ch.needsAdmin {
			assert.Equal(t, http.StatusForbidden, status, "operator %s %s", ch.method, ch.path)
		} else {
			assert.Contains(t, []int{http.StatusBadRequest, http.StatusNotFound}, status, "operator %s %s passes the role check", ch.method, ch.path)
		}
	}
	var audit int
	require.NoError(t, w.pool.QueryRow(context.Background(), "SELECT count(*) FROM audit_log").Scan(&audit))
	assert.Zero(t, audit, "refused requests change nothing")
}

// TestBadInputGets4xx: every malformed request gets a 4xx in the error shape,
// naming the field where there is one, and changes nothing.
func TestBadInputGets4xx(t *testing.T) {
	w := newAPIWorld(t)
	profile := func(change func(map[string]any)) map[string]any {
		p := map[string]any{}
		for k, v := range cameraProfile {
			p[k] = v
		}
		change(p)
		return p
	}
	cases := []struct {
		name, method, path string
		body               any
		status             int
		field              string
	}{
		{"malformed JSON", "POST", "/api/v1/devices", `{"id":`, 400, ""},
		{"two JSON values", "POST", "/api/v1/devices", `{} {}`, 400, ""},
		{"unknown field", "POST", "/api/v1/devices", `{"id":"x","secret":"y"}`, 400, "secret"},
		{"wrong type", "POST", "/api/v1/profiles", `{"validity_days":"ninety"}`, 400, "validity_days"},
		{"oversize body", "POST", "/api/v1/devices", `{"name":"` + strings.Repeat("x", 2<<20) + `"}`, 413, ""},
		{"SQL in a device ID", "POST", "/api/v1/devices", map[string]any{"id": "x'; DROP TABLE devices; --", "name": "n", "device_type": "camera"}, 400, "id"},
		{"credential in clear", "POST", "/api/v1/devices", map[string]any{"id": "cam-1", "name": "n", "device_type": "camera", "credential_ref": "hunter2"}, 400, "credential_ref"},
		{"plain HTTP address", "POST", "/api/v1/devices", map[string]any{"id": "cam-1", "name": "n", "device_type": "camera", "address": "http://x"}, 400, "address"},
		{"unknown device type", "POST", "/api/v1/devices", map[string]any{"id": "cam-1", "name": "n", "device_type": "toaster"}, 400, "device_type"},
		{"weak key in a profile", "POST", "/api/v1/profiles", profile(func(p map[string]any) {
			p["key_algorithms"] = []map[string]any{{"algorithm": "rsa", "sizes": []int{1024}}}
		}), 400, "key_algorithms[0]"},
		{"bad subject rule", "POST", "/api/v1/profiles", profile(func(p map[string]any) { p["subject_rules"] = []map[string]any{{"attr": "CN", "rule": "sometimes"}} }), 400, "subject_rules[0].rule"},
		{"renew window too long", "POST", "/api/v1/profiles", profile(func(p map[string]any) { p["renew_before_days"] = 90 }), 400, "renew_before_days"},
		{"bad EST settings", "POST", "/api/v1/profiles", profile(func(p map[string]any) { p["ca_driver"] = "est"; p["ca_settings"] = map[string]any{"url": "http://ca"} }), 400, "ca_settings"},
		{"unknown CA driver", "POST", "/api/v1/profiles", profile(func(p map[string]any) { p["ca_driver"] = "magic" }), 400, "ca_driver"},
		{"EST CA with an unknown credential", "POST", "/api/v1/profiles", profile(func(p map[string]any) {
			p["ca_driver"] = "est"
			p["ca_settings"] = map[string]any{"url": "https://ca.example.net", "credential": "nope"}
		}), 400, "ca_settings.credential"},
		{"EST CA with its password from the environment", "POST", "/api/v1/profiles", profile(func(p map[string]any) {
			p["ca_driver"] = "est"
			p["ca_settings"] = map[string]any{"url": "https://ca.example.net", "username": "ra", "password_env": "CERTFLEET_KEK"}
		}), 400, "ca_settings"},
		{"bad ID", "GET", "/api/v1/profiles/abc", nil, 404, ""},
		{"no such profile", "GET", "/api/v1/profiles/999999", nil, 404, ""},
		{"no such device", "GET", "/api/v1/devices/nope", nil, 404, ""},
		{"bad page size", "GET", "/api/v1/devices?limit=1000", nil, 400, "limit"},
		{"bad mode filter", "GET", "/api/v1/devices?mode=broken", nil, 400, "mode"},
		{"bad status filter", "GET", "/api/v1/profiles?status=maybe", nil, 400, "status"},
		{"empty assignment", "POST", "/api/v1/profile-assignments", map[string]any{"profile_id": 1, "device_ids": []string{}}, 400, "device_ids"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w.admin.t = t
			status, body := w.admin.do(c.method, c.path, c.body)
			assert.Equal(t, c.status, status, "%v", body)
			errBody, ok := body["error"].(map[string]any)
			require.True(t, ok, "error shape: %v", body)
			assert.NotEmpty(t, errBody["code"])
			assert.NotEmpty(t, errBody["message"])
			if c.field != "" {
				assert.Equal(t, c.field, errBody["details"].(map[string]any)["field"])
			}
		})
	}
	var rows int
	require.NoError(t, w.pool.QueryRow(context.Background(), "SELECT (SELECT count(*) FROM devices) + (SELECT count(*) FROM profiles) + (SELECT count(*) FROM audit_log)").Scan(&rows))
	assert.Zero(t, rows, "no half-made rows")
}
