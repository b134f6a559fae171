package jobs_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/credentials"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/pki/kek"
	"github.com/certfleet/certfleet/workflows"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	fleetSecret = "jobs-test-fleet-secret-0123456789"
	taskQueue   = "certfleet-test"
	kekBase64   = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)

// fleet is a test world: a database, a dev server, a simulated fleet, the
// built-in CA and two profiles (one in approval mode).
type fleet struct {
	pool     *pgxpool.Pool
	dbURL    string
	temporal client.Client
	address  string
	simURL   string
	ca       *local.CA
	creds    *credentials.Store
	jobs     *jobs.Service
	normal   int64
	approval int64
	trust    *x509.Certificate // what the gateways' profile asks them to trust
}

func newFleet(t *testing.T, devices int) *fleet {
	t.Helper()
	f := &fleet{}
	f.pool, f.dbURL = testenv.Database(t)
	f.address, f.temporal = testenv.Temporal(t, testenv.TemporalOptions{})
	var keys *kek.KEK
	f.ca, keys = testenv.BuiltinCA(t, f.pool, local.Options{PendingRetry: time.Second})
	sim := testenv.NewSimFleet(t, f.pool, keys, devices, fleetSecret, "OPERATIONAL")
	f.simURL, f.creds = sim.URL, sim.Credentials
	f.jobs = &jobs.Service{Pool: f.pool, Temporal: f.temporal, TaskQueue: taskQueue}
	f.normal = f.profile(t, "cameras", false)
	f.approval = f.profile(t, "cameras-approval", true)
	return f
}

// activities are the job steps over this fleet's database, CA and credentials.
func (f *fleet) activities() *activities.Activities {
	acts := testenv.Activities(f.pool, f.ca, f.creds)
	acts.Runs = f.temporal
	return acts
}

func (f *fleet) profile(t *testing.T, name string, approval bool) int64 {
	t.Helper()
	row, err := store.New(f.pool).CreateProfile(context.Background(), store.CreateProfileParams{
		Name: name, CertType: "tls", DeviceType: "camera",
		SubjectRules: json.RawMessage(`[{"attr":"CN","rule":"from_csr","pattern":"sim-[0-9]+"},{"attr":"O","rule":"fixed","value":"Acme"}]`),
		SanRules:     json.RawMessage(`[]`), ExtraAttributes: json.RawMessage(`[]`),
		KeyAlgorithms: json.RawMessage(`[{"algorithm":"ecdsa","sizes":[256]}]`),
		Validity:      90 * 24 * time.Hour, RenewBefore: 30 * 24 * time.Hour, CaDriver: "local",
		CaSettings: json.RawMessage(`{}`), ApprovalMode: approval, MaxCaWait: 10 * time.Minute,
	})
	require.NoError(t, err)
	return row.ID
}

// assign gives devices first..last the profile.
func (f *fleet) assign(t *testing.T, profile int64, first, last int) {
	t.Helper()
	_, err := f.pool.Exec(context.Background(), `
		INSERT INTO device_profiles (device_id, cert_type, profile_id)
		SELECT format('sim-%s', lpad(n::text, 5, '0')), 'tls', $1 FROM generate_series($2::int, $3::int) n
		ON CONFLICT (device_id, cert_type) DO UPDATE SET profile_id = EXCLUDED.profile_id`, profile, first, last)
	require.NoError(t, err)
}

func ids(first, last int) []string {
	var out []string
	for n := first; n <= last; n++ {
		out = append(out, fmt.Sprintf("sim-%05d", n))
	}
	return out
}

// wait follows the job's workflow, across continue-as-new, to its end.
func (f *fleet) wait(t *testing.T, jobID int64, timeout time.Duration) workflows.Progress {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var p workflows.Progress
	require.NoError(t, f.temporal.GetWorkflow(ctx, workflows.JobWorkflowID(jobID), "").Get(ctx, &p))
	return p
}

// states counts a job's items by state, from Postgres.
func (f *fleet) states(t *testing.T, jobID int64) map[string]int {
	t.Helper()
	rows, err := store.New(f.pool).CountJobItemsByState(context.Background(), jobID)
	require.NoError(t, err)
	out := map[string]int{}
	for _, r := range rows {
		out[r.State] = int(r.Items)
	}
	return out
}

// simState reads a simulated device's faults, installed certificate, and
// how often each operation was called.
type simState struct {
	Faults struct {
		CSRFailure     bool `json:"csr_failure"`
		InstallFailure bool `json:"install_failure"`
	} `json:"faults"`
	Certificates map[string]struct {
		SHA256 string `json:"sha256"`
	} `json:"certificates"`
	Calls map[string]int `json:"calls"`
}

func (f *fleet) admin(t *testing.T, method, path string, body any) *http.Response {
	t.Helper()
	resp := testenv.SimAdmin(t, f.simURL, fleetSecret, method, path, body)
	require.Less(t, resp.StatusCode, 300, "%s %s", method, path)
	return resp
}

func (f *fleet) device(t *testing.T, id string) simState {
	t.Helper()
	resp := f.admin(t, http.MethodGet, "/devices/"+id, nil)
	defer resp.Body.Close()
	var s simState
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&s))
	return s
}

func sha256Hex(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}
