package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/internal/testenv"
)

// TestRunScriptStopsEverything starts scripts/run.sh (the body of `make run`)
// in its own process group, with ephemeral ports and a temporary .data, until
// it is ready; then stops it as a supervisor or `timeout` does (SIGTERM to the
// group), or as an impatient user does (two Ctrl-Cs), and checks that no
// process it started is left: neither certfleet nor the Temporal dev server.
func TestRunScriptStopsEverything(t *testing.T) {
	testenv.Tool(t, "temporal")
	for name, stop := range map[string]func(pgid int){
		"SIGTERM to the process group": func(pgid int) { _ = syscall.Kill(-pgid, syscall.SIGTERM) },
		"two Ctrl-Cs": func(pgid int) {
			_ = syscall.Kill(-pgid, syscall.SIGINT)
			time.Sleep(200 * time.Millisecond)
			_ = syscall.Kill(-pgid, syscall.SIGINT)
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.Command("bash", filepath.Join(testenv.RepoRoot(t), "scripts", "run.sh"))
			cmd.Env = append(os.Environ(),
				"DATABASE_URL="+testenv.EmptyDatabase(t), "CERTFLEET_BIN="+testenv.Binary(t),
				"CERTFLEET_DATA_DIR="+t.TempDir(), "CERTFLEET_KEK=", "CERTFLEET_KEK_FILE=",
				"TEMPORAL_PORT="+port(t), "TEMPORAL_UI_PORT="+port(t), "TEMPORAL_ADDRESS=",
				"CERTFLEET_API_ADDR="+testenv.FreeAddr(t), "CERTFLEET_METRICS_ADDR="+testenv.FreeAddr(t), "CERTFLEET_EST_ADDR="+testenv.FreeAddr(t), "CERTFLEET_SCEP_ADDR="+testenv.FreeAddr(t))
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			proc := testenv.Run(t, cmd)
			var started []int
			t.Cleanup(func() { // whatever happened, leave nothing behind
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				for _, pid := range started {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			})
			exited := make(chan struct{})
			go func() { _ = cmd.Wait(); close(exited) }()

			for !strings.Contains(proc.Output(), "certfleet is ready") {
				select {
				case <-exited:
					t.Fatalf("run.sh exited before ready:\n%s", proc.Output())
				case <-ctx.Done():
					t.Fatalf("run.sh not ready in time:\n%s", proc.Output())
				case <-time.After(200 * time.Millisecond):
				}
			}
			started = descendants(cmd.Process.Pid)
			require.GreaterOrEqual(t, len(started), 2, "certfleet and the Temporal dev server run under run.sh")

			stop(cmd.Process.Pid)
			select {
			case <-exited:
			case <-ctx.Done():
				t.Fatalf("run.sh did not stop:\n%s", proc.Output())
			}
			deadline := time.Now().Add(10 * time.Second)
			for _, pid := range started {
				for alive(pid) && time.Now().Before(deadline) {
					time.Sleep(100 * time.Millisecond)
				}
				if alive(pid) {
					cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
					assert.Fail(t, "a process run.sh started outlived it", "pid %d: %s", pid, strings.ReplaceAll(string(cmdline), "\x00", " "))
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			assert.Contains(t, proc.Output(), "stopping")
		})
	}
}

func port(t *testing.T) string {
	addr := testenv.FreeAddr(t)
	return addr[strings.LastIndex(addr, ":")+1:]
}

// descendants lists the processes below pid, read from /proc.
func descendants(pid int) []int {
	parents := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces, so split after ')'.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		parents[ppid] = append(parents[ppid], child)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range parents[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// alive: the process exists and is not a zombie waiting to be reaped.
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}
