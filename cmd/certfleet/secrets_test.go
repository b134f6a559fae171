package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"

	"github.com/certfleet/certfleet/credentials/secret"
	"github.com/certfleet/certfleet/devicesim"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/pki"
)

// TestNoSecretInHistoriesLogsOrDatabase runs the real binary through what
// handles secrets (stored credentials, a job that sends them to devices,
// EST enrollments with an OTP, a device password and a provisioning
// station's secret, API tokens) with debug logs, then searches every
// workflow history, the process's logs and a pg_dump of its database for
// each secret, raw, in hex and in base64.
func TestNoSecretInHistoriesLogsOrDatabase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const (
		fleetSecret    = "leak-test-fleet-master-secret-1f2e3d"
		upstreamSecret = "leak-test-upstream-password-9a8b7c"
		bearerSecret   = "leak-test-bearer-token-5d4c3b"
		otp            = "leak-test-otp-77aa55"
		devicePassword = "leak-test-device-password-33cc11"
	)
	kekRaw := make([]byte, 32)
	_, _ = rand.Read(kekRaw)
	kekB64 := base64.StdEncoding.EncodeToString(kekRaw)

	databaseURL := testenv.EmptyDatabase(t)
	temporalAddr, tc := testenv.Temporal(t, testenv.TemporalOptions{})
	simURL, _ := testenv.DeviceSim(t, 4, fleetSecret)
	apiAddr, estAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	env := []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + databaseURL, "TEMPORAL_ADDRESS=" + temporalAddr,
		"CERTFLEET_API_ADDR=" + apiAddr, "CERTFLEET_METRICS_ADDR=" + testenv.FreeAddr(t), "CERTFLEET_EST_ADDR=" + estAddr, "CERTFLEET_SCEP_ADDR=" + testenv.FreeAddr(t), "CERTFLEET_KEK=" + kekB64,
		"CERTFLEET_LOG_LEVEL=debug", "CERTFLEET_LOG_FORMAT=json", "CERTFLEET_EST_HOSTS=localhost"}
	token, proc := runAll(t, ctx, env, apiAddr)

	api := leakTestClient{t: t, base: "http://" + apiAddr, token: token}
	api.call("POST", "/api/v1/credentials", map[string]any{"name": "fleet", "kind": "derived", "secret": fleetSecret}, http.StatusCreated)
	api.call("POST", "/api/v1/credentials", map[string]any{"name": "upstream", "kind": "password", "username": "ra", "secret": upstreamSecret}, http.StatusCreated)
	api.call("POST", "/api/v1/credentials", map[string]any{"name": "spare", "kind": "bearer", "secret": bearerSecret}, http.StatusCreated)
	api.call("PUT", "/api/v1/credentials/spare/secret", map[string]any{"secret": "rotated-" + bearerSecret}, http.StatusOK)
	profile := api.call("POST", "/api/v1/profiles", map[string]any{"name": "cameras", "cert_type": "tls", "device_type": "camera",
		"subject_rules": []map[string]any{{"attr": "CN", "rule": "from_csr"}}, "key_algorithms": []map[string]any{{"algorithm": "ecdsa", "sizes": []int{256}}},
		"validity_days": 90, "renew_before_days": 30}, http.StatusCreated)
	devices := []string{"sim-00001", "sim-00002"}
	for _, id := range devices {
		api.call("POST", "/api/v1/devices", map[string]any{"id": id, "name": id, "device_type": "camera",
			"address": simURL + "/devices/" + id, "credential": "fleet"}, http.StatusCreated)
	}
	// A gateway on a real OpenSSH server, logged in to with a password.
	sshd := testenv.StartSSHD(t)
	host := testenv.NewSSHHost(t, sshd.PasswordUser)
	api.call("POST", "/api/v1/credentials", map[string]any{"name": "gw-login", "kind": "ssh_password", "username": sshd.PasswordUser, "secret": sshd.Password}, http.StatusCreated)
	api.call("POST", "/api/v1/credentials", map[string]any{"name": "gw-key", "kind": "ssh_key", "secret": sshd.ClientKey}, http.StatusCreated)
	api.call("POST", "/api/v1/devices", map[string]any{"id": "gw-1", "name": "gateway", "device_type": "camera",
		"address": sshd.Address, "credential": "gw-login", "driver": "ssh", "driver_settings": json.RawMessage(host.Settings())}, http.StatusCreated)
	devices = append(devices, "gw-1")
	// Cameras of the simulated fleet, over ONVIF and VAPIX, with the cameras' password.
	cameraUser, cameraPassword := devicesim.CameraAccount(fleetSecret)
	api.call("POST", "/api/v1/credentials", map[string]any{"name": "cameras", "kind": "password", "username": cameraUser, "secret": cameraPassword}, http.StatusCreated)
	for id, address := range map[string]string{"sim-00003": simURL + "/onvif/sim-00003/device_service", "sim-00004": simURL + "/axis/sim-00004"} {
		driver := map[string]string{"sim-00003": "onvif", "sim-00004": "axis"}[id]
		api.call("POST", "/api/v1/devices", map[string]any{"id": id, "name": id, "device_type": "camera",
			"address": address, "credential": "cameras", "driver": driver}, http.StatusCreated)
		devices = append(devices, id)
	}
	api.call("POST", "/api/v1/profile-assignments", map[string]any{"profile_id": profile["id"], "device_ids": devices}, http.StatusOK)
	job := api.call("POST", "/api/v1/jobs", map[string]any{"name": "leak test", "cert_type": "tls", "device_ids": devices}, http.StatusCreated)
	waitJobDone(t, ctx, tc, fmt.Sprint(job["workflow_id"]))
	items := api.call("GET", fmt.Sprintf("/api/v1/jobs/%v/items", job["id"]), nil, http.StatusOK)["items"].([]any)
	require.Len(t, items, len(devices))
	for _, item := range items {
		item := item.(map[string]any)
		assert.Equal(t, "revoke_na", item["state"], "%v: every device took its credential and its certificate: %v", item["device_id"], item["last_error"])
	}
	host.Served(certificateOf(t, api, "gw-1"))

	api.call("POST", "/api/v1/est-labels", map[string]any{"label": "cams", "is_default": true, "profile_id": profile["id"]}, http.StatusCreated)
	api.call("POST", "/api/v1/devices/import", "id,name,device_type,enrollment_otp\r\nest-1,EST 1,camera,"+otp+"\r\nest-2,EST 2,camera,\r\n", http.StatusOK)
	api.call("PUT", "/api/v1/devices/est-2/enrollment-password", map[string]any{"password": devicePassword}, http.StatusOK)
	enrollOverEST(t, estAddr, "est-1", "est-1", otp)
	enrollOverEST(t, estAddr, "est-2", "est-2", devicePassword)
	station := api.call("POST", "/api/v1/stations", map[string]any{"name": "line-1", "labels": []string{"cams"}, "device_id_pattern": "st-[0-9]+"}, http.StatusCreated)
	stationSecret := station["secret"].(string)
	enrollOverEST(t, estAddr, "st-1", "line-1@station", stationSecret)

	secrets := map[string]string{"fleet master secret": fleetSecret, "upstream password": upstreamSecret,
		"bearer credential": bearerSecret, "rotated bearer credential": "rotated-" + bearerSecret,
		"OTP": otp, "device password": devicePassword, "station secret": stationSecret, "API token": token, "KEK (base64)": kekB64, "KEK": string(kekRaw)}
	for _, id := range devices[:2] {
		secrets["derived credential of "+id] = secret.Derive(fleetSecret, id)
	}
	secrets["SSH password"] = sshd.Password
	secrets["camera password"] = cameraPassword
	for i, line := range strings.Split(sshd.ClientKey, "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			secrets[fmt.Sprintf("SSH key, line %d", i+1)] = line
		}
	}
	places := map[string][]byte{
		"workflow histories": allHistories(t, ctx, tc),
		"certfleet's logs":   []byte(proc.Output()),
		"pg_dump":            pgDump(t, ctx, databaseURL),
	}
	assert.Contains(t, string(places["workflow histories"]), "sim-00001", "the histories were read")
	assert.Contains(t, string(places["certfleet's logs"]), "http request", "the logs were read")
	assert.Contains(t, string(places["pg_dump"]), "credentials", "the dump was read")
	for where, data := range places {
		for what, value := range secrets {
			for _, form := range []string{value, hex.EncodeToString([]byte(value)), base64.StdEncoding.EncodeToString([]byte(value))} {
				assert.False(t, bytes.Contains(data, []byte(form)), "the %s is in the %s", what, where)
			}
		}
	}
}

type leakTestClient struct {
	t           *testing.T
	base, token string
}

func (c leakTestClient) call(method, path string, body any, want int) map[string]any {
	c.t.Helper()
	var out map[string]any
	_ = json.Unmarshal(c.send(method, path, body, want), &out)
	return out
}

// send makes a request and returns the answer's body, which must have status want.
func (c leakTestClient) send(method, path string, body any, want int) []byte {
	c.t.Helper()
	var reader io.Reader
	if s, ok := body.(string); ok {
		reader = strings.NewReader(s)
	} else {
		data, err := json.Marshal(body)
		require.NoError(c.t, err)
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, reader)
	require.NoError(c.t, err)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	require.Equal(c.t, want, resp.StatusCode, "%s %s: %s", method, path, data)
	return data
}

// runAll migrates the database env names, makes an admin token, and starts
// `certfleet all` with env; it returns the token and the process once the
// API listens on apiAddr.
func runAll(t *testing.T, ctx context.Context, env []string, apiAddr string) (string, *testenv.Process) {
	t.Helper()
	binary := testenv.Binary(t)
	command := func(args ...string) string {
		cmd := exec.CommandContext(ctx, binary, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "certfleet %v: %s", args, out)
		return string(out)
	}
	command("migrate")
	token := regexp.MustCompile(`cft_[A-Za-z0-9_-]+`).FindString(command("token", "create", "-name", "test-admin", "-role", "admin"))
	require.NotEmpty(t, token)
	all := exec.Command(binary, "all")
	all.Env = env
	proc := testenv.Run(t, all)
	testenv.WaitListening(t, apiAddr, time.Minute)
	return token, proc
}

// startSimJob registers devices sim-00001 to sim-<n> of the simulated fleet
// at simURL, with a camera profile, and starts a job over them; it returns
// the profile and the job as the API answered them.
func startSimJob(t *testing.T, api leakTestClient, simURL, fleetSecret string, n int) (profile, job map[string]any) {
	t.Helper()
	api.call("POST", "/api/v1/credentials", map[string]any{"name": "fleet", "kind": "derived", "secret": fleetSecret}, http.StatusCreated)
	profile = api.call("POST", "/api/v1/profiles", map[string]any{"name": "cameras", "cert_type": "tls", "device_type": "camera",
		"subject_rules": []map[string]any{{"attr": "CN", "rule": "from_csr"}}, "key_algorithms": []map[string]any{{"algorithm": "ecdsa", "sizes": []int{256}}},
		"validity_days": 90, "renew_before_days": 30}, http.StatusCreated)
	var devices []string
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("sim-%05d", i)
		api.call("POST", "/api/v1/devices", map[string]any{"id": id, "name": id, "device_type": "camera",
			"address": simURL + "/devices/" + id, "credential": "fleet"}, http.StatusCreated)
		devices = append(devices, id)
	}
	api.call("POST", "/api/v1/profile-assignments", map[string]any{"profile_id": profile["id"], "device_ids": devices}, http.StatusOK)
	job = api.call("POST", "/api/v1/jobs", map[string]any{"name": "test job", "cert_type": "tls", "device_ids": devices}, http.StatusCreated)
	return profile, job
}

// waitJobDone waits for the job's workflow, across continue-as-new, to end.
func waitJobDone(t *testing.T, ctx context.Context, tc client.Client, workflowID string) {
	t.Helper()
	require.NoError(t, tc.GetWorkflow(ctx, workflowID, "").Get(ctx, nil))
}

// enrollOverEST does a simpleenroll for deviceID with HTTP Basic, as a
// camera or a provisioning station would.
func enrollOverEST(t *testing.T, addr, deviceID, user, password string) {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: deviceID}}, testpki.NewKey(t))
	require.NoError(t, err)
	req, err := http.NewRequest("POST", "https://"+addr+"/.well-known/est/simpleenroll", strings.NewReader(base64.StdEncoding.EncodeToString(der)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/pkcs10")
	req.SetBasicAuth(user, password)
	// The server's certificate chains to the built-in CA's root; what is tested here is what it keeps, not its name.
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := insecure.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "enroll %s: %s", deviceID, body)
}

// allHistories is every event of every workflow run, in protobuf's wire
// format: payloads appear there as the bytes the SDK encoded, unescaped.
func allHistories(t *testing.T, ctx context.Context, tc client.Client) []byte {
	t.Helper()
	var out []byte
	var next []byte
	for {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{NextPageToken: next})
		require.NoError(t, err)
		for _, e := range resp.Executions {
			iter := tc.GetWorkflowHistory(ctx, e.Execution.WorkflowId, e.Execution.RunId, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for iter.HasNext() {
				event, err := iter.Next()
				require.NoError(t, err)
				data, err := proto.Marshal(event)
				require.NoError(t, err)
				out = append(out, data...)
			}
		}
		if next = resp.NextPageToken; len(next) == 0 {
			return out
		}
	}
}

func pgDump(t *testing.T, ctx context.Context, databaseURL string) []byte {
	t.Helper()
	out, err := exec.CommandContext(ctx, "pg_dump", "--no-owner", databaseURL).Output()
	require.NoError(t, err, "pg_dump")
	return out
}

// certificateOf is the device's active certificate, read through the API.
func certificateOf(t *testing.T, api leakTestClient, deviceID string) *x509.Certificate {
	t.Helper()
	list := api.call("GET", "/api/v1/certificates?device_id="+deviceID+"&status=active", nil, http.StatusOK)
	certs := list["items"].([]any)
	require.NotEmpty(t, certs)
	id := certs[0].(map[string]any)["id"]
	chain, err := pki.ParseCertificatesPEM(api.send("GET", fmt.Sprintf("/api/v1/certificates/%v/pem", id), nil, http.StatusOK))
	require.NoError(t, err)
	return chain[0]
}
