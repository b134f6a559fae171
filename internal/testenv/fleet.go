package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/credentials"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/drivers/registry"
	"github.com/certfleet/certfleet/pki/kek"
	"github.com/certfleet/certfleet/renewal"
	"github.com/certfleet/certfleet/worker"
)

// KEK is the tests' key-encryption key: all zeros, never a real one.
func KEK(t testing.TB) *kek.KEK {
	t.Helper()
	keys, err := kek.New(make([]byte, 32))
	if err != nil {
		t.Fatalf("test KEK: %v", err)
	}
	return keys
}

// BuiltinCA opens the built-in CA in pool under the test KEK, creating it.
func BuiltinCA(t testing.TB, pool *pgxpool.Pool, opts local.Options) (*local.CA, *kek.KEK) {
	t.Helper()
	keys := KEK(t)
	ca, err := local.Open(context.Background(), pool, keys, opts)
	if err != nil {
		t.Fatalf("open the built-in CA: %v", err)
	}
	return ca, keys
}

// SimFleet is a simulated fleet recorded in the inventory: devices
// sim-00001… of type camera, driver agent, reaching the simulator with the
// fleet's derived credential.
type SimFleet struct {
	URL          string
	Credentials  *credentials.Store
	CredentialID int64
}

// NewSimFleet starts a simulator of n devices with master secret and records
// them in pool, in mode; they have no profile yet.
func NewSimFleet(t testing.TB, pool *pgxpool.Pool, keys *kek.KEK, n int, master, mode string) SimFleet {
	t.Helper()
	f := SimFleet{}
	f.URL, _ = DeviceSim(t, n, master)
	f.Credentials, f.CredentialID = FleetCredential(t, pool, keys, master)
	_, err := pool.Exec(context.Background(), `
		INSERT INTO devices (id, name, device_type, mode, driver, address, credential_id)
		SELECT id, 'Camera ' || id, 'camera', $3, 'agent', $1 || '/devices/' || id, $4::bigint
		FROM (SELECT format('sim-%s', lpad(n::text, 5, '0')) AS id FROM generate_series(1, $2::int) n) ids`,
		f.URL, n, mode, f.CredentialID)
	if err != nil {
		t.Fatalf("record the simulated fleet: %v", err)
	}
	return f
}

// Activities are the job steps over pool, the CA and the credentials.
func Activities(pool *pgxpool.Pool, ca *local.CA, creds *credentials.Store) *activities.Activities {
	return &activities.Activities{Pool: pool, Drivers: registry.New(pool, local.SetOf(ca), creds, 10*time.Second), Credentials: creds}
}

// StartWorker runs certfleet's worker on taskQueue in this process until the
// test ends; sweeps may be nil.
func StartWorker(t testing.TB, tc client.Client, taskQueue string, acts *activities.Activities, sweeps *renewal.SweepActivities) {
	t.Helper()
	w := worker.New(tc, taskQueue, worker.Options{StopTimeout: 5 * time.Second}, worker.Activities{Jobs: acts, Sweeps: sweeps})
	if err := w.Start(); err != nil {
		t.Fatalf("start the worker: %v", err)
	}
	t.Cleanup(w.Stop)
}
