package jobs_test

import (
	"context"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/jobs"
)

// finishedItems counts a job's items that have an outcome.
func (f *fleet) finishedItems(t *testing.T, jobID int64) int {
	t.Helper()
	var n int
	require.NoError(t, f.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM job_items WHERE job_id = $1 AND finished_at IS NOT NULL`, jobID).Scan(&n))
	return n
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestWorkerKilledThreeTimes runs a 500-device job on a `certfleet worker`
// process that is killed with SIGKILL three times mid-job. The job must still
// complete, and the CA must have issued exactly one certificate per item.
func TestWorkerKilledThreeTimes(t *testing.T) {
	ctx := context.Background()
	const devices = 500
	f := newFleet(t, devices)
	f.assign(t, f.normal, 1, devices)
	job, err := f.jobs.Create(ctx, jobs.Spec{Name: "crash test", CertType: "tls", CreatedBy: "test", DeviceIDs: ids(1, devices), Window: 100}, nil)
	require.NoError(t, err)

	start := func() *testenv.Process {
		cmd := exec.Command(testenv.Binary(t), "worker")
		cmd.Env = []string{
			"DATABASE_URL=" + f.dbURL, "TEMPORAL_ADDRESS=" + f.address, "CERTFLEET_TASK_QUEUE=" + taskQueue,
			"CERTFLEET_KEK=" + kekBase64, "CERTFLEET_LOG_LEVEL=warn",
		}
		return testenv.Run(t, cmd)
	}
	worker := start()
	for kill := 1; kill <= 3; kill++ {
		target := kill * devices / 5
		waitFor(t, 3*time.Minute, "progress before the next kill", func() bool { return f.finishedItems(t, job.ID) >= target })
		require.NoError(t, worker.Cmd.Process.Signal(syscall.SIGKILL))
		_ = worker.Cmd.Wait()
		t.Logf("kill %d: SIGKILL with %d of %d items finished", kill, f.finishedItems(t, job.ID), devices)
		worker = start()
	}
	progress := f.wait(t, job.ID, 8*time.Minute)
	assert.Equal(t, "succeeded", progress.Status)
	assert.Equal(t, devices, progress.Outcomes.RevokeNA, "every device got its first certificate")
	assert.Equal(t, map[string]int{"revoke_na": devices}, f.states(t, job.ID))

	var certificates, requests, distinctIssued int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM certificates`).Scan(&certificates))
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM ca_requests`).Scan(&requests))
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(DISTINCT issued_certificate_id) FROM job_items WHERE job_id = $1`, job.ID).Scan(&distinctIssued))
	assert.Equal(t, devices, certificates, "the CA issued exactly one certificate per item")
	assert.Equal(t, devices, requests)
	assert.Equal(t, devices, distinctIssued)
	for _, id := range []string{"sim-00001", "sim-00250", "sim-00500"} {
		var der []byte
		require.NoError(t, f.pool.QueryRow(ctx, `SELECT c.der FROM job_items i JOIN certificates c ON c.id = i.issued_certificate_id
			WHERE i.job_id = $1 AND i.device_id = $2`, job.ID, id).Scan(&der))
		assert.Equal(t, sha256Hex(der), f.device(t, id).Certificates["tls"].SHA256, "%s holds its one certificate", id)
	}
}

// TestHaltCancelsDevicesInFlight halts a job whose devices answer slowly:
// nothing new starts, devices in flight end halted, and no item is left
// pending or in progress.
func TestHaltCancelsDevicesInFlight(t *testing.T) {
	ctx := context.Background()
	const devices = 40
	f := newFleet(t, devices)
	f.assign(t, f.normal, 1, devices)
	f.startWorker(t)
	f.admin(t, http.MethodPut, "/faults", map[string]any{"seed": 1, "slow": 1.0, "slow_ms": []int{1500, 1500}}).Body.Close()
	job, err := f.jobs.Create(ctx, jobs.Spec{Name: "to halt", CertType: "tls", CreatedBy: "test", DeviceIDs: ids(1, devices), Window: 10}, nil)
	require.NoError(t, err)

	waitFor(t, time.Minute, "devices in progress", func() bool { return f.states(t, job.ID)["in_progress"] >= 10 })
	require.NoError(t, f.jobs.Halt(ctx, job.ID))
	progress := f.wait(t, job.ID, 2*time.Minute)

	assert.Equal(t, "halted", progress.Status)
	states := f.states(t, job.ID)
	assert.Zero(t, states["pending"]+states["in_progress"], "every item has an outcome: %v", states)
	assert.GreaterOrEqual(t, states["halted"], devices-10, "devices not started, and those cancelled, are halted: %v", states)
	assert.Equal(t, progress.Outcomes.Halted+devices-progress.Outcomes.Done(), states["halted"], "the workflow counted the devices it cancelled")
	var status string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT status FROM jobs WHERE id = $1`, job.ID).Scan(&status))
	assert.Equal(t, "halted", status)
}
