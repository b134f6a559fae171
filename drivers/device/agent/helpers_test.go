package agent_test

import (
	"crypto/sha256"
	"crypto/tls"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/credentials/secret"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	agentCredential = "agent-credential-0123456789abcdef"
	fleetSecret     = "fleet-master-secret-0123456789"
)

var agentSecret = secret.Secret{Kind: secret.Bearer, Value: agentCredential}

// simCredential is what the credential store opens for a simulated device
// under a derived credential.
func simCredential(id string) secret.Secret {
	return secret.Secret{Kind: secret.Bearer, Value: secret.Derive(fleetSecret, id)}
}

// startAgent runs `certfleet agent` with a reload command that logs each
// reload and fails while <dir>/fail-reload exists.
func startAgent(t *testing.T) (url, dir string, proc *testenv.Process) {
	t.Helper()
	dir = t.TempDir()
	addr := testenv.FreeAddr(t)
	reload := `test ! -e "` + dir + `/fail-reload" || { echo "reload refused" >&2; exit 1; }; echo "reloaded $CERTFLEET_CERT_TYPE" >> "` + dir + `/reload.log"`
	cmd := exec.Command(testenv.Binary(t), "agent", "-listen", addr, "-dir", filepath.Join(dir, "store"), "-reload", reload)
	cmd.Env = []string{"CERTFLEET_AGENT_CREDENTIAL=" + agentCredential, "PATH=/usr/bin:/bin"}
	proc = testenv.Run(t, cmd)
	testenv.WaitListening(t, addr, 20*time.Second)
	return "https://" + addr, dir, proc
}

// startSim runs `certfleet devicesim` with count devices.
func startSim(t *testing.T, count int) (string, *testenv.Process) {
	return testenv.DeviceSim(t, count, fleetSecret)
}

func simDevice(base, id string) device.Device {
	return device.Device{ID: id, Address: base + "/devices/" + id, Credential: simCredential(id)}
}

// admin calls the simulator's admin API.
func admin(t *testing.T, base, method, path string, body any) *http.Response {
	t.Helper()
	resp := testenv.SimAdmin(t, base, fleetSecret, method, path, body)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// rawClient is the tests' own HTTPS client; it verifies nothing because the
// tests that use it are about what the server answers.
var rawClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 10 * time.Second}

func insecureClient() *http.Client { return rawClient }

// pinOf fetches the SHA-256 pin of the TLS certificate served at base.
func pinOf(t *testing.T, base string) []byte {
	t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(base, "https://"), &tls.Config{InsecureSkipVerify: true})
	require.NoError(t, err)
	defer conn.Close()
	sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].Raw)
	return sum[:]
}
