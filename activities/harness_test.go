package activities_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/credentials"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	fleetSecret = "activities-test-fleet-secret-0123456789"
	kekBase64   = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" // testenv.KEK, as CERTFLEET_KEK spells it
)

// fleet is the steps' world: a database, the built-in CA, a simulated fleet
// of OPERATIONAL cameras and a TLS profile assigned to all of them. The steps
// run as Temporal would run them, without Temporal.
type fleet struct {
	pool   *pgxpool.Pool
	dbURL  string
	ca     *local.CA
	creds  *credentials.Store
	normal int64
}

func newFleet(t *testing.T, devices int) *fleet {
	t.Helper()
	f := &fleet{}
	f.pool, f.dbURL = testenv.Database(t)
	ca, keys := testenv.BuiltinCA(t, f.pool, local.Options{})
	f.ca = ca
	f.creds = testenv.NewSimFleet(t, f.pool, keys, devices, fleetSecret, "OPERATIONAL").Credentials
	row, err := store.New(f.pool).CreateProfile(context.Background(), store.CreateProfileParams{
		Name: "cameras", CertType: "tls", DeviceType: "camera",
		SubjectRules: json.RawMessage(`[{"attr":"CN","rule":"from_csr","pattern":"sim-[0-9]+"}]`),
		SanRules:     json.RawMessage(`[]`), ExtraAttributes: json.RawMessage(`[]`),
		KeyAlgorithms: json.RawMessage(`[{"algorithm":"ecdsa","sizes":[256]}]`),
		Validity:      90 * 24 * time.Hour, RenewBefore: 30 * 24 * time.Hour, CaDriver: "local",
		CaSettings: json.RawMessage(`{}`), MaxCaWait: 10 * time.Minute,
	})
	require.NoError(t, err)
	f.normal = row.ID
	_, err = f.pool.Exec(context.Background(), `INSERT INTO device_profiles (device_id, cert_type, profile_id) SELECT id, 'tls', $1 FROM devices`, f.normal)
	require.NoError(t, err)
	return f
}

func (f *fleet) activities() *activities.Activities { return testenv.Activities(f.pool, f.ca, f.creds) }

// states counts a job's items by state.
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
