package est_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/credentials"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/drivers/registry"
	"github.com/certfleet/certfleet/enroll"
	"github.com/certfleet/certfleet/est"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/pki/kek"
	"github.com/certfleet/certfleet/pki/trust"
	"github.com/certfleet/certfleet/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const taskQueue = "certfleet-est-test"

// world is a running certfleet EST server on loopback: Postgres, a Temporal
// dev server, an in-process worker, the built-in CA, and labels:
// "cams" (the default; Basic, factory certificates, re-enrollment),
// "approve" (a profile in approval mode) and "lan-only" (10.0.0.0/8 only).
type world struct {
	pool     *pgxpool.Pool
	temporal client.Client
	ca       *local.CA
	trust    *trust.Store
	host     string // 127.0.0.1:port
	url      string // https://127.0.0.1:port/.well-known/est
	dir      string
	rootPEM  string // the built-in CA's root, which the server's certificate chains to
	chainPEM string // issuing CA then root, for openssl verify
	enroller *enroll.Temporal
	handler  http.Handler // the EST server's, as it serves
	keys     *kek.KEK
}

// worldOption changes a world as newWorld builds it; nil fields change nothing.
type worldOption struct {
	pendingRetry time.Duration                   // the built-in CA's advice on polling a pending request; 1 s unless set
	ca           func(ca.Driver) ca.Driver       // wraps every profile's CA driver
	server       func(*est.Server)               // adjusts the EST server
	handler      func(http.Handler) http.Handler // wraps the EST server's handler
}

func newWorld(t *testing.T, opts ...worldOption) *world {
	t.Helper()
	w := &world{dir: t.TempDir()}
	w.pool, _ = testenv.Database(t)
	_, w.temporal = testenv.Temporal(t, testenv.TemporalOptions{})
	pendingRetry := time.Second
	for _, o := range opts {
		if o.pendingRetry > 0 {
			pendingRetry = o.pendingRetry
		}
	}
	w.ca, w.keys = testenv.BuiltinCA(t, w.pool, local.Options{PendingRetry: pendingRetry})
	w.trust = trust.New(w.pool)
	creds := &credentials.Store{Pool: w.pool, KEK: w.keys}
	var drivers activities.Drivers = registry.New(w.pool, local.SetOf(w.ca), creds, 10*time.Second)
	for _, o := range opts {
		if o.ca != nil {
			drivers = wrappedCAs{Drivers: drivers, wrap: o.ca}
		}
	}
	// The worker tells the EST server outcomes in process, as in certfleet
	// all (the SCEP tests hear them from Temporal only).
	outcomes := &activities.Outcomes{}
	wk := worker.New(w.temporal, taskQueue, worker.Options{StopTimeout: 5 * time.Second}, worker.Activities{Jobs: &activities.Activities{Pool: w.pool, Drivers: drivers, Credentials: creds, Outcomes: outcomes}})
	require.NoError(t, wk.Start())
	t.Cleanup(wk.Stop)

	cams := w.profile(t, "cameras", false)
	approval := w.profile(t, "cameras-approval", true)
	w.label(t, store.CreateESTLabelParams{Label: "cams", IsDefault: true, ProfileID: cams, AllowBasic: true, AllowFactory: true, AllowReenroll: true})
	w.label(t, store.CreateESTLabelParams{Label: "approve", ProfileID: approval, AllowBasic: true, AllowReenroll: true})
	w.label(t, store.CreateESTLabelParams{Label: "lan-only", ProfileID: cams, AllowBasic: true, AllowedCidrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})

	cert, err := w.ca.ServerCertificate([]string{"localhost", "127.0.0.1"}, time.Hour)
	require.NoError(t, err)
	w.enroller = &enroll.Temporal{Client: w.temporal, TaskQueue: taskQueue, Wait: 10 * time.Second, Outcomes: outcomes}
	server := &est.Server{Fallback: w.ca, Service: enroll.Service{
		Pool: w.pool, CAs: drivers, Trust: w.trust, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		Enroller: w.enroller,
		Limits:   enroll.Limits{MaxBody: enroll.DefaultLimits.MaxBody},
	}}
	for _, o := range opts {
		if o.server != nil {
			o.server(server)
		}
	}
	w.handler = server.Handler()
	for _, o := range opts {
		if o.handler != nil {
			w.handler = o.handler(w.handler)
		}
	}
	hs := httptest.NewUnstartedServer(w.handler)
	hs.TLS = est.TLSConfig(cert)
	hs.StartTLS()
	t.Cleanup(hs.Close)
	w.host = strings.TrimPrefix(hs.URL, "https://")
	w.url = hs.URL + "/.well-known/est"
	issuing, root := w.ca.Certificates()
	w.rootPEM = testpki.Write(t, w.dir, "root.pem", testpki.CertPEM(root))
	w.chainPEM = testpki.Write(t, w.dir, "chain.pem", testpki.CertPEM(issuing, root))
	return w
}

// wrappedCAs hands out every profile's CA driver wrapped.
type wrappedCAs struct {
	activities.Drivers
	wrap func(ca.Driver) ca.Driver
}

func (d wrappedCAs) CA(ctx context.Context, profile store.Profile) (ca.Driver, error) {
	driver, err := d.Drivers.CA(ctx, profile)
	if err != nil {
		return nil, err
	}
	return d.wrap(driver), nil
}

func (w *world) profile(t *testing.T, name string, approval bool) int64 {
	return testenv.CameraProfile(t, w.pool, name, approval)
}

func (w *world) label(t *testing.T, p store.CreateESTLabelParams) { testenv.Label(t, w.pool, p) }

// device registers a camera that enrolls itself, with an enrollment secret
// of kind otp or password.
func (w *world) device(t *testing.T, id, kind, secret string) {
	testenv.SelfEnrollingCamera(t, w.pool, id, kind, secret)
}

func (w *world) secret(t *testing.T, id, kind, secret string) {
	testenv.EnrollmentSecret(t, w.pool, id, kind, secret)
}

// estclient runs globalsign's estclient v1.0.6 against the server.
func (w *world) estclient(t *testing.T, command string, args ...string) (string, error) {
	t.Helper()
	args = append([]string{command, "-server", w.host, "-explicit", w.rootPEM, "-timeout", "30s"}, args...)
	out, err := exec.Command(testenv.Tool(t, "estclient"), args...).CombinedOutput()
	return string(out), err
}

// key writes a new private key of alg ("ec" or "rsa") as PKCS#8 PEM.
func (w *world) key(t *testing.T, alg, name string) (crypto.Signer, string) {
	t.Helper()
	var key crypto.Signer
	var err error
	if alg == "rsa" {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	require.NoError(t, err)
	return key, testpki.Write(t, w.dir, name, testpki.KeyPEM(t, key))
}

// csr makes a CSR for key with common name cn.
func csr(t *testing.T, key crypto.Signer, cn string) *x509.CertificateRequest {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	require.NoError(t, err)
	parsed, err := x509.ParseCertificateRequest(der)
	require.NoError(t, err)
	return parsed
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	certs, err := pki.ParseCertificatesPEM(data)
	require.NoError(t, err)
	require.NotEmpty(t, certs, path)
	return certs[0]
}

// opensslVerify checks path against the built-in CA with openssl.
func (w *world) opensslVerify(t *testing.T, path string) {
	t.Helper()
	issuing := filepath.Join(w.dir, "issuing.pem")
	iss, _ := w.ca.Certificates()
	require.NoError(t, os.WriteFile(issuing, testpki.CertPEM(iss), 0o600))
	out, err := exec.Command("openssl", "verify", "-CAfile", w.rootPEM, "-untrusted", issuing, path).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), ": OK")
}

// count runs a SELECT count(*) query.
func (w *world) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, w.pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

// replayHistories replays the first run of each enrollment workflow, and
// records it with CERTFLEET_RECORD_HISTORIES=1 (see testenv.ReplayHistories).
func (w *world) replayHistories(t *testing.T, workflowIDs map[string]string) {
	t.Helper()
	histories := map[string]*historypb.History{}
	for name, id := range workflowIDs {
		histories[filepath.Join("enrollment", name)] = testenv.History(t, w.temporal, id, testenv.Runs(t, w.temporal, id)[0])
	}
	testenv.ReplayHistories(t, histories)
}

// enrollmentIDs are a device's enrollment workflow IDs, oldest first (they
// are its CA requests' idempotency keys).
func (w *world) enrollmentIDs(t *testing.T, deviceID string) []string {
	t.Helper()
	rows, err := w.pool.Query(context.Background(), `SELECT idempotency_key FROM ca_requests WHERE device_id = $1 ORDER BY id`, deviceID)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return ids
}
