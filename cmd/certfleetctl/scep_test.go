package main

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/registry"
	"github.com/certfleet/certfleet/internal/testenv"
)

// TestSCEPChallengeCommand: the challenge and its expiry are printed once;
// a refused lifetime names the flag's field.
func TestSCEPChallengeCommand(t *testing.T) {
	pool, _ := testenv.Database(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(api.New(api.Deps{Logger: quiet, Pool: pool, Drivers: registry.New(pool, nil, nil, time.Second)}))
	t.Cleanup(srv.Close)
	token, err := auth.Create(context.Background(), store.New(pool), "ctl", auth.Operator, "test")
	require.NoError(t, err)
	c := ctl{t: t, url: srv.URL, token: token}

	assert.Regexp(t, `^challenge [0-9a-f]{32} \(expires \S+\)\n$`, c.ok("", "scep", "challenge", "--lifetime", "2h"))
	code, _, errOut := c.run("", "scep", "challenge", "-lifetime", "2y")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "lifetime", "the field at fault is named: %s", errOut)
	code, _, errOut = c.run("", "scep", "challenge", "-device", "cam-9")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "device_id", errOut)
}
