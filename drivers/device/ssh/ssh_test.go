package ssh_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/credentials/secret"
	"github.com/certfleet/certfleet/drivers/device"
	sshdriver "github.com/certfleet/certfleet/drivers/device/ssh"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/pki"
)

// rig is a device on a real OpenSSH server and what a test needs to renew it.
type rig struct {
	t      *testing.T
	sshd   *testenv.SSHD
	host   *testenv.SSHHost
	ca     *testpki.CA
	driver *sshdriver.Driver
	pins   *testenv.MemPins
	dev    device.Device
}

func newRig(t *testing.T, login string) *rig {
	sshd := testenv.StartSSHD(t)
	r := &rig{t: t, sshd: sshd, ca: testpki.NewCA(t, "certfleet test root"), pins: &testenv.MemPins{}}
	r.driver = sshdriver.New(r.pins, 20*time.Second)
	switch login {
	case "key":
		r.host = testenv.NewSSHHost(t, "root")
		r.dev.Credential = secret.Secret{Kind: secret.SSHKey, Value: sshd.ClientKey}
	case "password":
		r.host = testenv.NewSSHHost(t, sshd.PasswordUser)
		r.dev.Credential = secret.Secret{Kind: secret.SSHPassword, Username: sshd.PasswordUser, Value: sshd.Password}
	}
	r.dev.ID, r.dev.Address, r.dev.Settings = "gw-ssh-1", sshd.Address, []byte(r.host.Settings())
	return r
}

// device is the device as the next call sees it: with the pin saved so far.
func (r *rig) device() device.Device {
	dev := r.dev
	dev.TLSPin = r.pins.Get(dev.ID)
	return dev
}

// renew makes a CSR on the device, issues it and installs it.
func (r *rig) renew(subject pki.CSRSubject, key pki.KeySpec) (*x509.Certificate, error) {
	r.t.Helper()
	ctx := context.Background()
	der, err := r.driver.GenerateCSR(ctx, r.device(), pki.CSRRequest{
		CertType: pki.CertTypeTLS, Key: key, Subject: subject,
		SANs: pki.CSRSANs{DNS: []string{"gw-ssh-1.example.net"}, IP: []string{"127.0.0.1"}},
	})
	if err != nil {
		return nil, err
	}
	csr, err := pki.ParseCSR(der)
	require.NoError(r.t, err)
	leaf := r.ca.IssueCSR(r.t, csr)
	return leaf, r.driver.Install(ctx, r.device(), pki.CertTypeTLS, []*x509.Certificate{leaf, r.ca.Cert})
}

func (r *rig) current() *x509.Certificate {
	r.t.Helper()
	cert, err := r.driver.Current(context.Background(), r.device(), pki.CertTypeTLS)
	require.NoError(r.t, err)
	return cert
}

func TestRenewOverKeyLogin(t *testing.T) {
	r := newRig(t, "key")
	assert.Nil(t, r.current(), "a device without a certificate file holds none")
	assert.Len(t, r.pins.Get(r.dev.ID), 32, "the host key was pinned on first contact")

	leaf, err := r.renew(pki.CSRSubject{CommonName: "gw-ssh-1", Organization: "Example"}, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	require.NoError(t, err)
	assert.True(t, leaf.Equal(r.current()), "Current reads the live certificate")
	r.host.Served(leaf)

	keyFile := filepath.Join(r.host.Root, "etc/ssl/private/device.key")
	info, err := os.Stat(keyFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the key is private")
	keyPub, err := exec.Command("openssl", "pkey", "-in", keyFile, "-pubout").Output()
	require.NoError(t, err)
	certPub, err := exec.Command("openssl", "x509", "-noout", "-pubkey", "-in", filepath.Join(r.host.Root, "etc/ssl/certs/device.pem")).Output()
	require.NoError(t, err)
	assert.Equal(t, string(certPub), string(keyPub), "the live key is the certificate's")
	leftovers, _ := filepath.Glob(filepath.Join(r.host.Root, "etc/ssl/*/*.certfleet-*"))
	assert.Empty(t, leftovers, "no pending, new or previous files remain")

	certInfo, err := os.Stat(filepath.Join(r.host.Root, "etc/ssl/certs/device.pem"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), certInfo.Mode().Perm(), "a new certificate file is readable")

	// An RSA renewal replaces it, keeping the key file's mode (a service may
	// read it through its group), and a retried install of the same chain
	// finds nothing pending: it refuses rather than installing twice.
	require.NoError(t, os.Chmod(keyFile, 0o640))
	second, err := r.renew(pki.CSRSubject{CommonName: "gw-ssh-1"}, pki.KeySpec{Algorithm: "rsa", Size: 2048})
	require.NoError(t, err)
	r.host.Served(second)
	info, err = os.Stat(keyFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), info.Mode().Perm(), "the key file keeps its mode")
	err = r.driver.Install(context.Background(), r.device(), pki.CertTypeTLS, []*x509.Certificate{second, r.ca.Cert})
	require.Error(t, err)
	assert.True(t, device.IsPermanent(err), "%v", err)
	assert.Contains(t, err.Error(), "a new CSR is needed")
	assert.True(t, second.Equal(r.current()))
}

func TestRenewOverPasswordLogin(t *testing.T) {
	r := newRig(t, "password")
	leaf, err := r.renew(pki.CSRSubject{CommonName: "gw-ssh-1"}, pki.KeySpec{Algorithm: "ecdsa", Size: 384})
	require.NoError(t, err)
	assert.True(t, leaf.Equal(r.current()))
	r.host.Served(leaf)

	wrong := r.dev
	wrong.Credential.Value = "not-the-password"
	r.dev = wrong
	_, err = r.driver.GenerateCSR(context.Background(), r.device(), pki.CSRRequest{CertType: pki.CertTypeTLS, Key: pki.KeySpec{Algorithm: "ecdsa", Size: 256}, Subject: pki.CSRSubject{CommonName: "x"}})
	require.Error(t, err)
	assert.True(t, device.IsPermanent(err), "a refused credential will not be accepted on retry: %v", err)
	assert.NotContains(t, err.Error(), "not-the-password")
}

func TestFailingReloadRollsBack(t *testing.T) {
	r := newRig(t, "key")
	first, err := r.renew(pki.CSRSubject{CommonName: "gw-ssh-1"}, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	require.NoError(t, err)
	r.host.Served(first)

	r.host.FailReload(true)
	_, err = r.renew(pki.CSRSubject{CommonName: "gw-ssh-1"}, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	require.Error(t, err)
	assert.True(t, device.IsPermanent(err), "%v", err)
	assert.Contains(t, err.Error(), "previous certificate and key restored")
	assert.True(t, first.Equal(r.current()), "the previous certificate is back in place")
	r.host.Served(first)
	keyPub, err := exec.Command("openssl", "pkey", "-in", filepath.Join(r.host.Root, "etc/ssl/private/device.key"), "-pubout").Output()
	require.NoError(t, err)
	certPub, err := exec.Command("openssl", "x509", "-noout", "-pubkey", "-in", filepath.Join(r.host.Root, "etc/ssl/certs/device.pem")).Output()
	require.NoError(t, err)
	assert.Equal(t, string(certPub), string(keyPub), "the previous key is back with its certificate")

	// Once the service reloads again, the pending key is still there: the
	// same certificate installs without a new CSR.
	r.host.FailReload(false)
	leaf, err := r.renew(pki.CSRSubject{CommonName: "gw-ssh-1"}, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	require.NoError(t, err)
	r.host.Served(leaf)
}

// TestInterruptedInstallIsRepaired: a try that died between swapping the key
// and the certificate left backups and a live pair that does not match; the
// next try puts the backups back before it installs.
func TestInterruptedInstallIsRepaired(t *testing.T) {
	r := newRig(t, "key")
	first, err := r.renew(pki.CSRSubject{CommonName: "gw-ssh-1"}, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	require.NoError(t, err)
	keyFile := filepath.Join(r.host.Root, "etc/ssl/private/device.key")
	certFile := filepath.Join(r.host.Root, "etc/ssl/certs/device.pem")
	for _, f := range []string{keyFile, certFile} {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(f+".certfleet-prev", data, 0o600))
	}
	// The dead try had moved a new key in.
	out, err := exec.Command("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyFile).CombinedOutput()
	require.NoError(t, err, string(out))

	r.host.FailReload(true)
	_, err = r.renew(pki.CSRSubject{CommonName: "gw-ssh-1"}, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "previous certificate and key restored")
	assert.True(t, first.Equal(r.current()))
	keyPub, err := exec.Command("openssl", "pkey", "-in", keyFile, "-pubout").Output()
	require.NoError(t, err)
	certPub, err := exec.Command("openssl", "x509", "-noout", "-pubkey", "-in", certFile).Output()
	require.NoError(t, err)
	assert.Equal(t, string(certPub), string(keyPub), "the repaired pair matches")
}

// TestOverlappingInstallWaits: while another install holds the device's
// lock the install is transient; a lock older than five minutes is stale.
func TestOverlappingInstallWaits(t *testing.T) {
	r := newRig(t, "key")
	lock := filepath.Join(r.host.Root, "etc/ssl/private/device.key.certfleet-lock")
	require.NoError(t, os.Mkdir(lock, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(lock, "since"), []byte(fmt.Sprint(time.Now().Unix())), 0o600))
	_, err := r.renew(pki.CSRSubject{CommonName: "gw-ssh-1"}, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	require.Error(t, err)
	assert.False(t, device.IsPermanent(err), "another install running is worth another try: %v", err)
	assert.Contains(t, err.Error(), "another install is running")
	assert.Nil(t, r.current(), "nothing was installed")

	require.NoError(t, os.WriteFile(filepath.Join(lock, "since"), []byte(fmt.Sprint(time.Now().Add(-10*time.Minute).Unix())), 0o600))
	leaf, err := r.renew(pki.CSRSubject{CommonName: "gw-ssh-1"}, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	require.NoError(t, err)
	assert.True(t, leaf.Equal(r.current()))
	assert.NoDirExists(t, lock, "the lock goes with the install")
}

func TestChangedHostKeyIsRefused(t *testing.T) {
	r := newRig(t, "key")
	require.Nil(t, r.current())
	r.sshd.NewHostKey()
	r.sshd.Restart()
	_, err := r.driver.Current(context.Background(), r.device(), pki.CertTypeTLS)
	require.Error(t, err)
	assert.True(t, device.IsPermanent(err), "%v", err)
	assert.Contains(t, err.Error(), "host key does not match its pin")
}

func TestHostileValuesStayText(t *testing.T) {
	r := newRig(t, "key")
	marker := fmt.Sprintf("/tmp/cf%d", time.Now().UnixNano()%1e6) // short: a CN holds 64 characters
	t.Cleanup(func() { os.Remove(marker) })
	hostile := "x';touch " + marker + ";'$(touch " + marker + ")`id` \"/+=\\"
	leaf, err := r.renew(pki.CSRSubject{CommonName: hostile, Organization: "O'Brien & Sons $(id)"}, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	require.NoError(t, err)
	assert.Equal(t, hostile, leaf.Subject.CommonName, "the subject reached openssl as text")
	assert.Equal(t, []string{"O'Brien & Sons $(id)"}, leaf.Subject.Organization)
	assert.NoFileExists(t, marker, "nothing in a device value ran on the device")

	_, err = r.driver.GenerateCSR(context.Background(), r.device(), pki.CSRRequest{
		CertType: pki.CertTypeTLS, Key: pki.KeySpec{Algorithm: "ecdsa", Size: 256},
		Subject: pki.CSRSubject{CommonName: "x"}, SANs: pki.CSRSANs{DNS: []string{"a.example,IP:10.0.0.1"}},
	})
	require.Error(t, err)
	assert.True(t, device.IsPermanent(err))
}

func TestSettings(t *testing.T) {
	for name, raw := range map[string]string{
		"empty":            ``,
		"no recipe":        `{"recipes":{}}`,
		"unknown type":     `{"recipes":{"ssh":{"key_path":"/k","cert_path":"/c"}}}`,
		"relative path":    `{"recipes":{"tls":{"key_path":"k.pem","cert_path":"/c"}}}`,
		"path with space":  `{"recipes":{"tls":{"key_path":"/etc/my key","cert_path":"/c"}}}`,
		"path with dotdot": `{"recipes":{"tls":{"key_path":"/etc/../k","cert_path":"/c"}}}`,
		"same file":        `{"recipes":{"tls":{"key_path":"/k","cert_path":"/k"}}}`,
		"unknown field":    `{"recipes":{"tls":{"key_path":"/k","cert_path":"/c","script":"rm -rf /"}}}`,
		"newline reload":   `{"recipes":{"tls":{"key_path":"/k","cert_path":"/c","reload":["a\nb"]}}}`,
	} {
		assert.Error(t, (&sshdriver.Driver{}).CheckSettings([]byte(raw)), name)
	}
	assert.NoError(t, (&sshdriver.Driver{}).CheckSettings([]byte(`{"recipes":{"tls":{"key_path":"/etc/uhttpd.key","cert_path":"/etc/uhttpd.crt","reload":["/etc/init.d/uhttpd","restart"]}}}`)))
	for _, bad := range []string{"https://h", "ssh://root@h", "ssh://h:0", "ssh://h/x", "ssh://:22"} {
		_, err := sshdriver.ParseAddress(bad)
		assert.Error(t, err, bad)
	}
	addr, err := sshdriver.ParseAddress("ssh://gw.example:2222")
	require.NoError(t, err)
	assert.Equal(t, "gw.example:2222", addr)
}

// TestDeviceTrust: the CA certificates a profile asks the device to trust
// go to the recipe's trust_path with the certificate; a recipe without one
// refuses rather than leave the device without them.
func TestDeviceTrust(t *testing.T) {
	r := newRig(t, "key")
	radius := testpki.NewCA(t, "RADIUS CA").Cert
	r.dev.Uses = map[string]device.Use{pki.CertTypeTLS: {Trust: []*x509.Certificate{radius}}}
	_, err := r.renew(pki.CSRSubject{CommonName: "gw-ssh-1"}, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	require.Error(t, err)
	assert.True(t, device.IsPermanent(err))
	assert.Contains(t, err.Error(), "no trust_path")

	trustFile := filepath.Join(r.host.Root, "etc/ssl/certs/radius-ca.pem")
	r.dev.Settings = []byte(strings.Replace(r.host.Settings(), `"reload"`, `"trust_path":"`+trustFile+`","reload"`, 1))
	leaf, err := r.renew(pki.CSRSubject{CommonName: "gw-ssh-1"}, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	require.NoError(t, err)
	r.host.Served(leaf)
	data, err := os.ReadFile(trustFile)
	require.NoError(t, err)
	trusted, err := pki.ParseCertificatesPEM(data)
	require.NoError(t, err)
	require.Len(t, trusted, 1)
	assert.True(t, radius.Equal(trusted[0]), "the device trusts the RADIUS CA")
}
