package axis_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/credentials/secret"
	"github.com/certfleet/certfleet/devicesim"
	axissim "github.com/certfleet/certfleet/devicesim/axis"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/pki"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const fleetSecret = "fleet-master-secret-0123456789"

// simEnv is a simulated fleet with the Axis mode on an ephemeral TLS port.
type simEnv struct {
	fleet *devicesim.Fleet
	sim   *axissim.Simulator
	srv   *httptest.Server
}

func newSim(t *testing.T) *simEnv {
	t.Helper()
	fleet := devicesim.New(50, "cam-", fleetSecret)
	sim := axissim.New()
	srv := httptest.NewTLSServer(fleet.Handler(sim))
	t.Cleanup(srv.Close)
	return &simEnv{fleet: fleet, sim: sim, srv: srv}
}

func (e *simEnv) device(id string) device.Device {
	user, password := e.fleet.CameraAccount()
	return device.Device{ID: id, Address: e.srv.URL + "/axis/" + id, Credential: secret.Secret{Kind: secret.Password, Username: user, Value: password}}
}

// setFaults sets a device's faults over the fleet's admin API.
func (e *simEnv) setFaults(t *testing.T, id string, faults devicesim.Faults) {
	t.Helper()
	body, err := json.Marshal(faults)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPut, e.srv.URL+"/devices/"+id+"/faults", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+fleetSecret)
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func (e *simEnv) state(t *testing.T, id string) axissim.State {
	t.Helper()
	st, err := e.sim.State(id)
	require.NoError(t, err)
	return st
}

// pinOf is the SHA-256 pin of the simulator's TLS certificate.
func (e *simEnv) pinOf() []byte {
	sum := sha256.Sum256(e.srv.Certificate().Raw)
	return sum[:]
}

func csrRequest(id, certType string, key pki.KeySpec) pki.CSRRequest {
	return pki.CSRRequest{
		CertType: certType, Key: key,
		Subject: pki.CSRSubject{CommonName: id, Organization: "Example"},
		SANs:    pki.CSRSANs{DNS: []string{id + ".example.net"}},
	}
}

var p256 = pki.KeySpec{Algorithm: "ecdsa", Size: 256}
