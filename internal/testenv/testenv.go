// Package testenv gives integration tests the real dependencies they need, a
// Postgres database of their own and a Temporal dev server, and applies the
// project's rule for a missing dependency: the test fails, saying how to get
// it, unless CERTFLEET_TEST_SKIP_MISSING=1 asks to skip it (never under CI=true).
package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/certfleet/certfleet/internal/freeport"
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
// starts (see freeport).
func FreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	return addr
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
