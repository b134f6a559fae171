package enroll_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/enroll"
	"github.com/certfleet/certfleet/est"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/scep"
)

// TestDatabaseDownIs503: with Postgres unreachable, EST and SCEP answer 503
// with Retry-After, not an opaque 500, so that devices come back later.
func TestDatabaseDownIs503(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://postgres@"+testenv.FreeAddr(t)+"/certfleet?connect_timeout=2")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	service := enroll.Service{Pool: pool}
	for name, c := range map[string]struct {
		handler http.Handler
		path    string
	}{
		"EST cacerts":    {(&est.Server{Service: service}).Handler(), "/.well-known/est/cams/cacerts"},
		"SCEP GetCACaps": {(&scep.Server{Service: service}).Handler(), "/scep/cams?operation=GetCACaps"},
	} {
		srv := httptest.NewServer(c.handler)
		resp, err := http.Get(srv.URL + c.path)
		require.NoError(t, err, name)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		srv.Close()
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s: %s", name, body)
		assert.Equal(t, "60", resp.Header.Get("Retry-After"), name)
		assert.Contains(t, string(body), "the database did not answer", name)
	}
}
