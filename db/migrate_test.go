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

// TestCompletedJobsGetTheirOutcomeFromTheUpgrade: jobs that ended
// 'completed' before job outcomes existed get the status their items earned.
func TestCompletedJobsGetTheirOutcomeFromTheUpgrade(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	require.NoError(t, db.MigrateDownTo(ctx, pool, 9))
	_, err := pool.Exec(ctx, `
		INSERT INTO devices (id, name, device_type) VALUES ('up-1', 'up-1', 'camera'), ('up-2', 'up-2', 'camera');
		INSERT INTO profiles (name, cert_type, device_type, subject_rules, key_algorithms, validity, renew_before, ca_driver)
		VALUES ('upgrade', 'tls', 'camera', '[]', '[{"algorithm":"ecdsa","sizes":[256]}]', interval '90 days', interval '30 days', 'local');
		INSERT INTO jobs (name, cert_type, created_by, status, completed_at) VALUES
			('all ok', 'tls', 't', 'completed', now()), ('mixed', 'tls', 't', 'completed', now()),
			('all failed', 'tls', 't', 'completed', now()), ('stopped', 'tls', 't', 'halted', now());
		INSERT INTO job_items (job_id, device_id, cert_type, profile_id, state, finished_at)
		SELECT j.id, d.id, 'tls', (SELECT id FROM profiles WHERE name = 'upgrade'),
		       CASE WHEN j.name = 'all failed' OR (j.name = 'mixed' AND d.id = 'up-2') THEN 'device_failure' ELSE 'revoke_na' END, now()
		FROM jobs j, devices d WHERE d.id IN ('up-1', 'up-2');`)
	require.NoError(t, err)
	_, err = db.Migrate(ctx, pool)
	require.NoError(t, err)

	rows, err := pool.Query(ctx, `SELECT name, status FROM jobs ORDER BY id`)
	require.NoError(t, err)
	got := map[string]string{}
	for rows.Next() {
		var name, status string
		require.NoError(t, rows.Scan(&name, &status))
		got[name] = status
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, map[string]string{"all ok": "succeeded", "mixed": "completed_with_failures", "all failed": "failed", "stopped": "halted"}, got)
}
