package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/workflows"
)

// TestDisabledDevicesAreSkipped: a device disabled when the job is created is
// a skipped item from the start, even while another active job holds it; one
// disabled after the job was created but before its item starts is skipped
// when the item comes up. Neither is contacted, and the job accounts for both.
func TestDisabledDevicesAreSkipped(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 4)
	f.assign(t, f.normal, 1, 4)
	q := store.New(f.pool)
	disable := func(id string) {
		t.Helper()
		_, err := q.SetDeviceMode(ctx, store.SetDeviceModeParams{ID: id, Mode: "DISABLED"})
		require.NoError(t, err)
	}
	// sim-00002 sits in a job that never starts, and is then disabled.
	require.NoError(t, pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
		_, err := jobs.Insert(ctx, tx, jobs.Spec{Name: "holder", CertType: "tls", CreatedBy: "test", DeviceIDs: []string{"sim-00002"}})
		return err
	}))
	disable("sim-00002")

	job, err := f.jobs.Create(ctx, jobs.Spec{Name: "skips", CertType: "tls", CreatedBy: "test", DeviceIDs: ids(1, 4)}, nil)
	require.NoError(t, err, "a disabled device's other job does not refuse this one")
	assert.Equal(t, []jobs.Skipped{{DeviceID: "sim-00002", Reason: jobs.ReasonDisabled}}, job.Skipped)
	// No worker runs yet, so no item has started.
	disable("sim-00003")
	f.startWorker(t)

	progress := f.wait(t, job.ID, 2*time.Minute)
	assert.Equal(t, workflows.Outcomes{RevokeNA: 2, Skipped: 2}, progress.Outcomes)
	assert.Equal(t, 4, progress.Total)
	assert.Equal(t, map[string]int{"revoke_na": 2, "skipped": 2}, f.states(t, job.ID))
	for id, reason := range map[string]string{"sim-00002": jobs.ReasonDisabled, "sim-00003": "disabled after the job was created"} {
		item, err := q.GetJobItem(ctx, store.GetJobItemParams{JobID: job.ID, DeviceID: id})
		require.NoError(t, err)
		assert.Equal(t, "skipped", item.State, id)
		assert.True(t, strings.Contains(item.LastError, reason), "%s: %q", id, item.LastError)
		assert.Nil(t, item.StartedAt, "%s never started", id)
		assert.Empty(t, f.device(t, id).Calls, "%s was not contacted", id)
	}
	assert.NotEmpty(t, f.device(t, "sim-00001").Calls, "the enabled devices were")
}
