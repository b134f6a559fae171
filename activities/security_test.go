package activities_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/agentproto"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/vocab"
)

// rogueDevice speaks the agent protocol but lies: its CSR names csrCN, and it
// reports current as the certificate it holds. It counts the requests it gets.
type rogueDevice struct {
	*httptest.Server
	csrCN    string
	current  []byte // DER
	requests atomic.Int32
}

func newRogueDevice(t *testing.T, csrCN string) *rogueDevice {
	t.Helper()
	d := &rogueDevice{csrCN: csrCN}
	d.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.requests.Add(1)
		switch r.URL.Path {
		case agentproto.PathCurrent:
			if d.current == nil {
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(`{"error":{"code":"` + agentproto.CodeNotFound + `"}}`))
				return
			}
			cert, _ := x509.ParseCertificate(d.current)
			_ = json.NewEncoder(w).Encode(agentproto.CurrentResponse{Chain: string(testpki.CertPEM(cert))})
		case agentproto.PathCSR:
			der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: d.csrCN}}, testpki.NewKey(t))
			require.NoError(t, err)
			_ = json.NewEncoder(w).Encode(agentproto.CSRResponse{CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))})
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(d.Close)
	return d
}

// moveDevice points a device of the fleet at another address.
func (f *fleet) moveDevice(t *testing.T, id, address string) {
	t.Helper()
	_, err := f.pool.Exec(context.Background(), `UPDATE devices SET address = $2 WHERE id = $1`, id, address)
	require.NoError(t, err)
}

// issueThrough runs the steps that give a device a certificate, and returns its inventory ID.
func (f *fleet) issueThrough(t *testing.T, acts *activities.Activities, it activities.Item) int64 {
	t.Helper()
	ctx := context.Background()
	csr, err := acts.GetCSR(ctx, it)
	require.NoError(t, err)
	sub, err := acts.SubmitCSR(ctx, it, csr.CSR)
	require.NoError(t, err)
	require.NoError(t, acts.Install(ctx, it, sub.CertificateID))
	return sub.CertificateID
}

func (f *fleet) itemFor(t *testing.T, deviceIDs ...string) []activities.Item {
	t.Helper()
	ctx := context.Background()
	q := store.New(f.pool)
	job, err := q.CreateJob(ctx, store.CreateJobParams{Name: "by hand", CertType: "tls", CreatedBy: "test", ScheduledAt: time.Now()})
	require.NoError(t, err)
	var items []activities.Item
	for _, id := range deviceIDs {
		require.NoError(t, q.AddJobItem(ctx, store.AddJobItemParams{JobID: job.ID, DeviceID: id, CertType: "tls", ProfileID: f.normal}))
		items = append(items, activities.Item{JobID: job.ID, DeviceID: id, ProfileID: f.normal, CertType: "tls"})
	}
	return items
}

func errorType(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Type()
	}
	return ""
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestJobPathBindsTheCSRToTheDevice: device sim-00001 cannot obtain a
// certificate naming sim-00002, neither by answering with such a CSR nor by
// submitting one.
func TestJobPathBindsTheCSRToTheDevice(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 2)
	acts := f.activities()
	items := f.itemFor(t, "sim-00001")
	rogue := newRogueDevice(t, "sim-00002")
	f.moveDevice(t, "sim-00001", rogue.URL)

	_, err := acts.GetCSR(ctx, items[0])
	require.Error(t, err)
	assert.Equal(t, activities.ErrCSRRefused, errorType(err), "%v", err)

	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "sim-00002"}}, testpki.NewKey(t))
	require.NoError(t, err)
	_, err = acts.SubmitCSR(ctx, items[0], der)
	require.Error(t, err, "the CA step refuses it too")
	assert.Equal(t, activities.ErrCAPermanent, errorType(err), "%v", err)
	var issued int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM certificates`).Scan(&issued))
	assert.Zero(t, issued)
}

// TestPriorCertificateMustBeTheDevicesOwn: a device that reports another
// device's certificate as its current one does not get it revoked.
func TestPriorCertificateMustBeTheDevicesOwn(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 2)
	acts := f.activities()
	items := f.itemFor(t, "sim-00001", "sim-00002")
	victim := f.issueThrough(t, acts, items[1])

	stored, err := store.New(f.pool).GetCertificate(ctx, victim)
	require.NoError(t, err)
	rogue := newRogueDevice(t, "sim-00001")
	rogue.current = stored.Der
	f.moveDevice(t, "sim-00001", rogue.URL)

	csr, err := acts.GetCSR(ctx, items[0])
	require.NoError(t, err)
	assert.Zero(t, csr.PriorCertificateID, "sim-00002's certificate is not sim-00001's prior one")
	outcome, err := acts.RevokePrior(ctx, items[0], csr.PriorCertificateID)
	require.NoError(t, err)
	assert.Equal(t, vocab.RevokeNA, outcome)
	after, err := store.New(f.pool).GetCertificate(ctx, victim)
	require.NoError(t, err)
	assert.Equal(t, "active", after.Status, "the victim's certificate stays valid")
}

// TestLegacyReferencesToCertfleetsOwnSecretsSendNothing: a device record from
// before the credential store that names the KEK, the key file or
// DATABASE_URL is not imported, and the worker sends the device nothing.
func TestLegacyReferencesToCertfleetsOwnSecretsSendNothing(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 3)
	rogue := newRogueDevice(t, "sim-00001")
	refs := map[string]string{"sim-00001": "env:CERTFLEET_KEK", "sim-00002": "derived:env:DATABASE_URL", "sim-00003": "file:.data/certfleet.kek"}
	for id, ref := range refs {
		_, err := f.pool.Exec(ctx, `UPDATE devices SET address = $2, credential_id = NULL, credential_ref = $3 WHERE id = $1`, id, rogue.URL, ref)
		require.NoError(t, err)
	}
	env := map[string]string{"CERTFLEET_KEK": kekBase64, "DATABASE_URL": f.dbURL}
	require.NoError(t, f.creds.ImportLegacy(ctx, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, quietLogger()))

	var imported int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM credentials WHERE name LIKE 'legacy:%'`).Scan(&imported))
	assert.Zero(t, imported, "none of certfleet's own settings becomes a credential")
	acts := f.activities()
	for _, it := range f.itemFor(t, "sim-00001", "sim-00002", "sim-00003") {
		_, err := acts.GetCSR(ctx, it)
		require.Error(t, err, it.DeviceID)
		assert.Equal(t, activities.ErrDevicePermanent, errorType(err), "%s: %v", it.DeviceID, err)
	}
	assert.Zero(t, rogue.requests.Load(), "the device was never contacted")
}

// TestLegacyReferencesImportFromTheAllowedPrefix: a reference to a variable
// under CERTFLEET_DEVICE_CRED_ is moved into the store and keeps working.
func TestLegacyReferencesImportFromTheAllowedPrefix(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 1)
	_, err := f.pool.Exec(ctx, `UPDATE devices SET credential_id = NULL, credential_ref = 'derived:env:CERTFLEET_DEVICE_CRED_FLEET'`)
	require.NoError(t, err)
	env := func(k string) (string, bool) { return fleetSecret, k == "CERTFLEET_DEVICE_CRED_FLEET" }
	require.NoError(t, f.creds.ImportLegacy(ctx, env, quietLogger()))
	require.NoError(t, f.creds.ImportLegacy(ctx, env, quietLogger()), "a second start finds nothing left to import")

	var ref string
	var credential string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT d.credential_ref, c.name FROM devices d JOIN credentials c ON c.id = d.credential_id WHERE d.id = 'sim-00001'`).Scan(&ref, &credential))
	assert.Empty(t, ref)
	assert.Equal(t, "legacy:derived:env:CERTFLEET_DEVICE_CRED_FLEET", credential)
	f.issueThrough(t, f.activities(), f.itemFor(t, "sim-00001")[0])
}
