package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const bearerSecret = "bearer-secret-never-shown-0123456789"

// TestCredentialStore: admins store secrets that the API never shows again;
// rotation and deletion are audited, and a credential in use cannot go.
func TestCredentialStore(t *testing.T) {
	w := newAPIWorld(t)
	status, body := w.operator.do("POST", "/api/v1/credentials", map[string]any{"name": "x", "kind": "bearer", "secret": bearerSecret})
	assert.Equal(t, http.StatusForbidden, status, "storing a credential is an admin's: %v", body)

	status, body = w.admin.do("POST", "/api/v1/credentials", map[string]any{"name": "cams", "kind": "bearer", "secret": bearerSecret})
	require.Equal(t, http.StatusCreated, status, body)
	firstFingerprint := body["fingerprint"]
	assert.Len(t, firstFingerprint, 16)
	status, body = w.admin.do("POST", "/api/v1/credentials", map[string]any{"name": "vapix", "kind": "password", "username": "root", "secret": "pass-word-1"})
	require.Equal(t, http.StatusCreated, status, body)
	assert.Equal(t, "root", body["username"])

	for name, bad := range map[string]map[string]any{
		"kind":     {"name": "a", "kind": "telepathy", "secret": "s"},
		"username": {"name": "a", "kind": "password", "secret": "s"},
		"secret":   {"name": "a", "kind": "ssh_key", "secret": "not a key"},
		"name":     {"name": "../etc", "kind": "bearer", "secret": "s"},
	} {
		status, body = w.admin.do("POST", "/api/v1/credentials", bad)
		assert.Equal(t, http.StatusBadRequest, status, name)
		assert.Equal(t, name, body["error"].(map[string]any)["details"].(map[string]any)["field"], name)
	}

	status, body = w.admin.do("POST", "/api/v1/devices", map[string]any{"id": "cam-1", "name": "Lobby", "device_type": "camera",
		"address": "https://192.0.2.10:9443", "credential": "cams"})
	require.Equal(t, http.StatusCreated, status, body)
	assert.Equal(t, "cams", body["credential"])

	status, body = w.auditor.do("GET", "/api/v1/credentials/cams", nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, []any{"cam-1"}, body["devices"])
	status, list := w.auditor.do("GET", "/api/v1/credentials", nil)
	require.Equal(t, http.StatusOK, status, list)
	assert.Len(t, list["items"], 2)

	status, body = w.admin.do("PUT", "/api/v1/credentials/cams/secret", map[string]any{"secret": "rotated-" + bearerSecret})
	require.Equal(t, http.StatusOK, status, body)
	assert.NotEqual(t, firstFingerprint, body["fingerprint"])
	assert.NotNil(t, body["rotated_at"])

	status, body = w.admin.do("DELETE", "/api/v1/credentials/cams", nil)
	assert.Equal(t, http.StatusConflict, status, "a credential in use stays: %v", body)
	status, _ = w.admin.do("DELETE", "/api/v1/credentials/vapix", nil)
	assert.Equal(t, http.StatusOK, status)

	var actions []string
	rows, err := w.pool.Query(context.Background(), `SELECT action FROM audit_log WHERE object_type = 'credential' ORDER BY id`)
	require.NoError(t, err)
	for rows.Next() {
		var a string
		require.NoError(t, rows.Scan(&a))
		actions = append(actions, a)
	}
	assert.Equal(t, []string{"credential.create", "credential.create", "credential.rotate", "credential.delete"}, actions)

	var everything string
	require.NoError(t, w.pool.QueryRow(context.Background(),
		`SELECT concat_ws(' ', (SELECT string_agg(c::text, ' ') FROM credentials c), (SELECT string_agg(a::text, ' ') FROM audit_log a))`).Scan(&everything))
	assert.NotContains(t, everything, bearerSecret, "the secret is stored only sealed, and audited only by fingerprint")
	assert.NotContains(t, fmt.Sprint(list, body), "secret-never-shown")
}

// TestCredentialsGoOnlyWhereAllowed: an operator cannot point a stored
// credential at an address of their choosing; the address patterns or an
// admin decide where a secret may be sent.
func TestCredentialsGoOnlyWhereAllowed(t *testing.T) {
	w := newAPIWorld(t)
	w.lanCredential(t) // cams-lan: https://10.0.*
	status, body := w.admin.do("POST", "/api/v1/credentials", map[string]any{"name": "anywhere", "kind": "bearer", "secret": bearerSecret})
	require.Equal(t, http.StatusCreated, status, body)

	device := func(id, address, credential string) map[string]any {
		return map[string]any{"id": id, "name": id, "device_type": "camera", "address": address, "credential": credential}
	}
	status, body = w.operator.do("POST", "/api/v1/devices", device("cam-1", "https://10.0.0.1:9443", "cams-lan"))
	require.Equal(t, http.StatusCreated, status, body)
	status, body = w.operator.do("POST", "/api/v1/devices", device("cam-2", "https://203.0.113.66:9443", "cams-lan"))
	assert.Equal(t, http.StatusBadRequest, status, "outside the credential's addresses: %v", body)
	status, body = w.operator.do("PUT", "/api/v1/devices/cam-1", device("cam-1", "https://203.0.113.66:9443", "cams-lan"))
	assert.Equal(t, http.StatusBadRequest, status, "moving a device out of its credential's addresses: %v", body)
	status, body = w.operator.do("POST", "/api/v1/devices", device("cam-3", "https://10.0.0.3:9443", "anywhere"))
	assert.Equal(t, http.StatusForbidden, status, "a credential without patterns is bound by an admin: %v", body)
	status, body = w.admin.do("POST", "/api/v1/devices", device("cam-3", "https://10.0.0.3:9443", "anywhere"))
	require.Equal(t, http.StatusCreated, status, body)
	status, body = w.operator.do("PUT", "/api/v1/devices/cam-3", device("cam-3", "https://203.0.113.66:9443", "anywhere"))
	assert.Equal(t, http.StatusForbidden, status, "nor may an operator move a device that holds one: %v", body)
	status, body = w.operator.do("PUT", "/api/v1/devices/cam-3", map[string]any{"name": "renamed", "device_type": "camera",
		"address": "https://10.0.0.3:9443", "credential": "anywhere"})
	assert.Equal(t, http.StatusOK, status, "renaming it is fine: %v", body)

	upload := "id,name,device_type,address,credential\r\ncam-4,x,camera,https://203.0.113.66:9443,anywhere\r\n"
	status, body = w.operator.do("POST", "/api/v1/devices/import", upload)
	require.Equal(t, http.StatusMultiStatus, status, "no row was imported: %v", body)
	assert.Equal(t, float64(0), body["created"], "the import applies the same rule: %v", body)

	for _, ref := range []string{"env:CERTFLEET_KEK", "file:.data/certfleet.kek", "env:DATABASE_URL"} {
		status, body = w.admin.do("POST", "/api/v1/devices", map[string]any{"id": "evil", "name": "x", "device_type": "camera",
			"address": "https://203.0.113.66", "credential_ref": ref})
		assert.Equal(t, http.StatusBadRequest, status, "%s: %v", ref, body)
		status, body = w.admin.do("POST", "/api/v1/devices/import", "id,name,device_type,address,credential_ref\r\nevil,x,camera,https://203.0.113.66,"+ref+"\r\n")
		assert.Equal(t, http.StatusBadRequest, status, "%s: %v", ref, body)
		assert.True(t, strings.Contains(fmt.Sprint(body), "credential"), body)
	}
	status, _ = w.auditor.do("GET", "/api/v1/devices/evil", nil)
	assert.Equal(t, http.StatusNotFound, status)
}
