package agent_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/drivers/device/agent"
	"github.com/certfleet/certfleet/internal/testenv"
)

// TestSimulatorAtScale: one devicesim process serves 10,000 virtual devices,
// each with a real key and CSR, within 500 MB of resident memory, and 200
// concurrent CSR requests all succeed.
func TestSimulatorAtScale(t *testing.T) {
	const devices, concurrent, limitMB = 10_000, 200, 500
	simURL, proc := startSim(t, devices)
	driver := agent.New(&testenv.MemPins{}, 30*time.Second)
	pin := pinOf(t, simURL)
	dev := func(n int) device.Device {
		d := simDevice(simURL, fmt.Sprintf("sim-%05d", n))
		d.TLSPin = pin
		return d
	}
	ctx := context.Background()

	start := time.Now()
	var failed atomic.Int64
	work := make(chan int)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for n := range work {
				if _, err := driver.GenerateCSR(ctx, dev(n), ecRequest); err != nil {
					failed.Add(1)
					t.Errorf("device %d: %v", n, err)
				}
			}
		})
	}
	for n := 1; n <= devices; n++ {
		work <- n
	}
	close(work)
	wg.Wait()
	require.Zero(t, failed.Load())
	t.Logf("%d devices made a key and CSR in %s (%.0f/s)", devices, time.Since(start).Round(time.Millisecond), devices/time.Since(start).Seconds())

	start = time.Now()
	errs := make([]error, concurrent)
	for i := range concurrent {
		wg.Go(func() { _, errs[i] = driver.GenerateCSR(ctx, dev(1+i*(devices/concurrent)), ecRequest) })
	}
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "concurrent request %d", i)
	}
	t.Logf("%d concurrent CSR requests took %s", concurrent, time.Since(start).Round(time.Millisecond))

	peak := peakRSSMB(t, proc.Cmd.Process.Pid)
	t.Logf("devicesim peak RSS: %d MB", peak)
	assert.LessOrEqual(t, peak, limitMB)
}

// peakRSSMB reads a process's peak resident set (VmHWM) from /proc.
func peakRSSMB(t *testing.T, pid int) int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			require.NoError(t, err)
			return kb / 1024
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}
