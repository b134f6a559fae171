package est_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/estwire"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/pki"
)

// TestApprovalAnswersAtOnce: the CA advises polling hourly, so a pending
// request is told Retry-After: 3600; an operator approves it through the
// API, which wakes the waiting enrollment, and the device's immediate retry
// gets its certificate.
func TestApprovalAnswersAtOnce(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, worldOption{pendingRetry: time.Hour})
	srv := httptest.NewServer(api.New(api.Deps{
		Logger: slog.New(slog.DiscardHandler), Pool: w.pool, Approver: local.SetOf(w.ca),
		Jobs: &jobs.Service{Pool: w.pool, Temporal: w.temporal, TaskQueue: taskQueue},
	}))
	t.Cleanup(srv.Close)
	token, err := auth.Create(ctx, store.New(w.pool), "approver", auth.Admin, "test")
	require.NoError(t, err)

	w.device(t, "cam-at-once", "password", "password-at-once-0123")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	request := func() (*http.Response, string) {
		return w.post(t, "approve/simpleenroll", "cam-at-once", "password-at-once-0123", estwire.EncodeBase64(csr(t, key, "cam-at-once").Raw), nil)
	}
	resp, body := request()
	require.Equal(t, http.StatusAccepted, resp.StatusCode, body)
	assert.Equal(t, "3600", resp.Header.Get("Retry-After"), "the CA's advice")

	var requestID int64
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT id FROM ca_requests WHERE device_id = 'cam-at-once' AND status = 'pending'`).Scan(&requestID))
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/api/v1/ca-requests/%d/approve", srv.URL, requestID), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	approved, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	approved.Body.Close()
	require.Equal(t, http.StatusOK, approved.StatusCode)

	resp, body = request() // at once, not an hour later
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	certs, err := estwire.ParseCertsOnly([]byte(body))
	require.NoError(t, err)
	assert.True(t, pki.SamePublicKey(key.Public(), certs[0].PublicKey))
	w.replayHistories(t, map[string]string{"approved-at-once.json": w.enrollmentIDs(t, "cam-at-once")[0]})
}
