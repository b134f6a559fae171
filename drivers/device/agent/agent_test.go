package agent_test

import (
	"context"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/drivers/device/agent"
	"github.com/certfleet/certfleet/drivers/device/tlspin"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/pki"
)

// issuer takes devices through CSR, issuance and install.
type issuer struct{ *testenv.Issuer }

func newIssuer(t *testing.T, pool *pgxpool.Pool) issuer {
	return issuer{testenv.NewIssuer(t, pool, "gateway")}
}

// renew takes a device through CSR, issuance and install, and returns the leaf.
func (is issuer) renew(t *testing.T, d device.Driver, dev device.Device, key pki.KeySpec) (*x509.Certificate, error) {
	t.Helper()
	ctx := context.Background()
	der, err := d.GenerateCSR(ctx, dev, pki.CSRRequest{
		CertType: pki.CertTypeTLS, Key: key,
		Subject: pki.CSRSubject{CommonName: dev.ID}, SANs: pki.CSRSANs{DNS: []string{dev.ID + ".example.net"}},
	})
	require.NoError(t, err)
	chain := is.Issue(t, dev.ID, der)
	return chain[0], d.Install(ctx, dev, pki.CertTypeTLS, chain[:2])
}

func TestAgentAndSimulatorEndToEnd(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	is := newIssuer(t, pool)
	agentURL, agentDir, _ := startAgent(t)
	simURL, _ := startSim(t, 100)
	q := store.New(pool)
	for _, id := range []string{"gw-1", "sim-00042"} {
		_, err := q.CreateDevice(ctx, store.CreateDeviceParams{ID: id, Name: id, DeviceType: "gateway", Mode: "OPERATIONAL", Driver: "agent"})
		require.NoError(t, err)
	}
	driver := agent.New(tlspin.DBPins{Pool: pool}, 10*time.Second)
	devices := []device.Device{
		{ID: "gw-1", Address: agentURL, Credential: agentSecret},
		simDevice(simURL, "sim-00042"),
	}
	for _, dev := range devices {
		none, err := driver.Current(ctx, dev, pki.CertTypeTLS)
		require.NoError(t, err)
		assert.Nil(t, none, "%s holds no certificate yet", dev.ID)

		leaf, err := is.renew(t, driver, dev, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
		require.NoError(t, err, dev.ID)
		current, err := driver.Current(ctx, dev, pki.CertTypeTLS)
		require.NoError(t, err)
		assert.True(t, leaf.Equal(current), "%s holds the new certificate", dev.ID)

		stored, err := q.GetDevice(ctx, dev.ID)
		require.NoError(t, err)
		assert.Len(t, stored.TlsPin, 32, "%s was pinned on first use", dev.ID)
	}

	// The agent's files: private, reloaded, and a chain openssl accepts.
	current := filepath.Join(agentDir, "store", "tls", "current")
	for _, name := range []string{"cert.pem", "chain.pem", "fullchain.pem", "key.pem"} {
		info, err := os.Stat(filepath.Join(current, name))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), name)
	}
	log, err := os.ReadFile(filepath.Join(agentDir, "reload.log"))
	require.NoError(t, err)
	assert.Equal(t, "reloaded tls\n", string(log))
	_, root := is.CA.Certificates()
	rootPEM := filepath.Join(agentDir, "root.pem")
	require.NoError(t, os.WriteFile(rootPEM, pki.EncodeCertificatesPEM(root), 0o600))
	out, err := exec.Command("openssl", "verify", "-CAfile", rootPEM, "-untrusted", filepath.Join(current, "chain.pem"), filepath.Join(current, "cert.pem")).CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), ": OK")
	keyOut, err := exec.Command("openssl", "pkey", "-in", filepath.Join(current, "key.pem"), "-pubout").Output()
	require.NoError(t, err)
	certOut, err := exec.Command("openssl", "x509", "-in", filepath.Join(current, "cert.pem"), "-noout", "-pubkey").Output()
	require.NoError(t, err)
	assert.Equal(t, string(certOut), string(keyOut), "the key on disk is the certificate's")

	// A failing reload puts the previous certificate back.
	before, err := os.ReadFile(filepath.Join(current, "cert.pem"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(agentDir, "fail-reload"), nil, 0o600))
	_, err = is.renew(t, driver, devices[0], pki.KeySpec{Algorithm: "rsa", Size: 2048})
	require.Error(t, err)
	assert.True(t, device.IsPermanent(err), "a device that rejects a certificate will not change its mind: %v", err)
	assert.Contains(t, err.Error(), "install_rejected")
	after, err := os.ReadFile(filepath.Join(current, "cert.pem"))
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after), "the previous certificate is back in place")
	held, err := driver.Current(ctx, devices[0], pki.CertTypeTLS)
	require.NoError(t, err)
	assert.Equal(t, strings.TrimSpace(string(before)), strings.TrimSpace(string(pki.EncodeCertificatesPEM(held))))
}
