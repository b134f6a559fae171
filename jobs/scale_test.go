package jobs_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/jobs"
)

// TestScale is a measurement, not part of `make test`: it runs one job of
// CERTFLEET_SCALE_DEVICES devices (e.g. 5000) with a window of 200 and
// reports wall time, devices per second and the longest history of any run
// of the job workflow, which must stay under 10,000 events.
//
//	CERTFLEET_SCALE_DEVICES=5000 go test -run TestScale -v -timeout 30m ./jobs
func TestScale(t *testing.T) {
	devices, _ := strconv.Atoi(os.Getenv("CERTFLEET_SCALE_DEVICES"))
	if devices <= 0 {
		t.Skip("a measurement: set CERTFLEET_SCALE_DEVICES to run it")
	}
	ctx := context.Background()
	f := newFleet(t, devices)
	f.assign(t, f.normal, 1, devices)
	f.startWorker(t)
	start := time.Now()
	job, err := f.jobs.Create(ctx, jobs.Spec{Name: "scale", CertType: "tls", CreatedBy: "test", DeviceIDs: ids(1, devices), Window: 200}, nil)
	require.NoError(t, err)
	progress := f.wait(t, job.ID, 2*time.Hour)
	wall := time.Since(start)
	runs, longest := historyLengths(t, f, job.ID)

	assert.Equal(t, devices, progress.Outcomes.RevokeNA)
	assert.Less(t, longest, int64(10_000))
	t.Logf("%d devices, window 200: wall %s, %.1f devices/s; %d runs of the job workflow, longest history %d events",
		devices, wall.Round(time.Second), float64(devices)/wall.Seconds(), runs, longest)
}
