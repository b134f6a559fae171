package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWebhooksThroughTheAPI: an admin subscribes a URL with a bearer
// credential as its secret; other kinds of credential, unknown events and
// non-HTTP URLs are refused beside their field; a ping records an event
// for this webhook alone; disabling, deleting and reading the log work, and
// only admins change anything.
func TestWebhooksThroughTheAPI(t *testing.T) {
	ctx := context.Background()
	w := newAPIWorld(t)
	status, body := w.admin.do("POST", "/api/v1/credentials", map[string]any{"name": "hooks", "kind": "bearer", "secret": "hooks-signing-secret-0123"})
	require.Equal(t, http.StatusCreated, status, body)
	status, body = w.admin.do("POST", "/api/v1/credentials", map[string]any{"name": "login", "kind": "password", "username": "u", "secret": "password-0123456789"})
	require.Equal(t, http.StatusCreated, status, body)
	hook := map[string]any{"name": "ops", "url": "https://hooks.example/certfleet?token=receiver-token-0123", "events": []string{"job.finished"}, "secret_credential": "hooks"}

	status, body = w.operator.do("POST", "/api/v1/webhooks", hook)
	assert.Equal(t, http.StatusForbidden, status, body)
	status, body = w.admin.do("POST", "/api/v1/webhooks", map[string]any{"name": "ops", "url": "https://hooks.example", "events": []string{"job.finished"}, "secret_credential": "login"})
	require.Equal(t, http.StatusBadRequest, status, body)
	assert.Equal(t, "secret_credential", refusedField(body))
	status, body = w.admin.do("POST", "/api/v1/webhooks", hook)
	require.Equal(t, http.StatusCreated, status, body)
	status, body = w.admin.do("POST", "/api/v1/webhooks", hook)
	assert.Equal(t, http.StatusConflict, status, body)
	status, body = w.auditor.do("GET", "/api/v1/webhooks", nil)
	assert.Equal(t, http.StatusForbidden, status, "URLs may hold tokens: %v", body)
	status, body = w.admin.do("GET", "/api/v1/webhooks", nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Len(t, body["items"], 1)
	assert.Contains(t, body["event_types"], "ca_request.pending")

	var leaked int
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE strpos(details::text, 'receiver-token-0123') > 0`).Scan(&leaked))
	assert.Zero(t, leaked, "the audit log keeps the URL without its query")
	status, body = w.admin.do("PUT", "/api/v1/webhooks/ops", map[string]any{"url": "https://hooks.example/v2", "events": []string{"job.finished", "trust_anchor.changed"}, "secret_credential": "hooks"})
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, []any{"job.finished", "trust_anchor.changed"}, body["events"])
	status, body = w.admin.do("POST", "/api/v1/webhooks/ops/ping", nil)
	require.Equal(t, http.StatusAccepted, status, body)
	var deliveries int
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries d JOIN webhook_events e USING (event_id) WHERE e.event_id = $1 AND e.type = 'ping'`, body["event_id"]).Scan(&deliveries))
	assert.Equal(t, 1, deliveries)
	status, body = w.admin.do("GET", "/api/v1/webhooks/ops/deliveries?status=pending", nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Len(t, body["items"], 1)
	status, body = w.admin.do("GET", "/api/v1/webhooks/ops/deliveries?status=lost", nil)
	assert.Equal(t, http.StatusBadRequest, status, body)

	status, body = w.admin.do("POST", "/api/v1/webhooks/ops/disable", nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.NotNil(t, body["disabled_at"])
	req, _ := http.NewRequest("DELETE", w.admin.srv.URL+"/api/v1/webhooks/ops", nil)
	req.Header.Set("Authorization", "Bearer "+w.admin.token)
	resp, err := w.admin.srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	status, body = w.admin.do("GET", "/api/v1/webhooks/ops/deliveries", nil)
	assert.Equal(t, http.StatusNotFound, status, body)
}
