package db_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/db"
	"github.com/certfleet/certfleet/internal/testenv"
)

// TestMigrateFromNothing is what `certfleet migrate` does on a new machine:
// create the database, apply every migration, and do nothing the second time.
func TestMigrateFromNothing(t *testing.T) {
	ctx := context.Background()
	url := testenv.EmptyDatabase(t)

	created, err := db.EnsureDatabase(ctx, url)
	require.NoError(t, err)
	assert.True(t, created)
	created, err = db.EnsureDatabase(ctx, url)
	require.NoError(t, err)
	assert.False(t, created, "second call finds the database")

	pool, err := db.Open(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	require.ErrorContains(t, db.CheckCurrent(ctx, pool), "certfleet migrate")

	version, err := db.Migrate(ctx, pool)
	require.NoError(t, err)
	files, err := os.ReadDir("migrations")
	require.NoError(t, err)
	assert.EqualValues(t, len(files), version, "one version per migration file")
	require.NoError(t, db.CheckCurrent(ctx, pool))

	again, err := db.Migrate(ctx, pool)
	require.NoError(t, err)
	assert.Equal(t, version, again)
}

// TestMigrationsRoundTrip proves every down migration undoes its up migration.
func TestMigrationsRoundTrip(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)

	require.NoError(t, db.MigrateDownTo(ctx, pool, 0))
	var tables int
	require.NoError(t, pool.QueryRow(ctx,
		`SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'goose_db_version'`).Scan(&tables))
	assert.Zero(t, tables, "down migrations leave no tables behind")

	_, err := db.Migrate(ctx, pool)
	require.NoError(t, err)
}

func TestOpenReportsUnreachableServerWithoutPassword(t *testing.T) {
	_, err := db.Open(context.Background(), "postgres://certfleet:s3cret@127.0.0.1:1/certfleet?connect_timeout=2")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")
}

// TestUnprovenAnchorsAreDisabledByTheUpgrade: anchors uploaded before proofs
// were enforced stop authenticating at the upgrade, marked legacy, until an
// admin confirms them; proven ones keep working.
func TestUnprovenAnchorsAreDisabledByTheUpgrade(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	require.NoError(t, db.MigrateDownTo(ctx, pool, 6))
	_, err := pool.Exec(ctx, `INSERT INTO trust_anchors (name, subject, der, sha256, not_after, enabled, verified_at) VALUES
		('unproven', 'CN=a', '\x00', decode(repeat('aa', 32), 'hex'), now() + interval '1 year', true, NULL),
		('proven',   'CN=b', '\x00', decode(repeat('bb', 32), 'hex'), now() + interval '1 year', true, now())`)
	require.NoError(t, err)
	_, err = db.Migrate(ctx, pool)
	require.NoError(t, err)

	rows, err := pool.Query(ctx, `SELECT name, enabled, legacy_unproven FROM trust_anchors ORDER BY name`)
	require.NoError(t, err)
	got := map[string][2]bool{}
	for rows.Next() {
		var name string
		var enabled, legacy bool
		require.NoError(t, rows.Scan(&name, &enabled, &legacy))
		got[name] = [2]bool{enabled, legacy}
	}
	assert.Equal(t, map[string][2]bool{"unproven": {false, true}, "proven": {true, false}}, got)
	_, err = pool.Exec(ctx, `UPDATE trust_anchors SET enabled = true WHERE name = 'unproven'`)
	assert.Error(t, err, "the schema itself refuses an enabled, unproven anchor")
}
