package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// browser is the web console as the API sees it: a cookie jar, and the CSRF
// token it was given, sent only when csrf is set.
type browser struct {
	t    *testing.T
	base string
	http *http.Client
	csrf string
}

func newBrowser(t *testing.T, w apiWorld) *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, base: w.admin.srv.URL, http: &http.Client{Jar: jar}}
}

func (b *browser) do(method, path string, body any, withCSRF bool) (*http.Response, map[string]any) {
	b.t.Helper()
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		require.NoError(b.t, err)
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, b.base+path, reader)
	require.NoError(b.t, err)
	if withCSRF {
		req.Header.Set("X-CSRF-Token", b.csrf)
	}
	resp, err := b.http.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	require.NoError(b.t, json.Unmarshal(data, &out), "%s %s answered %q", method, path, data)
	return resp, out
}

func (b *browser) signIn(token string) *http.Response {
	b.t.Helper()
	resp, body := b.do("POST", "/api/v1/session", map[string]any{"token": token}, false)
	require.Equal(b.t, http.StatusCreated, resp.StatusCode, body)
	b.csrf, _ = body["csrf_token"].(string)
	require.NotEmpty(b.t, b.csrf)
	return resp
}

// TestConsoleSession: an API token is exchanged for an HttpOnly,
// SameSite=Strict session cookie that acts as the token; changes need the
// CSRF token; the role still rules; sign-out, idleness and the token's
// revocation each end the session; only the cookie's hash is stored.
func TestConsoleSession(t *testing.T) {
	ctx := context.Background()
	w := newAPIWorld(t)
	operatorToken := w.operator.token

	b := newBrowser(t, w)
	resp := b.signIn(operatorToken)
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "certfleet_session" {
			cookie = c
		}
	}
	require.NotNil(t, cookie, "the answer sets the session cookie")
	assert.True(t, cookie.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, cookie.SameSite)
	assert.False(t, cookie.Secure, "plain HTTP here; Secure over TLS")
	assert.Equal(t, "/", cookie.Path)
	assert.NotContains(t, cookie.Value, operatorToken)
	digest := sha256.Sum256([]byte(cookie.Value))
	var kept int
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT count(*) FROM console_sessions WHERE session_hash = $1`, digest[:]).Scan(&kept))
	assert.Equal(t, 1, kept, "only the cookie's SHA-256 is kept")
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT count(*) FROM console_sessions s WHERE s::text LIKE '%' || $1 || '%'`, cookie.Value).Scan(&kept))
	assert.Zero(t, kept)

	r, body := b.do("GET", "/api/v1/session", nil, false)
	require.Equal(t, http.StatusOK, r.StatusCode, body)
	assert.Equal(t, "operator", body["role"])
	assert.Equal(t, b.csrf, body["csrf_token"], "a reloaded page gets its CSRF token again")
	r, body = b.do("GET", "/api/v1/devices", nil, false)
	assert.Equal(t, http.StatusOK, r.StatusCode, body)

	device := map[string]any{"id": "cam-console", "name": "cam-console", "device_type": "camera", "driver": "est"}
	r, body = b.do("POST", "/api/v1/devices", device, false)
	assert.Equal(t, http.StatusForbidden, r.StatusCode, body)
	assert.Contains(t, body["error"].(map[string]any)["message"], "X-CSRF-Token")
	forged := *b
	forged.csrf = "forged"
	r, body = forged.do("POST", "/api/v1/devices", device, true)
	assert.Equal(t, http.StatusForbidden, r.StatusCode, body)
	r, body = b.do("POST", "/api/v1/devices", device, true)
	assert.Equal(t, http.StatusCreated, r.StatusCode, body)
	r, body = b.do("POST", "/api/v1/tokens", map[string]any{"name": "x", "role": "admin"}, true)
	assert.Equal(t, http.StatusForbidden, r.StatusCode, "an operator's session is an operator: %v", body)

	// Signing out ends the session for good, even with the cookie kept.
	r, body = b.do("DELETE", "/api/v1/session", nil, true)
	require.Equal(t, http.StatusOK, r.StatusCode, body)
	stolen := newBrowser(t, w)
	stolen.http.Jar.SetCookies(r.Request.URL, []*http.Cookie{{Name: "certfleet_session", Value: cookie.Value}})
	r, body = stolen.do("GET", "/api/v1/devices", nil, false)
	assert.Equal(t, http.StatusUnauthorized, r.StatusCode, body)

	// Idle too long: over.
	idle := newBrowser(t, w)
	idle.signIn(operatorToken)
	_, err := w.pool.Exec(ctx, `UPDATE console_sessions SET last_seen_at = now() - interval '31 minutes' WHERE ended_at IS NULL`)
	require.NoError(t, err)
	r, body = idle.do("GET", "/api/v1/devices", nil, false)
	assert.Equal(t, http.StatusUnauthorized, r.StatusCode, body)
	assert.Contains(t, body["error"].(map[string]any)["message"], "sign in again")

	// The token revoked: its sessions end with it.
	revoked := newBrowser(t, w)
	revoked.signIn(operatorToken)
	var tokenID int64
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT id FROM api_tokens WHERE name = 'operator-token'`).Scan(&tokenID))
	status, revokedBody := w.admin.do("POST", "/api/v1/tokens/"+strconv.FormatInt(tokenID, 10)+"/revoke", nil)
	require.Equal(t, http.StatusOK, status, revokedBody)
	r2, body2 := revoked.do("GET", "/api/v1/devices", nil, false)
	assert.Equal(t, http.StatusUnauthorized, r2.StatusCode, body2)

	// A wrong token signs nothing in, and the audit log has each sign-in and sign-out.
	wrong := newBrowser(t, w)
	r, body = wrong.do("POST", "/api/v1/session", map[string]any{"token": "cft_wrong"}, false)
	assert.Equal(t, http.StatusUnauthorized, r.StatusCode, body)
	assert.Empty(t, r.Cookies())
	var starts, ends int
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE action = 'session.start'), count(*) FILTER (WHERE action = 'session.end') FROM audit_log`).Scan(&starts, &ends))
	assert.Equal(t, 3, starts)
	assert.Equal(t, 1, ends)
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE details::text LIKE '%' || $1 || '%' OR details::text LIKE '%cfs_%'`, operatorToken).Scan(&kept))
	assert.Zero(t, kept, "no token or cookie in the audit log")
}
