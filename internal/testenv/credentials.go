package testenv

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/credentials"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/pki/kek"
)

// FleetCredential stores a simulated fleet's master secret as the derived
// credential "fleet", sealed under keys, and returns the store and the
// credential's ID for devices to name.
func FleetCredential(t testing.TB, pool *pgxpool.Pool, keys *kek.KEK, master string) (*credentials.Store, int64) {
	t.Helper()
	creds := &credentials.Store{Pool: pool, KEK: keys}
	row, err := creds.Create(context.Background(), store.New(pool),
		credentials.Spec{Name: "fleet", Kind: credentials.Derived, Secret: master}, "test")
	if err != nil {
		t.Fatalf("store the fleet's credential: %v", err)
	}
	return creds, row.ID
}
