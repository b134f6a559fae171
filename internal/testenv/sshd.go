package testenv

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHD is a real OpenSSH server (Debian's openssh-server) started for a test
// on a loopback port, with its own host key, an authorized client key for
// root, and a password login user.
type SSHD struct {
	// Address is the device address of the server: ssh://127.0.0.1:port.
	Address string
	// ClientKey is the OpenSSH private key authorized for root.
	ClientKey string
	// PasswordUser and Password log in with a password.
	PasswordUser, Password string

	t       testing.TB
	dir     string
	addr    string
	process *Process
}

// sshTestUser is the password login user, created on first use.
const sshTestUser = "certfleet-sshtest"

// StartSSHD starts an OpenSSH server for the test.
func StartSSHD(t testing.TB) *SSHD {
	t.Helper()
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		if sshd, err = exec.LookPath("/usr/sbin/sshd"); err != nil {
			unavailable(t, "OpenSSH server (Debian's openssh-server; `make test` installs it)", err)
		}
	}
	if os.Geteuid() != 0 {
		unavailable(t, "root (sshd and the password login user need it)", errors.New("the test is not running as root"))
	}
	s := &SSHD{t: t, dir: t.TempDir(), PasswordUser: sshTestUser}
	s.Password = passwordOfTestUser(t)
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("sshd privilege separation directory: %v", err)
	}
	clientKey := writeKey(t, filepath.Join(s.dir, "client_key"))
	s.ClientKey = string(clientKey.private)
	if err := os.WriteFile(filepath.Join(s.dir, "authorized_keys"), clientKey.authorized, 0o600); err != nil {
		t.Fatal(err)
	}
	s.NewHostKey()
	s.addr = FreeAddr(t)
	s.Address = "ssh://" + s.addr
	_, port, _ := net.SplitHostPort(s.addr)
	config := strings.Join([]string{
		"ListenAddress 127.0.0.1", "Port " + port,
		"HostKey " + filepath.Join(s.dir, "host_key"),
		"AuthorizedKeysFile " + filepath.Join(s.dir, "authorized_keys"),
		"PidFile " + filepath.Join(s.dir, "sshd.pid"),
		"StrictModes no", "UsePAM no", "PasswordAuthentication yes", "KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password", "AllowUsers root " + sshTestUser, "LogLevel VERBOSE",
	}, "\n") + "\n"
	configPath := filepath.Join(s.dir, "sshd_config")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	s.process = Run(t, exec.Command(sshd, "-D", "-e", "-f", configPath))
	s.waitReady()
	return s
}

// Addr is the server's host:port.
func (s *SSHD) Addr() string { return s.addr }

// NewHostKey gives the server a new host key, as a replaced device has; a
// running server takes it on Restart.
func (s *SSHD) NewHostKey() {
	writeKey(s.t, filepath.Join(s.dir, "host_key"))
}

// Restart restarts the server, e.g. to present a new host key.
func (s *SSHD) Restart() {
	s.t.Helper()
	cmd := s.process.Cmd
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	s.process = Run(s.t, exec.Command(cmd.Path, cmd.Args[1:]...))
	s.waitReady()
}

// waitReady waits until the server greets with its SSH banner.
func (s *SSHD) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if conn, err := net.DialTimeout("tcp", s.addr, time.Second); err == nil {
			banner := make([]byte, 4)
			_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, err = conn.Read(banner)
			conn.Close()
			if err == nil && string(banner) == "SSH-" {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("sshd did not start on %s:\n%s", s.addr, s.process.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type sshKey struct{ private, authorized []byte }

func writeKey(t testing.TB, path string) sshKey {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(key, "certfleet test")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	private := pem.EncodeToMemory(block)
	if err := os.WriteFile(path, private, 0o600); err != nil {
		t.Fatal(err)
	}
	return sshKey{private: private, authorized: ssh.MarshalAuthorizedKey(signer.PublicKey())}
}

// passwordOfTestUser creates the password login user once per machine and
// returns its password, kept in a root-only file so that test packages
// running at once agree on it.
func passwordOfTestUser(t testing.TB) string {
	t.Helper()
	const file = "/var/lib/certfleet-test/sshtest-password"
	if data, err := os.ReadFile(file); err == nil {
		if _, err := user.Lookup(sshTestUser); err == nil {
			return strings.TrimSpace(string(data))
		}
	}
	if _, err := user.Lookup(sshTestUser); err != nil {
		out, err := exec.Command("useradd", "--system", "--shell", "/bin/sh", "--home-dir", "/tmp", "--no-create-home", sshTestUser).CombinedOutput()
		if err != nil && !bytes.Contains(out, []byte("already exists")) {
			t.Fatalf("create user %s: %v: %s", sshTestUser, err, out)
		}
	}
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	password := hex.EncodeToString(raw)
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(data)) // another package set it
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chpasswd := exec.Command("chpasswd")
	chpasswd.Stdin = strings.NewReader(sshTestUser + ":" + password + "\n")
	if out, err := chpasswd.CombinedOutput(); err != nil {
		os.Remove(file)
		t.Fatalf("set password of %s: %v: %s", sshTestUser, err, out)
	}
	if _, err := f.WriteString(password + "\n"); err != nil {
		t.Fatal(err)
	}
	return password
}

// SSHHost is a "device" behind an SSHD: a throwaway root directory holding
// its key and certificate, and a TLS service (openssl s_server) that serves
// them, restarted by the recipe's reload command.
type SSHHost struct {
	Root    string
	TLSAddr string
	t       testing.TB
}

// NewSSHHost makes a device root owned by owner (a user name).
func NewSSHHost(t testing.TB, owner string) *SSHHost {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		unavailable(t, "openssl", err)
	}
	root, err := os.MkdirTemp("", "certfleet-sshhost-")
	if err != nil {
		t.Fatal(err)
	}
	h := &SSHHost{Root: root, TLSAddr: FreeAddr(t), t: t}
	t.Cleanup(func() {
		if pid, err := os.ReadFile(filepath.Join(root, "run", "s_server.pid")); err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(string(pid))); err == nil {
				if p, err := os.FindProcess(n); err == nil {
					_ = p.Kill()
				}
			}
		}
		os.RemoveAll(root)
	})
	for _, dir := range []string{"etc/ssl/private", "etc/ssl/certs", "run"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	_, port, _ := net.SplitHostPort(h.TLSAddr)
	reload := fmt.Sprintf(`#!/bin/sh
# Restarts the device's TLS service on its files; fails, as nginx -t would,
# when the run/fail-reload marker exists.
root=%q
if [ -e "$root/run/fail-reload" ]; then echo "simulated reload failure" >&2; exit 1; fi
openssl x509 -noout -in "$root/etc/ssl/certs/device.pem" || exit 1
if [ -f "$root/run/s_server.pid" ]; then kill "$(cat "$root/run/s_server.pid")" 2>/dev/null; fi
setsid openssl s_server -quiet -accept %s -cert "$root/etc/ssl/certs/device.pem" -key "$root/etc/ssl/private/device.key" -www </dev/null >/dev/null 2>&1 &
echo $! > "$root/run/s_server.pid"
`, root, port)
	if err := os.WriteFile(filepath.Join(root, "reload"), []byte(reload), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chown", "-R", owner, root).CombinedOutput(); err != nil {
		t.Fatalf("chown %s: %v: %s", root, err, out)
	}
	return h
}

// Settings are the ssh driver settings of this host: its recipe for TLS
// certificates, reloading the TLS service.
func (h *SSHHost) Settings() string {
	return fmt.Sprintf(`{"recipes":{"tls":{"key_path":%q,"cert_path":%q,"reload":["sh",%q]}}}`,
		filepath.Join(h.Root, "etc/ssl/private/device.key"), filepath.Join(h.Root, "etc/ssl/certs/device.pem"), filepath.Join(h.Root, "reload"))
}

// FailReload makes the reload command fail, or work again.
func (h *SSHHost) FailReload(fail bool) {
	marker := filepath.Join(h.Root, "run", "fail-reload")
	if fail {
		_ = os.WriteFile(marker, nil, 0o644)
	} else {
		_ = os.Remove(marker)
	}
}

// Served waits until the TLS service serves want (checked with openssl
// s_client) and fails the test if it does not within a few seconds.
func (h *SSHHost) Served(want *x509.Certificate) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last string
	for {
		out, err := exec.Command("openssl", "s_client", "-connect", h.TLSAddr, "-showcerts").CombinedOutput()
		if err == nil {
			if block, _ := pem.Decode(out); block != nil && bytes.Equal(block.Bytes, want.Raw) {
				return
			}
		}
		last = string(out)
		if time.Now().After(deadline) {
			h.t.Fatalf("the TLS service on %s does not serve certificate %s; openssl s_client said:\n%s", h.TLSAddr, want.SerialNumber.Text(16), last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
