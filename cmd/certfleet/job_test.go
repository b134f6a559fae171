package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/internal/testenv"
)

// TestJobCommand: `certfleet job create` skips a disabled device and says so,
// and create and halt are in the audit log under the person at the terminal;
// a halt of no job records nothing.
func TestJobCommand(t *testing.T) {
	ctx := context.Background()
	pool, dsn := testenv.Database(t)
	address, _ := testenv.Temporal(t, testenv.TemporalOptions{})
	q := store.New(pool)
	profile, err := q.CreateProfile(ctx, store.CreateProfileParams{
		Name: "cameras", CertType: "tls", DeviceType: "camera",
		SubjectRules: json.RawMessage(`[{"attr":"CN","rule":"from_csr"}]`), SanRules: json.RawMessage(`[]`), ExtraAttributes: json.RawMessage(`[]`),
		KeyAlgorithms: json.RawMessage(`[{"algorithm":"ecdsa","sizes":[256]}]`), Validity: 90 * 24 * time.Hour, RenewBefore: 30 * 24 * time.Hour,
		CaDriver: "local", CaSettings: json.RawMessage(`{}`), MaxCaWait: time.Hour,
	})
	require.NoError(t, err)
	for id, mode := range map[string]string{"cam-1": "OPERATIONAL", "cam-2": "DISABLED"} {
		_, err := q.CreateDevice(ctx, store.CreateDeviceParams{ID: id, Name: id, DeviceType: "camera", Mode: mode, Driver: "agent"})
		require.NoError(t, err)
		require.NoError(t, q.AssignProfile(ctx, store.AssignProfileParams{DeviceID: id, CertType: "tls", ProfileID: profile.ID}))
	}
	job := func(args ...string) (int, string) {
		var out bytes.Buffer
		args = append(append([]string{"job"}, args...), "-by", "alice", "-database-url", dsn, "-temporal-address", address, "-task-queue", "cli-test")
		code := run(ctx, args, &out, &out)
		return code, out.String()
	}

	code, out := job("create", "-name", "renew", "-devices", "cam-1,cam-2")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "skipped cam-2: the device is disabled")
	var id int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM jobs`).Scan(&id))
	code, out = job("halt", fmt.Sprint(id))
	require.Equal(t, 0, code, out)
	code, out = job("halt", "999999")
	assert.Equal(t, 1, code, out)

	rows, err := pool.Query(ctx, "SELECT actor || ' ' || action || ' ' || array_to_string(object_ids, ',') FROM audit_log ORDER BY id")
	require.NoError(t, err)
	var audit []string
	for rows.Next() {
		var row string
		require.NoError(t, rows.Scan(&row))
		audit = append(audit, row)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{fmt.Sprintf("cli:alice job.create %d", id), fmt.Sprintf("cli:alice job.halt %d", id)}, audit)

	// A finished job shows the status its items earned, as stored, and no live block.
	done, err := q.CreateJob(ctx, store.CreateJobParams{Name: "done", CertType: "tls", CreatedBy: "test", ScheduledAt: time.Now()})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO job_items (job_id, device_id, cert_type, profile_id, state, last_error, finished_at)
		VALUES ($1, 'cam-1', 'tls', $2, 'device_failure', 'refused', now())`, done.ID, profile.ID)
	require.NoError(t, err)
	require.NoError(t, q.FinishJob(ctx, store.FinishJobParams{ID: done.ID, Status: "completed"}))
	code, out = job("status", fmt.Sprint(done.ID))
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, `"status": "failed"`, "every item failed")
	assert.NotContains(t, out, `"live"`)
}
