// Package testenv gives integration tests the real dependencies they need, a
// Postgres database of their own and a Temporal dev server, and applies the
// project's rule for a missing dependency: the test fails, saying how to get
// it, unless CERTFLEET_TEST_SKIP_MISSING=1 asks to skip it (never under CI=true).
package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Main runs a test package's tests and then removes what testenv created for the
// package. Call it from TestMain in every package that uses Database.
func Main(m *testing.M) {
	code := m.Run()
	dropTemplate()
	if binaryDir != "" {
		_ = os.RemoveAll(binaryDir)
	}
	os.Exit(code)
}

// unavailable reports a missing dependency. The test fails, saying how to get
// the dependency, unless the user explicitly opted out with
// CERTFLEET_TEST_SKIP_MISSING=1 (never under CI=true): a test that silently
// skips looks like a test that passed.
func unavailable(t testing.TB, dependency string, err error) {
	t.Helper()
	if os.Getenv("CERTFLEET_TEST_SKIP_MISSING") == "1" && os.Getenv("CI") != "true" {
		t.Skipf("%s unavailable, skipping (CERTFLEET_TEST_SKIP_MISSING=1): %v", dependency, err)
	}
	t.Fatalf("%s is required and is unavailable: %v\n"+
		"  `make test` starts Debian's local Postgres cluster and builds bin/temporal; see README's Prerequisites.\n"+
		"  To skip the tests that need it instead, set CERTFLEET_TEST_SKIP_MISSING=1.", dependency, err)
}

// RepoRoot returns the repository's top folder, found by walking up from the
// test's working directory to the go.mod of module certfleet.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("working directory: %v", err)
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && isCertfleetModule(data) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no certfleet go.mod above the test's directory")
		}
		dir = parent
	}
}

func isCertfleetModule(goMod []byte) bool {
	var module string
	_, err := fmt.Sscanf(string(goMod), "module %s", &module)
	return err == nil && module == "github.com/certfleet/certfleet"
}

// FreeAddr is a loopback address with a free port, for a process the test
// starts. Ports are drawn below Linux's ephemeral range (32768-60999): a port
// from that range, once released, may be taken at once as the source port of
// any outgoing connection on the machine, and the process then fails to
// listen on it. Each process walks the range from its own random start and
// never hands out a port twice, so two addresses a test asks for in a row
// cannot be the same (a random draw could, and once gave the API the
// Temporal server's port).
func FreeAddr(t testing.TB) string {
	t.Helper()
	freePorts.Lock()
	defer freePorts.Unlock()
	if freePorts.next == 0 {
		freePorts.next = rand.IntN(freePortCount)
	}
	for range freePortCount {
		port := freePortBase + freePorts.next%freePortCount
		freePorts.next++
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return l.Addr().String()
	}
	t.Fatalf("find a free port: none free in %d-%d", freePortBase, freePortBase+freePortCount-1)
	return ""
}

const freePortBase, freePortCount = 20000, 12000

var freePorts struct {
	sync.Mutex
	next int
}

// WaitListening waits until something accepts connections at addr.
func WaitListening(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s after %s: %v", addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Unavailable fails the test for a missing dependency, or skips it where
// CERTFLEET_TEST_SKIP_MISSING=1 allows (never under CI=true).
func Unavailable(t testing.TB, dependency string, err error) {
	t.Helper()
	unavailable(t, dependency, err)
}
