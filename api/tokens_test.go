package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tokenByName finds a token in the admin's list.
func tokenByName(t *testing.T, w apiWorld, name string) map[string]any {
	t.Helper()
	status, body := w.admin.do("GET", "/api/v1/tokens", nil)
	require.Equal(t, http.StatusOK, status, body)
	for _, item := range body["items"].([]any) {
		if tok := item.(map[string]any); tok["name"] == name {
			return tok
		}
	}
	t.Fatalf("no token %q in %v", name, body)
	return nil
}

// TestTokenLifecycle: an admin makes a token (shown once), lists tokens
// without their secrets, sees when each was last used, and revokes one,
// which answers 401 from then on; an expired token answers 401 too. Every
// change is in the audit log.
func TestTokenLifecycle(t *testing.T) {
	w := newAPIWorld(t)
	adminActor := fmt.Sprintf("token:admin-token#%v", tokenByName(t, w, "admin-token")["id"])
	expires := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)

	status, body := w.admin.do("POST", "/api/v1/tokens", map[string]any{"name": "ci", "role": "operator", "expires_at": expires.Format(time.RFC3339)})
	require.Equal(t, http.StatusCreated, status, body)
	secret, _ := body["token"].(string)
	require.True(t, strings.HasPrefix(secret, "cft_"), "the token is shown once: %v", body)
	assert.Equal(t, "operator", body["role"])
	assert.Equal(t, expires.Format(time.RFC3339), body["expires_at"])
	assert.Equal(t, adminActor, body["created_by"])
	assert.NotContains(t, body, "token_hash")
	id := fmt.Sprint(body["id"])
	ci := w.admin
	ci.token = secret

	listed := tokenByName(t, w, "ci")
	for _, key := range []string{"id", "name", "role", "created_by", "created_at", "expires_at", "last_used_at", "revoked_at"} {
		assert.Contains(t, listed, key)
	}
	assert.Len(t, listed, 8, "nothing else, above all not the token or its hash: %v", listed)
	assert.Nil(t, listed["last_used_at"], "not used yet")

	status, _ = ci.do("GET", "/api/v1/devices", nil)
	require.Equal(t, http.StatusOK, status)
	assert.NotNil(t, tokenByName(t, w, "ci")["last_used_at"], "the use is recorded")
	status, _ = ci.do("POST", "/api/v1/tokens", map[string]any{"name": "escalate", "role": "admin"})
	assert.Equal(t, http.StatusForbidden, status, "an operator makes no tokens")
	status, _ = w.auditor.do("GET", "/api/v1/tokens", nil)
	assert.Equal(t, http.StatusForbidden, status, "only admins see who holds which role")

	status, body = w.admin.do("POST", "/api/v1/tokens/"+id+"/revoke", nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.NotNil(t, body["revoked_at"])
	status, body = ci.do("GET", "/api/v1/devices", nil)
	assert.Equal(t, http.StatusUnauthorized, status, "a revoked token: %v", body)
	status, again := w.admin.do("POST", "/api/v1/tokens/"+id+"/revoke", nil)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, tokenByName(t, w, "ci")["revoked_at"], again["revoked_at"], "revoking twice keeps the first time")
	status, _ = w.admin.do("POST", "/api/v1/tokens/999999/revoke", nil)
	assert.Equal(t, http.StatusNotFound, status)

	_, err := w.pool.Exec(context.Background(), "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE name = 'auditor-token'")
	require.NoError(t, err)
	status, body = w.auditor.do("GET", "/api/v1/devices", nil)
	assert.Equal(t, http.StatusUnauthorized, status, "an expired token: %v", body)

	status, body = w.admin.do("GET", "/api/v1/audit?object_type=api_token", nil)
	require.Equal(t, http.StatusOK, status)
	var actions []string
	for _, item := range body["items"].([]any) {
		row := item.(map[string]any)
		assert.Equal(t, adminActor, row["actor"])
		assert.Equal(t, []any{id}, row["object_ids"])
		actions = append(actions, row["action"].(string))
	}
	assert.Equal(t, []string{"api_token.create", "api_token.revoke", "api_token.revoke"}, actions)
}

// TestTokenCannotRevokeItself: the admin's own token is refused with 409
// and keeps working; see revokeToken for why.
func TestTokenCannotRevokeItself(t *testing.T) {
	w := newAPIWorld(t)
	own := fmt.Sprint(tokenByName(t, w, "admin-token")["id"])
	status, body := w.admin.do("POST", "/api/v1/tokens/"+own+"/revoke", nil)
	assert.Equal(t, http.StatusConflict, status, body)
	assert.Contains(t, body["error"].(map[string]any)["message"], "cannot revoke itself")
	assert.Nil(t, tokenByName(t, w, "admin-token")["revoked_at"])
}

func TestTokenRequestsAreChecked(t *testing.T) {
	w := newAPIWorld(t)
	for field, req := range map[string]map[string]any{
		"name":       {"name": "", "role": "auditor"},
		"role":       {"name": "x", "role": "root"},
		"expires_at": {"name": "x", "role": "auditor", "expires_at": "2020-01-01T00:00:00Z"},
	} {
		status, body := w.admin.do("POST", "/api/v1/tokens", req)
		assert.Equal(t, http.StatusBadRequest, status, field)
		assert.Equal(t, field, body["error"].(map[string]any)["details"].(map[string]any)["field"], body)
	}
	status, body := w.admin.do("POST", "/api/v1/tokens", map[string]any{"name": "x", "role": "auditor", "expires_at": "tomorrow"})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "expires_at", body["error"].(map[string]any)["details"].(map[string]any)["field"], body)
	status, _ = w.admin.do("POST", "/api/v1/tokens", map[string]any{"name": "x", "role": "auditor", "token_hash": "AAAA"})
	assert.Equal(t, http.StatusBadRequest, status, "unknown fields are refused")
}
