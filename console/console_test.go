package console_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/console"
)

// TestServedAtRoot: the API listener serves the console at / and at any path
// the app routes itself, with headers that keep it to its own origin, while
// unknown API routes stay JSON 404s. Built or not (a clone without `make
// console`), the page answers 200 and says what it is.
func TestServedAtRoot(t *testing.T) {
	srv := httptest.NewServer(api.New(api.Deps{Logger: slog.New(slog.DiscardHandler), Console: console.Handler()}))
	defer srv.Close()
	for _, path := range []string{"/", "/devices/cam-1"} {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"), path)
		assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'self'", path)
		assert.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"), path)
		assert.True(t, strings.Contains(string(body), `<div id="app">`) || strings.Contains(string(body), "make console"), "%s: %s", path, body)
		assert.NotContains(t, string(body), "http://", "%s: no outside request", path)
		assert.NotContains(t, string(body), "https://", "%s: no outside request", path)
	}
	resp, err := http.Get(srv.URL + "/api/v1/nowhere")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
}
