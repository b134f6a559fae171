package api_test

// Tests of the API routes and fields added for the web console: the
// dashboard summary, the device list's profiles and expiry, a device's jobs,
// the job list's outcomes, the certificate detail's names and PEM, and jobs
// over a device filter. Each runs against a real Postgres; rows the routes
// only read (jobs, job items, CA requests) are inserted with SQL, so that no
// Temporal worker has to produce them.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/workflows"
)

const day = 24 * time.Hour

// consoleDevice records a device directly, in mode.
func consoleDevice(t *testing.T, pool *pgxpool.Pool, id, deviceType, mode, driver string) {
	t.Helper()
	_, err := store.New(pool).CreateDevice(context.Background(), store.CreateDeviceParams{ID: id, Name: id, DeviceType: deviceType, Mode: mode, Driver: driver})
	require.NoError(t, err)
}

// consoleProfile records a camera profile of certType and returns its ID.
func consoleProfile(t *testing.T, pool *pgxpool.Pool, name, certType string) int64 {
	t.Helper()
	row, err := store.New(pool).CreateProfile(context.Background(), store.CreateProfileParams{
		Name: name, CertType: certType, DeviceType: "camera",
		SubjectRules: json.RawMessage(`[{"attr":"CN","rule":"from_csr"}]`), SanRules: json.RawMessage(`[]`), ExtraAttributes: json.RawMessage(`[]`),
		KeyAlgorithms: json.RawMessage(`[{"algorithm":"ecdsa","sizes":[256]}]`),
		Validity:      90 * day, RenewBefore: 30 * day, CaDriver: "local", CaSettings: json.RawMessage(`{}`), MaxCaWait: time.Hour,
	})
	require.NoError(t, err)
	return row.ID
}

func consoleAssign(t *testing.T, pool *pgxpool.Pool, deviceID, certType string, profileID int64) {
	t.Helper()
	require.NoError(t, store.New(pool).AssignProfile(context.Background(), store.AssignProfileParams{DeviceID: deviceID, CertType: certType, ProfileID: profileID}))
}

// consoleCert issues a real TLS certificate from ca for deviceID that ends at
// notAfter, stores it as active and returns the stored row. tmpl, when not
// nil, supplies the subject and names.
func consoleCert(t *testing.T, pool *pgxpool.Pool, ca *testpki.CA, deviceID string, notAfter time.Time, tmpl *x509.Certificate) store.Certificate {
	t.Helper()
	if tmpl == nil {
		tmpl = &x509.Certificate{Subject: pkix.Name{CommonName: deviceID}}
	}
	tmpl.NotBefore, tmpl.NotAfter = notAfter.Add(-100*day), notAfter
	cert, _ := ca.Issue(t, tmpl)
	sum := sha256.Sum256(cert.Raw)
	row, err := store.New(pool).InsertCertificate(context.Background(), store.InsertCertificateParams{
		DeviceID: pgtype.Text{String: deviceID, Valid: deviceID != ""}, CertType: "tls", Issuer: cert.Issuer.String(),
		SerialHex: cert.SerialNumber.Text(16), Subject: cert.Subject.String(), Sha256: sum[:],
		NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, Der: cert.Raw,
	})
	require.NoError(t, err)
	return row
}

// consoleCertStatus moves a stored certificate out of active.
func consoleCertStatus(t *testing.T, pool *pgxpool.Pool, id int64, status string) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `UPDATE certificates SET status = $2,
		revoked_at = CASE WHEN $2 = 'revoked' THEN now() END, revocation_reason = CASE WHEN $2 = 'revoked' THEN 1 END
		WHERE id = $1`, id, status)
	require.NoError(t, err)
}

// consoleJob inserts a TLS job in status; a finished one (completed_at not
// nil) ended at that time, as the jobs_check constraint requires.
func consoleJob(t *testing.T, pool *pgxpool.Pool, name, status string, completedAt *time.Time) int64 {
	t.Helper()
	var id int64
	require.NoError(t, pool.QueryRow(context.Background(), `
		INSERT INTO jobs (name, cert_type, created_by, status, started_at, completed_at)
		VALUES ($1, 'tls', 'test', $2, CASE WHEN $2 <> 'scheduled' THEN now() - interval '1 day' END, $3)
		RETURNING id`, name, status, completedAt).Scan(&id))
	return id
}

// consoleItem inserts a job item in state; a finished one (not pending or in
// progress) finished at finishedAt.
func consoleItem(t *testing.T, pool *pgxpool.Pool, jobID int64, deviceID string, profileID int64, step, state, lastError string, finishedAt *time.Time) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `
		INSERT INTO job_items (job_id, device_id, cert_type, profile_id, step, state, last_error, started_at, finished_at)
		VALUES ($1, $2, 'tls', $3, $4, $5, $6, CASE WHEN $5 <> 'pending' THEN now() - interval '1 day' END, $7)`,
		jobID, deviceID, profileID, step, state, lastError, finishedAt)
	require.NoError(t, err)
}

func ago(d time.Duration) *time.Time {
	at := time.Now().Add(-d)
	return &at
}

// errorField is the field a refusal in the API's error shape names.
func errorField(t *testing.T, body map[string]any) string {
	t.Helper()
	failure, ok := body["error"].(map[string]any)
	require.True(t, ok, "an error body: %v", body)
	details, _ := failure["details"].(map[string]any)
	field, _ := details["field"].(string)
	return field
}

func jsonTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, ok := v.(string)
	require.True(t, ok, "a time, got %v", v)
	at, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err)
	return at
}

// TestSummaryCounts: GET /api/v1/summary counts each certificate in every
// expiry window it falls in and in no other, leaves revoked and superseded
// certificates out, counts enabled devices without a valid certificate and
// pending CA requests, lists the week's failed items newest first, and names
// only the built-in CA certificates within two years of their end.
func TestSummaryCounts(t *testing.T) {
	ctx := context.Background()
	w := newAPIWorld(t)
	other := testpki.NewCA(t, "Other CA")
	profile := consoleProfile(t, w.pool, "cams", "tls")
	now := time.Now()

	// One device per certificate, so that the counts of devices without one
	// are checked by the same rows. The hour either side of the 7 and 90 day
	// marks is far more than the test's runtime, so "now" drifting between
	// here and the query cannot move a certificate across a boundary.
	for _, c := range []struct {
		device   string
		notAfter time.Time
		status   string
	}{
		{"cam-a", now.Add(5 * day), "active"},            // 7, 30, 90
		{"cam-b", now.Add(7*day - time.Hour), "active"},  // 7, 30, 90
		{"cam-c", now.Add(7*day + time.Hour), "active"},  // 30, 90
		{"cam-d", now.Add(60 * day), "active"},           // 90 only
		{"cam-e", now.Add(90*day - time.Hour), "active"}, // 90 only
		{"cam-f", now.Add(90*day + time.Hour), "active"}, // active, no window
		{"cam-g", now.Add(-day), "active"},               // expired only
		{"cam-h", now.Add(5 * day), "revoked"},           // nowhere
		{"cam-i", now.Add(5 * day), "superseded"},        // nowhere
		{"cam-j", time.Time{}, ""},                       // no certificate
	} {
		consoleDevice(t, w.pool, c.device, "camera", "OPERATIONAL", "agent")
		if c.status == "" {
			continue
		}
		row := consoleCert(t, w.pool, other, c.device, c.notAfter, nil)
		if c.status != "active" {
			consoleCertStatus(t, w.pool, row.ID, c.status)
		}
	}
	// A disabled device without a certificate is not waiting for one.
	consoleDevice(t, w.pool, "cam-k", "camera", "DISABLED", "agent")

	for i, status := range []string{"pending", "pending", "rejected"} {
		_, err := w.pool.Exec(ctx, `INSERT INTO ca_requests (idempotency_key, profile_id, device_id, ca_driver, csr_der, status, reject_reason)
			VALUES ($1, $2, 'cam-a', 'local', '\x00', $3, CASE WHEN $3 = 'rejected' THEN 'no' ELSE '' END)`, fmt.Sprintf("key-%d", i), profile, status)
		require.NoError(t, err)
	}

	// Failed items: a week-old finished job's are no longer news; a running
	// job's are, and succeeded items never are.
	recent := consoleJob(t, w.pool, "recent", "completed_with_failures", ago(time.Hour))
	consoleItem(t, w.pool, recent, "cam-a", profile, "install", "device_failure", "install refused", ago(2*time.Hour))
	consoleItem(t, w.pool, recent, "cam-b", profile, "revoke", "succeeded", "", ago(2*time.Hour))
	consoleItem(t, w.pool, recent, "cam-c", profile, "submit", "ca_failure", "CA said no", ago(3*time.Hour))
	old := consoleJob(t, w.pool, "old", "failed", ago(10*day))
	consoleItem(t, w.pool, old, "cam-d", profile, "install", "device_failure", "long ago", ago(10*day))
	running := consoleJob(t, w.pool, "running", "running", nil)
	consoleItem(t, w.pool, running, "cam-e", profile, "poll", "ca_failure", "CA timed out", ago(30*time.Minute))

	// A second built-in CA whose root has ten years left (not named) and
	// whose issuing certificate one (named); the world's own CA has twenty
	// and ten.
	// The summary reads only the certificates, so the keys are placeholders.
	aging := testpki.NewCA(t, "aging")
	root, _ := aging.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "aging root"}, NotBefore: now.Add(-day), NotAfter: now.Add(10 * 365 * day), IsCA: true, BasicConstraintsValid: true})
	issuing, _ := aging.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "aging issuing"}, NotBefore: now.Add(-day), NotAfter: now.Add(365 * day), IsCA: true, BasicConstraintsValid: true})
	_, err := w.pool.Exec(ctx, `INSERT INTO local_cas (name, key_spec, root_der, root_key_sealed, issuing_der, issuing_key_sealed, issuing_ski)
		VALUES ('aging', 'ecdsa-256', $1, '\x00', $2, '\x00', '\x0102')`, root.Raw, issuing.Raw)
	require.NoError(t, err)

	status, body := w.auditor.do("GET", "/api/v1/summary", nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, map[string]any{
		"devices":             11.0,
		"active_certificates": 6.0, // a–f
		"expiring_7_days":     2.0, // a, b
		"expiring_30_days":    3.0, // a, b, c
		"expiring_90_days":    5.0, // a–e
		"expired":             1.0, // g
		"without_certificate": 4.0, // g, h, i, j; the disabled k is left out
		"pending_ca_requests": 2.0,
	}, body["counts"])

	var failed []string
	for _, item := range body["failed_items"].([]any) {
		i := item.(map[string]any)
		failed = append(failed, fmt.Sprintf("%v/%v/%v/%v/%v", i["job_id"], i["device_id"], i["state"], i["step"], i["last_error"]))
	}
	assert.Equal(t, []string{
		fmt.Sprintf("%d/cam-e/ca_failure/poll/CA timed out", running),
		fmt.Sprintf("%d/cam-a/device_failure/install/install refused", recent),
		fmt.Sprintf("%d/cam-c/ca_failure/submit/CA said no", recent),
	}, failed, "newest first; the old job's failure and the success are left out")

	expiring := body["expiring_ca_certificates"].([]any)
	require.Len(t, expiring, 1, "only the aging CA's issuing certificate: %v", expiring)
	named := expiring[0].(map[string]any)
	assert.Equal(t, "aging", named["ca"])
	assert.Equal(t, "issuing", named["role"])
	assert.Equal(t, "CN=aging issuing", named["subject"])
	assert.True(t, issuing.NotAfter.Equal(jsonTime(t, named["not_after"])))
}

// TestSummaryOfAnEmptyFleet: with nothing recorded the summary's counts are
// zero and its lists are empty lists, not null, which the console iterates.
func TestSummaryOfAnEmptyFleet(t *testing.T) {
	w := newAPIWorld(t)
	status, body := w.auditor.do("GET", "/api/v1/summary", nil)
	require.Equal(t, http.StatusOK, status, body)
	for name, n := range body["counts"].(map[string]any) {
		assert.Equal(t, 0.0, n, name)
	}
	assert.Equal(t, []any{}, body["failed_items"])
	assert.Equal(t, []any{}, body["expiring_ca_certificates"], "the built-in CA is new: twenty and ten years left")
	status, _ = w.anonymous.do("GET", "/api/v1/summary", nil)
	assert.Equal(t, http.StatusUnauthorized, status)
}

// TestDeviceListProfilesAndExpiry: each listed device carries its profile IDs
// (ordered by certificate type) and the end of its latest-expiring active
// certificate; superseded and revoked ones, even later ones, do not count. A
// device with neither has an empty list and null.
func TestDeviceListProfilesAndExpiry(t *testing.T) {
	w := newAPIWorld(t)
	ca := testpki.NewCA(t, "Device CA")
	tls, dot1x := consoleProfile(t, w.pool, "cams-tls", "tls"), consoleProfile(t, w.pool, "cams-8021x", "ieee8021x")
	now := time.Now()

	consoleDevice(t, w.pool, "cam-1", "camera", "OPERATIONAL", "agent")
	consoleDevice(t, w.pool, "cam-2", "camera", "NEW", "agent")
	consoleAssign(t, w.pool, "cam-1", "tls", tls)
	consoleAssign(t, w.pool, "cam-1", "ieee8021x", dot1x)
	consoleCert(t, w.pool, ca, "cam-1", now.Add(10*day), nil)
	latest := consoleCert(t, w.pool, ca, "cam-1", now.Add(60*day), nil)
	superseded := consoleCert(t, w.pool, ca, "cam-1", now.Add(200*day), nil)
	consoleCertStatus(t, w.pool, superseded.ID, "superseded")
	revoked := consoleCert(t, w.pool, ca, "cam-1", now.Add(300*day), nil)
	consoleCertStatus(t, w.pool, revoked.ID, "revoked")

	status, body := w.auditor.do("GET", "/api/v1/devices", nil)
	require.Equal(t, http.StatusOK, status, body)
	items := body["items"].([]any)
	require.Len(t, items, 2)
	with, without := items[0].(map[string]any), items[1].(map[string]any)
	require.Equal(t, "cam-1", with["id"])
	assert.Equal(t, []any{float64(dot1x), float64(tls)}, with["profile_ids"], "ieee8021x sorts before tls")
	assert.True(t, latest.NotAfter.Equal(jsonTime(t, with["certificate_not_after"])),
		"the 60-day certificate, not %v", with["certificate_not_after"])

	require.Equal(t, "cam-2", without["id"])
	assert.Equal(t, []any{}, without["profile_ids"])
	assert.Contains(t, without, "certificate_not_after")
	assert.Nil(t, without["certificate_not_after"])

	// The extra fields follow the device onto a later page.
	status, body = w.auditor.do("GET", "/api/v1/devices?limit=1&after=cam-1", nil)
	require.Equal(t, http.StatusOK, status, body)
	require.Len(t, body["items"], 1)
	assert.Equal(t, []any{}, body["items"].([]any)[0].(map[string]any)["profile_ids"])
	status, body = w.auditor.do("GET", "/api/v1/devices?mode=OPERATIONAL", nil)
	require.Equal(t, http.StatusOK, status, body)
	require.Len(t, body["items"], 1)
	assert.Len(t, body["items"].([]any)[0].(map[string]any)["profile_ids"], 2)
}

// TestDeviceJobs: GET /api/v1/devices/{id}/jobs lists the device's items in
// jobs, newest job first, each with its job's name and status and the ID of
// the device's workflow; another device's items are not in it; a device in
// no job has an empty list and an unknown device is a 404.
func TestDeviceJobs(t *testing.T) {
	w := newAPIWorld(t)
	profile := consoleProfile(t, w.pool, "cams", "tls")
	for _, id := range []string{"cam-1", "cam-2", "cam-3"} {
		consoleDevice(t, w.pool, id, "camera", "OPERATIONAL", "agent")
	}
	first := consoleJob(t, w.pool, "first", "completed_with_failures", ago(day))
	consoleItem(t, w.pool, first, "cam-1", profile, "install", "device_failure", "connection refused", ago(day))
	consoleItem(t, w.pool, first, "cam-2", profile, "revoke", "succeeded", "", ago(day))
	second := consoleJob(t, w.pool, "second", "running", nil)
	consoleItem(t, w.pool, second, "cam-1", profile, "submit", "in_progress", "", nil)

	status, body := w.auditor.do("GET", "/api/v1/devices/cam-1/jobs", nil)
	require.Equal(t, http.StatusOK, status, body)
	items := body["items"].([]any)
	require.Len(t, items, 2, "cam-1's two items, not cam-2's")
	newest, oldest := items[0].(map[string]any), items[1].(map[string]any)
	assert.Equal(t, float64(second), newest["job_id"])
	assert.Equal(t, "second", newest["job_name"])
	assert.Equal(t, "running", newest["job_status"])
	assert.Equal(t, "in_progress", newest["state"])
	assert.Equal(t, "submit", newest["step"])
	assert.Equal(t, "tls", newest["cert_type"])
	assert.Nil(t, newest["finished_at"])
	assert.Equal(t, fmt.Sprintf("certjob/%d/device/cam-1", second), newest["workflow_id"])

	assert.Equal(t, float64(first), oldest["job_id"])
	assert.Equal(t, "completed_with_failures", oldest["job_status"])
	assert.Equal(t, "device_failure", oldest["state"])
	assert.Equal(t, "connection refused", oldest["last_error"])
	assert.NotNil(t, oldest["finished_at"])
	assert.Equal(t, fmt.Sprintf("certjob/%d/device/cam-1", first), oldest["workflow_id"])

	status, body = w.auditor.do("GET", "/api/v1/devices/cam-3/jobs", nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, []any{}, body["items"])

	status, body = w.auditor.do("GET", "/api/v1/devices/cam-9/jobs", nil)
	require.Equal(t, http.StatusNotFound, status, body)
	assert.Equal(t, "not_found", body["error"].(map[string]any)["code"])
}

// TestJobListOutcomes: each job in GET /api/v1/jobs carries its items counted
// per state, only the states it has; a job without items has an empty map.
func TestJobListOutcomes(t *testing.T) {
	w := newAPIWorld(t)
	profile := consoleProfile(t, w.pool, "cams", "tls")
	for i := 1; i <= 4; i++ {
		consoleDevice(t, w.pool, fmt.Sprintf("cam-%d", i), "camera", "OPERATIONAL", "agent")
	}
	mixed := consoleJob(t, w.pool, "mixed", "completed_with_failures", ago(time.Hour))
	consoleItem(t, w.pool, mixed, "cam-1", profile, "revoke", "succeeded", "", ago(time.Hour))
	consoleItem(t, w.pool, mixed, "cam-2", profile, "revoke", "succeeded", "", ago(time.Hour))
	consoleItem(t, w.pool, mixed, "cam-3", profile, "install", "device_failure", "refused", ago(time.Hour))
	consoleItem(t, w.pool, mixed, "cam-4", profile, "csr", "skipped", "the device is disabled", ago(time.Hour))
	active := consoleJob(t, w.pool, "active", "running", nil)
	consoleItem(t, w.pool, active, "cam-1", profile, "csr", "pending", "", nil)
	consoleItem(t, w.pool, active, "cam-2", profile, "poll", "in_progress", "", nil)
	empty := consoleJob(t, w.pool, "empty", "scheduled", nil)

	status, body := w.auditor.do("GET", "/api/v1/jobs?sort=name&order=asc", nil)
	require.Equal(t, http.StatusOK, status, body)
	outcomes := map[float64]any{}
	for _, item := range body["items"].([]any) {
		j := item.(map[string]any)
		outcomes[j["id"].(float64)] = j["outcomes"]
	}
	assert.Equal(t, map[float64]any{
		float64(mixed):  map[string]any{"succeeded": 2.0, "device_failure": 1.0, "skipped": 1.0},
		float64(active): map[string]any{"pending": 1.0, "in_progress": 1.0},
		float64(empty):  map[string]any{},
	}, outcomes)

	// A page holds only its own jobs' counts.
	status, body = w.auditor.do("GET", "/api/v1/jobs?sort=name&order=asc&limit=1&offset=2", nil)
	require.Equal(t, http.StatusOK, status, body)
	require.Len(t, body["items"], 1)
	page := body["items"].([]any)[0].(map[string]any)
	assert.Equal(t, "mixed", page["name"])
	assert.Equal(t, map[string]any{"succeeded": 2.0, "device_failure": 1.0, "skipped": 1.0}, page["outcomes"])
}

// TestCertificateDetail: GET /api/v1/certificates/{id} shows a certificate's
// SHA-1 and SHA-256 fingerprints, its names of every kind, its key
// algorithm, and a PEM that decodes to exactly the stored DER.
func TestCertificateDetail(t *testing.T) {
	w := newAPIWorld(t)
	consoleDevice(t, w.pool, "cam-1", "camera", "OPERATIONAL", "agent")
	ca := testpki.NewCA(t, "Detail CA")
	uri, err := url.Parse("urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66")
	require.NoError(t, err)
	web, err := url.Parse("https://cam-1.example.com/device")
	require.NoError(t, err)

	// Made here with crypto/x509 so the test, not a helper, says what is in it.
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	now := time.Now().Truncate(time.Second)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(0x1f2e3d), Subject: pkix.Name{CommonName: "cam-1", Organization: []string{"Acme"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * day),
		DNSNames:       []string{"cam-1.example.com", "cam-1.local"},
		IPAddresses:    []net.IP{net.ParseIP("10.0.0.5"), net.ParseIP("2001:db8::5")},
		EmailAddresses: []string{"ops@example.com"},
		URIs:           []*url.URL{uri, web},
		KeyUsage:       x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca.Cert, key.Public(), ca.Key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	sum256 := sha256.Sum256(der)
	row, err := store.New(w.pool).InsertCertificate(context.Background(), store.InsertCertificateParams{
		DeviceID: pgtype.Text{String: "cam-1", Valid: true}, CertType: "tls", Issuer: cert.Issuer.String(),
		SerialHex: cert.SerialNumber.Text(16), Subject: cert.Subject.String(), Sha256: sum256[:],
		NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, Der: der,
	})
	require.NoError(t, err)

	status, body := w.auditor.do("GET", fmt.Sprintf("/api/v1/certificates/%d", row.ID), nil)
	require.Equal(t, http.StatusOK, status, body)
	sum1 := sha1.Sum(der)
	assert.Equal(t, hex.EncodeToString(sum1[:]), body["sha1"])
	assert.Equal(t, hex.EncodeToString(sum256[:]), body["sha256"])
	assert.Equal(t, "1f2e3d", body["serial"])
	assert.Equal(t, "cam-1", body["device_id"])
	assert.Equal(t, []any{"cam-1.example.com", "cam-1.local"}, body["dns_names"])
	assert.Equal(t, []any{"10.0.0.5", "2001:db8::5"}, body["ip_addresses"])
	assert.Equal(t, []any{"ops@example.com"}, body["email_addresses"])
	assert.Equal(t, []any{"urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", "https://cam-1.example.com/device"}, body["uris"])
	assert.Equal(t, "ECDSA", body["key_algorithm"])

	text, ok := body["pem"].(string)
	require.True(t, ok, "pem is a string: %v", body["pem"])
	block, rest := pem.Decode([]byte(text))
	require.NotNil(t, block, "pem decodes: %q", text)
	assert.Equal(t, "CERTIFICATE", block.Type)
	assert.Equal(t, der, block.Bytes, "the PEM holds the stored DER")
	assert.Empty(t, strings.TrimSpace(string(rest)), "one block, nothing after it")
	assert.NotContains(t, text, "PRIVATE")

	status, body = w.auditor.do("GET", "/api/v1/certificates/999999", nil)
	assert.Equal(t, http.StatusNotFound, status, body)
}

// TestJobDeviceFilter: POST /api/v1/jobs with device_filter refuses a filter
// beside device_ids or certificate_ids, a filter that matches no device and
// one with an unknown mode, each a 400 naming its field that stores no job;
// and starts a job over exactly the devices that match every part of a
// filter, in a real Temporal (no worker runs it: its items stay pending).
func TestJobDeviceFilter(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	_, tc := testenv.Temporal(t, testenv.TemporalOptions{})
	w := newAPIWorldWith(t, pool, api.Deps{Logger: quiet, Pool: pool, Jobs: &jobs.Service{Pool: pool, Temporal: tc, TaskQueue: "device-filter-test"}})
	profile := consoleProfile(t, pool, "cams", "tls")
	// Every device has a profile, so that a filter that let one through would
	// show as a wrong item rather than as a refusal for a missing profile.
	for _, d := range []struct{ id, deviceType, mode, driver string }{
		{"cam-1", "camera", "OPERATIONAL", "agent"}, // matches
		{"cam-2", "camera", "OPERATIONAL", "agent"}, // matches
		{"cam-3", "camera", "NEW", "agent"},         // another mode
		{"cam-4", "camera", "OPERATIONAL", "ssh"},   // another driver
		{"gw-1", "gateway", "OPERATIONAL", "agent"}, // another type
	} {
		consoleDevice(t, pool, d.id, d.deviceType, d.mode, d.driver)
		consoleAssign(t, pool, d.id, "tls", profile)
	}
	filter := map[string]any{"device_type": "camera", "mode": "OPERATIONAL", "driver": "agent"}

	for name, c := range map[string]struct {
		body  map[string]any
		field string
	}{
		"with device_ids":      {map[string]any{"name": "x", "cert_type": "tls", "device_filter": filter, "device_ids": []string{"cam-1"}}, "device_filter"},
		"with certificate_ids": {map[string]any{"name": "x", "cert_type": "tls", "device_filter": filter, "certificate_ids": []int{1}}, "device_filter"},
		// Each part matches some device; together, none.
		"matching none": {map[string]any{"name": "x", "cert_type": "tls", "device_filter": map[string]any{"device_type": "camera", "mode": "NEW", "driver": "ssh"}}, "device_filter"},
		"unknown type":  {map[string]any{"name": "x", "cert_type": "tls", "device_filter": map[string]any{"device_type": "toaster"}}, "device_filter"},
		"bad mode":      {map[string]any{"name": "x", "cert_type": "tls", "device_filter": map[string]any{"device_type": "camera", "mode": "ASLEEP"}}, "device_filter.mode"},
		// An empty filter would be the whole fleet by accident.
		"empty": {map[string]any{"name": "x", "cert_type": "tls", "device_filter": map[string]any{}}, "device_filter"},
	} {
		status, body := w.operator.do("POST", "/api/v1/jobs", c.body)
		assert.Equal(t, http.StatusBadRequest, status, "%s: %v", name, body)
		assert.Equal(t, "invalid", body["error"].(map[string]any)["code"], name)
		assert.Equal(t, c.field, errorField(t, body), "%s: %v", name, body)
		assert.True(t, strings.HasPrefix(body["error"].(map[string]any)["message"].(string), c.field+": "), "%s: %v", name, body)
	}
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM jobs) + (SELECT count(*) FROM job_items)`).Scan(&n))
	assert.Zero(t, n, "no refusal stored a job or an item")
	status, body := w.auditor.do("POST", "/api/v1/jobs", map[string]any{"name": "x", "cert_type": "tls", "device_filter": filter})
	assert.Equal(t, http.StatusForbidden, status, "starting jobs is for operators: %v", body)

	status, body = w.operator.do("POST", "/api/v1/jobs", map[string]any{"name": "renew cameras", "cert_type": "tls", "device_filter": filter})
	require.Equal(t, http.StatusCreated, status, body)
	jobID := int64(body["id"].(float64))
	assert.Equal(t, workflows.JobWorkflowID(jobID), body["workflow_id"])
	assert.Equal(t, []any{}, body["skipped"])
	_, err := tc.DescribeWorkflowExecution(ctx, workflows.JobWorkflowID(jobID), "")
	require.NoError(t, err, "the job's workflow started")

	status, body = w.auditor.do("GET", fmt.Sprintf("/api/v1/jobs/%d/items", jobID), nil)
	require.Equal(t, http.StatusOK, status, body)
	var devices []string
	for _, item := range body["items"].([]any) {
		devices = append(devices, item.(map[string]any)["device_id"].(string))
	}
	assert.Equal(t, []string{"cam-1", "cam-2"}, devices, "exactly the devices matching type, mode and driver")
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&n))
	assert.Equal(t, 1, n)
}
