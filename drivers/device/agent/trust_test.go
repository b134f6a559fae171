package agent_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/drivers/device/agent"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/pki"
)

// TestTrustReachesTheDevice: the CA certificates a device's profile asks it
// to trust travel with the certificate to the agent, which keeps them as
// trust.pem beside it, and to the simulator; a certificate that is no CA is
// refused.
func TestTrustReachesTheDevice(t *testing.T) {
	pool, _ := testenv.Database(t)
	is := newIssuer(t, pool)
	agentURL, agentDir, _ := startAgent(t)
	simURL, _ := startSim(t, 3)
	driver := agent.New(&testenv.MemPins{}, 10*time.Second)
	radius := testpki.NewCA(t, "RADIUS CA")
	uses := map[string]device.Use{pki.CertTypeTLS: {Trust: []*x509.Certificate{radius.Cert}}}

	gw := device.Device{ID: "gw-1", Address: agentURL, Credential: agentSecret, Uses: uses}
	_, err := is.renew(t, driver, gw, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(agentDir, "store", "tls", "current", "trust.pem"))
	require.NoError(t, err)
	trusted, err := pki.ParseCertificatesPEM(data)
	require.NoError(t, err)
	require.Len(t, trusted, 1)
	assert.True(t, radius.Cert.Equal(trusted[0]))

	cam := simDevice(simURL, "sim-00001")
	cam.Uses = uses
	_, err = is.renew(t, driver, cam, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	require.NoError(t, err)
	var state struct {
		Trust map[string][]string `json:"trust"`
	}
	require.NoError(t, json.NewDecoder(admin(t, simURL, http.MethodGet, "/devices/sim-00001", nil).Body).Decode(&state))
	assert.Equal(t, []string{"CN=RADIUS CA"}, state.Trust["tls"])

	notCA, _ := radius.Client(t, "not a CA")
	bad := simDevice(simURL, "sim-00002")
	bad.Uses = map[string]device.Use{pki.CertTypeTLS: {Trust: []*x509.Certificate{notCA}}}
	_, err = is.renew(t, driver, bad, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	require.Error(t, err)
	assert.True(t, device.IsPermanent(err), "%v", err)
	assert.Contains(t, err.Error(), "is not a CA certificate")
	current, err := driver.Current(context.Background(), bad, pki.CertTypeTLS)
	require.NoError(t, err)
	assert.Nil(t, current, "nothing was installed")
}
