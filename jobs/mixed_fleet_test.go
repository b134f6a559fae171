package jobs_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/proto"

	"github.com/certfleet/certfleet/credentials"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/devicesim"
	axissim "github.com/certfleet/certfleet/devicesim/axis"
	onvifsim "github.com/certfleet/certfleet/devicesim/onvif"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/inventory"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/workflows"
)

// gateway is an ssh device of the test: a host on a real OpenSSH server.
type gateway struct {
	id   string
	sshd *testenv.SSHD
	host *testenv.SSHHost
}

// addGateway records an ssh device reaching host through sshd with the root
// key, under a gateway profile.
func (f *fleet) addGateway(t *testing.T, id string) gateway {
	t.Helper()
	ctx := context.Background()
	g := gateway{id: id, sshd: testenv.StartSSHD(t), host: testenv.NewSSHHost(t, "root")}
	q := store.New(f.pool)
	cred, err := f.creds.Create(ctx, q, credentials.Spec{Name: "ssh-" + id, Kind: credentials.SSHKey, Secret: g.sshd.ClientKey}, "test")
	require.NoError(t, err)
	settings := strings.Replace(g.host.Settings(), `"reload"`, `"trust_path":"`+g.trustFile()+`","reload"`, 1)
	_, err = q.CreateDevice(ctx, store.CreateDeviceParams{
		ID: id, Name: "Gateway " + id, DeviceType: "gateway", Mode: "OPERATIONAL", Driver: "ssh", Address: g.sshd.Address,
		CredentialID: pgtype.Int8{Int64: cred.ID, Valid: true}, DriverSettings: json.RawMessage(settings),
	})
	require.NoError(t, err)
	profile := f.gatewayProfile(t)
	require.NoError(t, q.AssignProfile(ctx, store.AssignProfileParams{DeviceID: id, CertType: "tls", ProfileID: profile}))
	return g
}

func (f *fleet) gatewayProfile(t *testing.T) int64 {
	t.Helper()
	var id int64
	if f.pool.QueryRow(context.Background(), `SELECT id FROM profiles WHERE name = 'gateways'`).Scan(&id) == nil {
		return id
	}
	row, err := store.New(f.pool).CreateProfile(context.Background(), store.CreateProfileParams{
		Name: "gateways", CertType: "tls", DeviceType: "gateway",
		SubjectRules: json.RawMessage(`[{"attr":"CN","rule":"from_csr","pattern":"gw-[0-9]+"}]`),
		SanRules:     json.RawMessage(`[]`), ExtraAttributes: json.RawMessage(`[]`),
		KeyAlgorithms: json.RawMessage(`[{"algorithm":"ecdsa","sizes":[256]}]`),
		Validity:      90 * 24 * time.Hour, RenewBefore: 30 * 24 * time.Hour, CaDriver: "local",
		CaSettings: json.RawMessage(`{}`), MaxCaWait: 10 * time.Minute, DeviceTrust: string(pki.EncodeCertificatesPEM(f.gatewayTrust(t))),
	})
	require.NoError(t, err)
	return row.ID
}

// gatewayTrust is the CA the gateways' profile asks them to trust (a
// broker's, say), made once per fleet.
func (f *fleet) gatewayTrust(t *testing.T) *x509.Certificate {
	t.Helper()
	if f.trust == nil {
		f.trust = testpki.NewCA(t, "Broker CA").Cert
	}
	return f.trust
}

// makeCamera turns simulated device id into a camera of driver, reached at
// the simulator's path for it with the cameras' password credential.
func (f *fleet) makeCamera(t *testing.T, id, driver, path string) {
	t.Helper()
	ctx := context.Background()
	q := store.New(f.pool)
	var credID int64
	if f.pool.QueryRow(ctx, `SELECT id FROM credentials WHERE name = 'cameras'`).Scan(&credID) != nil {
		username, password := devicesim.CameraAccount(fleetSecret)
		cred, err := f.creds.Create(ctx, q, credentials.Spec{Name: "cameras", Kind: credentials.Password, Username: username, Secret: password}, "test")
		require.NoError(t, err)
		credID = cred.ID
	}
	_, err := f.pool.Exec(ctx, `UPDATE devices SET driver = $2, address = $3, credential_id = $4 WHERE id = $1`,
		id, driver, f.simURL+strings.ReplaceAll(path, "{id}", id), credID)
	require.NoError(t, err)
}

// trustFile is where the gateway's recipe writes the CA certificates its
// profile asks it to trust.
func (g gateway) trustFile() string { return filepath.Join(g.host.Root, "etc/ssl/certs/trusted.pem") }

// factoryCertificate puts a self-signed certificate on the gateway and
// starts its TLS service with it, as a device found in the field has.
func (g gateway) factoryCertificate(t *testing.T) *x509.Certificate {
	t.Helper()
	root := g.host.Root
	out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", filepath.Join(root, "etc/ssl/private/device.key"), "-out", filepath.Join(root, "etc/ssl/certs/device.pem"),
		"-subj", "/CN=factory "+g.id, "-days", "20").CombinedOutput()
	require.NoError(t, err, string(out))
	out, err = exec.Command("sh", filepath.Join(root, "reload")).CombinedOutput()
	require.NoError(t, err, string(out))
	data, err := os.ReadFile(filepath.Join(root, "etc/ssl/certs/device.pem"))
	require.NoError(t, err)
	certs, err := pki.ParseCertificatesPEM(data)
	require.NoError(t, err)
	g.host.Served(certs[0])
	return certs[0]
}

// activeCertificate is the device's newest active certificate in the inventory.
func (f *fleet) activeCertificate(t *testing.T, deviceID string) store.Certificate {
	t.Helper()
	var id int64
	require.NoError(t, f.pool.QueryRow(context.Background(),
		`SELECT id FROM certificates WHERE device_id = $1 AND status = 'active' ORDER BY not_after DESC, id DESC LIMIT 1`, deviceID).Scan(&id))
	row, err := store.New(f.pool).GetCertificate(context.Background(), id)
	require.NoError(t, err)
	return row
}

// verify checks with openssl that cert chains to the built-in CA.
func (f *fleet) verify(t *testing.T, der []byte) {
	t.Helper()
	dir := t.TempDir()
	issuing, root := f.ca.Certificates()
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	for name, data := range map[string][]byte{"root.pem": pki.EncodeCertificatesPEM(root), "issuing.pem": pki.EncodeCertificatesPEM(issuing), "leaf.pem": pki.EncodeCertificatesPEM(cert)} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
	}
	out, err := exec.Command("openssl", "verify", "-CAfile", filepath.Join(dir, "root.pem"), "-untrusted", filepath.Join(dir, "issuing.pem"), filepath.Join(dir, "leaf.pem")).CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), ": OK")
}

// TestMixedFleetJob is the acceptance run of the device drivers: a gateway
// on a real OpenSSH server, found holding a factory certificate, agents, an
// ONVIF camera and an Axis camera from the simulator. Discovery records the gateway's factory certificate;
// the first job puts a certificate from the built-in CA on every device
// (openssl verifies each, and the gateway's TLS service serves its own after
// the reload); the second renews them all again and revokes the first
// ones. No credential appears in any workflow history or job error.
func TestMixedFleetJob(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 4)
	f.assign(t, f.normal, 1, 4)
	f.makeCamera(t, "sim-00003", "onvif", onvifsim.DevicePath)
	f.makeCamera(t, "sim-00004", "axis", axissim.Prefix)
	gw := f.addGateway(t, "gw-00001")
	factory := gw.factoryCertificate(t)
	f.startWorker(t)

	discovery := &inventory.Service{Pool: f.pool, Temporal: f.temporal, TaskQueue: taskQueue}
	found, err := discovery.Discover(ctx, gw.id)
	require.NoError(t, err)
	require.Len(t, found, 1)
	assert.True(t, found[0].New, "the factory certificate was not known before")
	assert.Equal(t, factory.NotAfter.UTC(), found[0].NotAfter.UTC())
	again, err := discovery.Discover(ctx, gw.id)
	require.NoError(t, err)
	assert.False(t, again[0].New, "a second discovery finds what the first recorded")
	assert.Equal(t, found[0].CertificateID, again[0].CertificateID)
	inventoryID := workflows.InventoryWorkflowID(gw.id)
	testenv.ReplayHistories(t, map[string]*historypb.History{
		filepath.Join("device-inventory", "discovered.json"): testenv.History(t, f.temporal, inventoryID, testenv.Runs(t, f.temporal, inventoryID)[0]),
	})

	devices := []string{"sim-00001", "sim-00002", "sim-00003", "sim-00004", gw.id}
	run := func(name string) int64 {
		job, err := f.jobs.Create(ctx, jobs.Spec{Name: name, CertType: "tls", CreatedBy: "test", DeviceIDs: devices}, nil)
		require.NoError(t, err)
		progress := f.wait(t, job.ID, 3*time.Minute)
		assert.Equal(t, len(devices), progress.Outcomes.Succeeded+progress.Outcomes.RevokeNA, "%s: %+v, states %v", name, progress.Outcomes, f.states(t, job.ID))
		return job.ID
	}
	first := run("first")
	firstCerts := map[string]store.Certificate{}
	for _, id := range devices {
		cert := f.activeCertificate(t, id)
		firstCerts[id] = cert
		f.verify(t, cert.Der)
	}
	leaf, err := x509.ParseCertificate(firstCerts[gw.id].Der)
	require.NoError(t, err)
	gw.host.Served(leaf)
	factoryRow, err := store.New(f.pool).GetCertificate(ctx, found[0].CertificateID)
	require.NoError(t, err)
	assert.Equal(t, "superseded", factoryRow.Status, "a certificate another CA issued is superseded, not revoked")

	second := run("second")
	for _, id := range devices {
		item, err := store.New(f.pool).GetJobItem(ctx, store.GetJobItemParams{JobID: second, DeviceID: id})
		require.NoError(t, err)
		assert.Equal(t, "succeeded", item.State, "%s: %s", id, item.LastError)
		old, err := store.New(f.pool).GetCertificate(ctx, firstCerts[id].ID)
		require.NoError(t, err)
		assert.Equal(t, "revoked", old.Status, "%s: the first job's certificate is revoked", id)
		f.verify(t, f.activeCertificate(t, id).Der)
	}
	leaf, err = x509.ParseCertificate(f.activeCertificate(t, gw.id).Der)
	require.NoError(t, err)
	gw.host.Served(leaf)
	data, err := os.ReadFile(gw.trustFile())
	require.NoError(t, err)
	trusted, err := pki.ParseCertificatesPEM(data)
	require.NoError(t, err)
	assert.True(t, f.gatewayTrust(t).Equal(trusted[0]), "the gateway trusts the CA its profile names")

	_, cameraPassword := devicesim.CameraAccount(fleetSecret)
	f.assertNoSecretIn(t, []int64{first, second}, devices, []string{gw.sshd.ClientKey, fleetSecret, cameraPassword})
}

// assertNoSecretIn greps the histories of the jobs' workflows and the items'
// errors for each secret (and, for a PEM key, each of its base64 lines).
func (f *fleet) assertNoSecretIn(t *testing.T, jobIDs []int64, devices []string, secrets []string) {
	t.Helper()
	var needles []string
	for _, s := range secrets {
		for _, line := range strings.Split(s, "\n") {
			if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
				needles = append(needles, line)
			}
		}
	}
	var haystack strings.Builder
	for _, jobID := range jobIDs {
		ids := []string{workflows.JobWorkflowID(jobID)}
		for _, d := range devices {
			ids = append(ids, workflows.DeviceWorkflowID(jobID, d))
			item, err := store.New(f.pool).GetJobItem(context.Background(), store.GetJobItemParams{JobID: jobID, DeviceID: d})
			require.NoError(t, err)
			haystack.WriteString(item.LastError)
		}
		for _, id := range ids {
			for _, run := range testenv.Runs(t, f.temporal, id) {
				// The wire format holds payloads as the SDK encoded them, unescaped.
				data, err := proto.Marshal(testenv.History(t, f.temporal, id, run))
				require.NoError(t, err)
				haystack.Write(data)
			}
		}
	}
	require.Greater(t, haystack.Len(), 1000, "the histories were read")
	for _, needle := range needles {
		assert.NotContains(t, haystack.String(), needle, "a secret leaked into a history or a job error")
	}
}

// TestGatewayFaults: a gateway whose reload fails ends as a device failure
// with its previous certificate back in place and served; a gateway that
// presents another host key ends as a device failure without being touched.
// Neither is retried: both are permanent.
func TestGatewayFaults(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 1)
	failing := f.addGateway(t, "gw-00001")
	replaced := f.addGateway(t, "gw-00002")
	f.startWorker(t)
	devices := []string{failing.id, replaced.id}
	job, err := f.jobs.Create(ctx, jobs.Spec{Name: "first", CertType: "tls", CreatedBy: "test", DeviceIDs: devices}, nil)
	require.NoError(t, err)
	require.Equal(t, 2, f.wait(t, job.ID, 3*time.Minute).Outcomes.RevokeNA, "%v", f.states(t, job.ID))
	before := map[string]store.Certificate{}
	for _, id := range devices {
		before[id] = f.activeCertificate(t, id)
	}

	failing.host.FailReload(true)
	replaced.sshd.NewHostKey()
	replaced.sshd.Restart()
	job, err = f.jobs.Create(ctx, jobs.Spec{Name: "faults", CertType: "tls", CreatedBy: "test", DeviceIDs: devices}, nil)
	require.NoError(t, err)
	progress := f.wait(t, job.ID, 3*time.Minute)
	assert.Equal(t, 2, progress.Outcomes.DeviceFailure, "%+v", progress.Outcomes)
	for id, want := range map[string]string{failing.id: "reload failed, previous certificate and key restored", replaced.id: "host key does not match its pin"} {
		item, err := store.New(f.pool).GetJobItem(ctx, store.GetJobItemParams{JobID: job.ID, DeviceID: id})
		require.NoError(t, err)
		assert.Equal(t, "device_failure", item.State, id)
		assert.Contains(t, item.LastError, want, id)
	}
	item, err := store.New(f.pool).GetJobItem(ctx, store.GetJobItemParams{JobID: job.ID, DeviceID: failing.id})
	require.NoError(t, err)
	assert.Equal(t, "install", item.Step, "the failing gateway got as far as the install")
	served, err := x509.ParseCertificate(before[failing.id].Der)
	require.NoError(t, err)
	failing.host.Served(served)
	data, err := os.ReadFile(filepath.Join(failing.host.Root, "etc/ssl/certs/device.pem"))
	require.NoError(t, err)
	live, err := pki.ParseCertificatesPEM(data)
	require.NoError(t, err)
	assert.True(t, served.Equal(live[0]), "the previous certificate is the live file again")
	served, err = x509.ParseCertificate(before[replaced.id].Der)
	require.NoError(t, err)
	replaced.host.Served(served)
}

// TestCameraFaults: ONVIF and Axis cameras whose key generation is stuck are
// retried as transient until the step's deadline, a camera that refuses the
// credential fails at once as permanent, and each keeps the certificate it
// had: a job never leaves a camera without a working certificate.
func TestCameraFaults(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 4)
	f.assign(t, f.normal, 1, 4)
	for id, driver := range map[string]string{"sim-00001": "onvif", "sim-00002": "axis", "sim-00003": "onvif", "sim-00004": "axis"} {
		path := map[string]string{"onvif": onvifsim.DevicePath, "axis": axissim.Prefix}[driver]
		f.makeCamera(t, id, driver, path)
	}
	f.startWorker(t)
	devices := ids(1, 4)
	job, err := f.jobs.Create(ctx, jobs.Spec{Name: "first", CertType: "tls", CreatedBy: "test", DeviceIDs: devices}, nil)
	require.NoError(t, err)
	progress := f.wait(t, job.ID, 3*time.Minute)
	require.Equal(t, 4, progress.Outcomes.Succeeded+progress.Outcomes.RevokeNA, "%v", f.states(t, job.ID))
	before := map[string]store.Certificate{}
	for _, id := range devices {
		before[id] = f.activeCertificate(t, id)
	}

	faults := map[string]map[string]any{
		"sim-00001": {"keygen_stuck": true}, "sim-00002": {"keygen_stuck": true},
		"sim-00003": {"auth_refused": true}, "sim-00004": {"auth_refused": true},
	}
	for id, fault := range faults {
		f.admin(t, http.MethodPut, "/devices/"+id+"/faults", fault).Body.Close()
	}
	start := time.Now()
	job, err = f.jobs.Create(ctx, jobs.Spec{Name: "faults", CertType: "tls", CreatedBy: "test", DeviceIDs: devices, StepDeadline: 8 * time.Second}, nil)
	require.NoError(t, err)
	progress = f.wait(t, job.ID, 3*time.Minute)
	assert.Equal(t, 4, progress.Outcomes.DeviceFailure, "%+v", progress.Outcomes)
	for id, want := range map[string]string{"sim-00001": "", "sim-00002": "", "sim-00003": "NotAuthorized", "sim-00004": "refused"} {
		item, err := store.New(f.pool).GetJobItem(ctx, store.GetJobItemParams{JobID: job.ID, DeviceID: id})
		require.NoError(t, err)
		assert.Equal(t, "device_failure", item.State, id)
		assert.Equal(t, "csr", item.Step, id)
		assert.Contains(t, item.LastError, want, id)
		var steps map[string]struct {
			Attempts int `json:"attempts"`
		}
		require.NoError(t, json.Unmarshal(item.StepStatus, &steps))
		switch {
		case id == "sim-00002":
			assert.Greater(t, steps["csr"].Attempts, 1, "%s: a busy key generation is retried", id)
		case id == "sim-00001":
			// The ONVIF driver waits up to 30 s for the key within one try:
			// the 8 s deadline ends the first.
			assert.GreaterOrEqual(t, steps["csr"].Attempts, 1, id)
		default:
			assert.Equal(t, 1, steps["csr"].Attempts, "%s: a refused credential is not retried", id)
		}
	}
	assert.Less(t, time.Since(start), time.Minute, "the stuck cameras gave up at the step's deadline")

	// Every camera still holds, and is recorded with, the certificate it had.
	for id := range faults {
		f.admin(t, http.MethodPut, "/devices/"+id+"/faults", map[string]any{}).Body.Close()
	}
	acts := f.activities()
	for _, id := range devices {
		found, err := acts.DiscoverCertificates(ctx, id)
		require.NoError(t, err)
		require.Len(t, found, 1)
		assert.Equal(t, before[id].ID, found[0].CertificateID, "%s holds its certificate from the first job", id)
		assert.Equal(t, before[id].ID, f.activeCertificate(t, id).ID)
	}
}
