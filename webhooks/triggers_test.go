package webhooks_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestEventsFromTriggers: the outbox gets an event when the change commits,
// as the change stood then: a sweep's job whose source is set after its
// insert is a renewal job; a CA request issued or refused in the transaction
// that made it was never pending; one decided later is; a job that ends
// tells its outcome once.
func TestEventsFromTriggers(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	profile := testenv.CameraProfile(t, pool, "cameras", true)
	events := func() map[string]string {
		rows, err := pool.Query(ctx, `SELECT event_id, type FROM webhook_events`)
		require.NoError(t, err)
		got := map[string]string{}
		for rows.Next() {
			var id, typ string
			require.NoError(t, rows.Scan(&id, &typ))
			got[id] = typ
		}
		require.NoError(t, rows.Err())
		return got
	}
	var swept, manual int64
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO jobs (name, cert_type, created_by) VALUES ('sweep', 'tls', 'test') RETURNING id`).Scan(&swept); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE jobs SET source = 'renewal-policy/1/2026-12-03' WHERE id = $1`, swept)
		return err
	}))
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO jobs (name, cert_type, created_by) VALUES ('by hand', 'tls', 'test') RETURNING id`).Scan(&manual))

	var pending, immediate int64
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO ca_requests (idempotency_key, profile_id, ca_driver, csr_der) VALUES ('k1', $1, 'local', '\x00') RETURNING id`, profile).Scan(&pending))
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO ca_requests (idempotency_key, profile_id, ca_driver, csr_der) VALUES ('k2', $1, 'local', '\x00') RETURNING id`, profile).Scan(&immediate); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE ca_requests SET status = 'rejected', reject_reason = 'policy' WHERE id = $1`, immediate)
		return err
	}))
	_, err := pool.Exec(ctx, `UPDATE ca_requests SET status = 'rejected', reject_reason = 'no', decided_by = 'op' WHERE id = $1`, pending)
	require.NoError(t, err)
	for range 2 { // ending twice (a retried activity) tells it once
		_, err = pool.Exec(ctx, `UPDATE jobs SET status = 'succeeded', completed_at = now() WHERE id = $1 AND status <> 'succeeded'`, manual)
		require.NoError(t, err)
	}

	assert.Equal(t, map[string]string{
		fmt.Sprint("renewal.job_started/", swept):  "renewal.job_started",
		fmt.Sprint("ca_request.pending/", pending): "ca_request.pending",
		fmt.Sprint("ca_request.decided/", pending): "ca_request.decided",
		fmt.Sprint("job.finished/", manual):        "job.finished",
	}, events())
}
