package scep_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/credentials"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/drivers/registry"
	"github.com/certfleet/certfleet/enroll"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/pki/trust"
	"github.com/certfleet/certfleet/scep"
	"github.com/certfleet/certfleet/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const taskQueue = "certfleet-scep-test"

// world is a running certfleet SCEP server on loopback, over plain HTTP as
// SCEP clients expect: Postgres, a Temporal dev server, an in-process
// worker, the built-in CA, and labels "phones" (the default), "approve" (a
// profile in approval mode), "otp-only" (only OTP challenges) and "est-only"
// (SCEP off).
type world struct {
	pool     *pgxpool.Pool
	temporal client.Client
	ca       *local.CA
	ras      *scep.RAs
	url      string // http://127.0.0.1:port
	dir      string
	chainPEM string // issuing CA then root, for openssl verify
	rootPEM  string
	recorder recorder
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{dir: t.TempDir()}
	w.pool, _ = testenv.Database(t)
	_, w.temporal = testenv.Temporal(t, testenv.TemporalOptions{})
	ca, keys := testenv.BuiltinCA(t, w.pool, local.Options{PendingRetry: time.Second})
	w.ca = ca
	creds := &credentials.Store{Pool: w.pool, KEK: keys}
	drivers := registry.New(w.pool, local.SetOf(w.ca), creds, 10*time.Second)
	wk := worker.New(w.temporal, taskQueue, worker.Options{StopTimeout: 5 * time.Second}, worker.Activities{Jobs: &activities.Activities{Pool: w.pool, Drivers: drivers, Credentials: creds}})
	require.NoError(t, wk.Start())
	t.Cleanup(wk.Stop)

	phones := w.profile(t, "phones", false)
	approval := w.profile(t, "phones-approval", true)
	w.label(t, store.CreateESTLabelParams{Label: "phones", IsDefault: true, ProfileID: phones, AllowBasic: true, AllowReenroll: true, ScepEnabled: true})
	w.label(t, store.CreateESTLabelParams{Label: "approve", ProfileID: approval, AllowBasic: true, AllowReenroll: true, ScepEnabled: true})
	w.label(t, store.CreateESTLabelParams{Label: "otp-only", ProfileID: phones, AllowBasic: true, ScepEnabled: true, ScepChallenges: []string{"otp"}})
	w.label(t, store.CreateESTLabelParams{Label: "est-only", ProfileID: phones, AllowBasic: true})

	w.ras = &scep.RAs{Pool: w.pool, KEK: keys, Issuer: w.ca}
	server := &scep.Server{RAs: w.ras, Service: enroll.Service{
		Pool: w.pool, CAs: drivers, Trust: trust.New(w.pool),
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Enroller: &enroll.Temporal{Client: w.temporal, TaskQueue: taskQueue, Wait: 10 * time.Second},
		Limits:   enroll.Limits{MaxBody: enroll.DefaultLimits.MaxBody},
	}}
	hs := httptest.NewServer(w.recorder.wrap(server.Handler()))
	t.Cleanup(hs.Close)
	w.url = hs.URL
	issuing, root := w.ca.Certificates()
	w.rootPEM = testpki.Write(t, w.dir, "root.pem", testpki.CertPEM(root))
	w.chainPEM = testpki.Write(t, w.dir, "issuing.pem", testpki.CertPEM(issuing))
	return w
}

func (w *world) profile(t *testing.T, name string, approval bool) int64 {
	return testenv.CameraProfile(t, w.pool, name, approval)
}

// label creates a label; SCEP labels take both challenge kinds unless set.
func (w *world) label(t *testing.T, p store.CreateESTLabelParams) {
	if p.ScepChallenges == nil {
		p.ScepChallenges = []string{"otp", "dynamic"}
	}
	testenv.Label(t, w.pool, p)
}

// device registers a device that enrolls itself, with an enrollment secret
// of kind otp or password ("" for none); SCEP takes only the OTP.
func (w *world) device(t *testing.T, id, kind, secret string) {
	testenv.SelfEnrollingCamera(t, w.pool, id, kind, secret)
}

// challenge makes a one-time challenge as the API does, for deviceID if set.
func (w *world) challenge(t *testing.T, secret, deviceID string) {
	t.Helper()
	digest := sha256.Sum256([]byte(secret))
	_, err := store.New(w.pool).CreateSCEPChallenge(context.Background(), store.CreateSCEPChallengeParams{
		SecretSha256: digest[:], DeviceID: pgtype.Text{String: deviceID, Valid: deviceID != ""},
		ExpiresAt: time.Now().Add(time.Hour), CreatedBy: "test",
	})
	require.NoError(t, err)
}

// raFingerprint is the SHA-256 of the current RA certificate, which a
// client pins with -ca-fingerprint.
func (w *world) raFingerprint(t *testing.T) string {
	t.Helper()
	cert := w.raCert(t)
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// scepclient runs Debian's scepclient (micromdm) with its key in dir.
func (w *world) scepclient(t *testing.T, dir, label string, args ...string) (string, error) {
	t.Helper()
	args = append([]string{"-private-key", filepath.Join(dir, "key.pem"), "-server-url", w.url + "/scep/" + label,
		"-ca-fingerprint", w.raFingerprint(t)}, args...)
	cmd := exec.Command(testenv.Command(t, "scepclient"), args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// opensslVerify checks a PEM certificate against the built-in CA with openssl.
func (w *world) opensslVerify(t *testing.T, path string) {
	t.Helper()
	out, err := exec.Command("openssl", "verify", "-CAfile", w.rootPEM, "-untrusted", w.chainPEM, path).CombinedOutput()
	require.NoError(t, err, string(out))
	require.True(t, strings.HasSuffix(strings.TrimSpace(string(out)), ": OK"), string(out))
}

// count runs a SELECT count(*) query.
func (w *world) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, w.pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

// snapshot counts what a request could create or spend.
func (w *world) snapshot(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for name, query := range map[string]string{
		"devices":           `SELECT count(*) FROM devices`,
		"certificates":      `SELECT count(*) FROM certificates`,
		"ca_requests":       `SELECT count(*) FROM ca_requests`,
		"spent OTPs":        `SELECT count(*) FROM enrollment_credentials WHERE used_at IS NOT NULL`,
		"spent challenges":  `SELECT count(*) FROM scep_challenges WHERE used_at IS NOT NULL`,
		"scep_transactions": `SELECT count(*) FROM scep_transactions`,
	} {
		out[name] = w.count(t, query)
	}
	return out
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(pemBody(t, data))
	require.NoError(t, err)
	return cert
}
