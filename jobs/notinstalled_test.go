package jobs_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/drivers/registry"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/vocab"
)

// TestNotInstalledCertificateIsRetired: a device whose install fails ends
// device_failure, and the certificate the CA issued for it is revoked
// (cessationOfOperation, in the CRL), so it is not the device's certificate:
// the device is among those without one (/api/v1/certificates/missing) and
// renewal selects it again. The device that installed keeps its certificate.
func TestNotInstalledCertificateIsRetired(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 2)
	f.assign(t, f.normal, 1, 2)
	f.startWorker(t)
	f.admin(t, http.MethodPut, "/devices/sim-00002/faults", map[string]any{"install_failure": true}).Body.Close()
	job, err := f.jobs.Create(ctx, jobs.Spec{Name: "install fault", CertType: "tls", CreatedBy: "test", DeviceIDs: ids(1, 2), StepDeadline: 10 * time.Second}, nil)
	require.NoError(t, err)
	f.wait(t, job.ID, 3*time.Minute)
	assert.Equal(t, map[string]int{string(vocab.RevokeNA): 1, string(vocab.DeviceFailure): 1}, f.states(t, job.ID))

	q := store.New(f.pool)
	item, err := q.GetJobItem(ctx, store.GetJobItemParams{JobID: job.ID, DeviceID: "sim-00002"})
	require.NoError(t, err)
	require.True(t, item.IssuedCertificateID.Valid, "the CA issued a certificate before the install failed")
	issued, err := q.GetCertificate(ctx, item.IssuedCertificateID.Int64)
	require.NoError(t, err)
	assert.Equal(t, "revoked", issued.Status, "a certificate never installed is not active")
	assert.Equal(t, int16(ca.ReasonCessationOfOperation), issued.RevocationReason.Int16)

	crlDER, err := f.ca.CRL(ctx)
	require.NoError(t, err)
	crl, err := x509.ParseRevocationList(crlDER)
	require.NoError(t, err)
	inCRL := false
	for _, e := range crl.RevokedCertificateEntries {
		inCRL = inCRL || e.SerialNumber.Text(16) == issued.SerialHex
	}
	assert.True(t, inCRL, "the certificate never installed is in the CRL")

	// The operations API says so: the device has no certificate, and the
	// CRL it serves lists the one never installed.
	srv := httptest.NewServer(api.New(api.Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Pool: f.pool, Jobs: f.jobs,
		CRLs: local.SetOf(f.ca), Revoker: f.ca, Drivers: registry.New(f.pool, local.SetOf(f.ca), f.creds, time.Second)}))
	t.Cleanup(srv.Close)
	token, err := auth.Create(ctx, q, "auditor", auth.Auditor, "test")
	require.NoError(t, err)
	get := func(path string) *http.Response {
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		return resp
	}
	resp := get("/api/v1/certificates/missing?cert_type=tls")
	var missing struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&missing))
	resp.Body.Close()
	var missingIDs []string
	for _, d := range missing.Items {
		missingIDs = append(missingIDs, d.ID)
	}
	assert.Equal(t, []string{"sim-00002"}, missingIDs, "the device whose install failed has no certificate; sim-00001 has one")
	resp = get(f.ca.CRLPath())
	served, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	servedCRL, err := x509.ParseRevocationList(served)
	require.NoError(t, err)
	listed := false
	for _, e := range servedCRL.RevokedCertificateEntries {
		listed = listed || e.SerialNumber.Text(16) == issued.SerialHex
	}
	assert.True(t, listed, "the served CRL lists the certificate never installed")

	// A renewal sweep that includes missing devices selects it again.
	due, err := q.DueForRenewal(ctx, store.DueForRenewalParams{CertType: "tls", ProfileIds: []int64{}, DeviceTypes: []string{}, IncludeMissing: true, At: time.Now(), RenewBeforeDays: 1})
	require.NoError(t, err)
	var dueIDs []string
	for _, d := range due {
		dueIDs = append(dueIDs, d.DeviceID)
	}
	assert.Equal(t, []string{"sim-00002"}, dueIDs)

	// Finishing the item again (activities run at least once) changes nothing.
	it := activities.Item{JobID: job.ID, DeviceID: "sim-00002", ProfileID: f.normal, CertType: "tls"}
	require.NoError(t, f.activities().FinishItem(ctx, it, vocab.DeviceFailure, "again"))
	again, err := q.GetCertificate(ctx, issued.ID)
	require.NoError(t, err)
	assert.Equal(t, issued.RevokedAt, again.RevokedAt)
}
