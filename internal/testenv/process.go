package testenv

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

var (
	binaryOnce sync.Once
	binaryDir  string
	binaryErr  error
)

// Binary builds the certfleet binary once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	binaryOnce.Do(func() {
		if binaryDir, binaryErr = os.MkdirTemp("", "certfleet-test-bin-"); binaryErr != nil {
			return
		}
		build := exec.Command("go", "build", "-o", filepath.Join(binaryDir, "certfleet"), "./cmd/certfleet")
		build.Dir = RepoRoot(t)
		var out []byte
		if out, binaryErr = build.CombinedOutput(); binaryErr != nil {
			binaryErr = &buildError{err: binaryErr, output: string(out)}
		}
	})
	if binaryErr != nil {
		t.Fatalf("build certfleet: %v", binaryErr)
	}
	return filepath.Join(binaryDir, "certfleet")
}

type buildError struct {
	err    error
	output string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.output }

// Process is a long-running program started for a test.
type Process struct {
	Cmd    *exec.Cmd
	output *lockedBuffer
}

// Output is what the process has printed so far.
func (p *Process) Output() string { return p.output.String() }

// Run starts cmd, kills it when the test ends, and shows its output if the
// test failed.
func Run(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("output of %s:\n%s", filepath.Base(cmd.Path), out.String())
		}
	})
	return &Process{Cmd: cmd, output: out}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// DeviceSim runs `certfleet devicesim` with count devices whose credentials
// derive from secret, and returns its base URL.
func DeviceSim(t testing.TB, count int, secret string) (string, *Process) {
	t.Helper()
	addr := FreeAddr(t)
	cmd := exec.Command(Binary(t), "devicesim", "-listen", addr, "-devices", strconv.Itoa(count), "-dir", t.TempDir())
	cmd.Env = []string{"CERTFLEET_DEVICESIM_SECRET=" + secret}
	proc := Run(t, cmd)
	WaitListening(t, addr, 20*time.Second)
	return "https://" + addr, proc
}

// simClient is the tests' HTTPS client of devicesim's admin API; it verifies
// nothing because the simulator's certificate is self-signed.
var simClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 10 * time.Second}

// SimAdmin calls devicesim's admin API with body as JSON and fails the test
// on a transport error; the caller closes the response.
func SimAdmin(t testing.TB, base, secret, method, path string, body any) *http.Response {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, base+path, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := simClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}
