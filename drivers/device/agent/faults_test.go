package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/credentials/secret"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/drivers/device/agent"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/pki"
)

var ecRequest = pki.CSRRequest{CertType: pki.CertTypeTLS, Key: pki.KeySpec{Algorithm: "ecdsa", Size: 256}, Subject: pki.CSRSubject{CommonName: "x"}}

// TestFaultClasses sets each simulated fault over the admin API and checks the
// class of error the driver reports: permanent faults fail the step at once,
// transient ones are retried by the workflow.
func TestFaultClasses(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	is := newIssuer(t, pool)
	simURL, _ := startSim(t, 20)
	driver := agent.New(&testenv.MemPins{}, 800*time.Millisecond)
	dev := func(n string) device.Device { return simDevice(simURL, "sim-000"+n) }
	setFaults := func(n string, faults string) {
		resp := admin(t, simURL, http.MethodPut, "/devices/sim-000"+n+"/faults", json.RawMessage(faults))
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	csr := func(d device.Device) error { _, err := driver.GenerateCSR(ctx, d, ecRequest); return err }
	permanent := func(t *testing.T, err error) {
		t.Helper()
		require.Error(t, err)
		assert.True(t, device.IsPermanent(err), "want permanent: %v", err)
	}
	transient := func(t *testing.T, err error) {
		t.Helper()
		require.Error(t, err)
		assert.False(t, device.IsPermanent(err), "want transient: %v", err)
	}

	setFaults("01", `{"csr_failure":true}`)
	permanent(t, csr(dev("01")))

	_, err := is.renew(t, driver, dev("02"), ecRequest.Key) // a good install first
	require.NoError(t, err)
	setFaults("02", `{"install_failure":true}`)
	_, err = is.renew(t, driver, dev("02"), ecRequest.Key)
	permanent(t, err)

	setFaults("03", `{"unreachable":true}`)
	transient(t, csr(dev("03")))

	setFaults("04", `{"slow_ms":[3000,3000]}`)
	transient(t, csr(dev("04")))
	setFaults("05", `{"slow_ms":[100,200]}`)
	require.NoError(t, csr(dev("05")), "slow but within the timeout")

	setFaults("06", `{"flap_failures":2}`)
	transient(t, csr(dev("06")))
	transient(t, csr(dev("06")))
	require.NoError(t, csr(dev("06")), "a flapping device recovers")

	wrongCredential := dev("07")
	wrongCredential.Credential = agentSecret
	permanent(t, csr(wrongCredential))
	missingCredential := dev("07")
	missingCredential.Credential = secret.Secret{}
	permanent(t, csr(missingCredential))
	wrongPin := dev("07")
	wrongPin.TLSPin = make([]byte, 32)
	permanent(t, csr(wrongPin))
	pinned := dev("07")
	pinned.TLSPin = pinOf(t, simURL)
	require.NoError(t, csr(pinned))

	permanent(t, csr(simDevice(simURL, "sim-99999")))
	transient(t, csr(device.Device{ID: "gone", Address: "https://" + testenv.FreeAddr(t), Credential: agentSecret}))

	_, err = driver.GenerateCSR(ctx, dev("08"), pki.CSRRequest{CertType: pki.CertTypeTLS, Key: pki.KeySpec{Algorithm: "rsa", Size: 1024}})
	permanent(t, err)
}

// TestFaultRatesAreStablePerDevice: rates pick the same devices every time.
func TestFaultRatesAreStablePerDevice(t *testing.T) {
	simURL, _ := startSim(t, 1000)
	resp := admin(t, simURL, http.MethodPut, "/faults", map[string]any{"seed": 7, "csr_failure": 0.1})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	failing := 0
	for i := 1; i <= 1000; i++ {
		resp := admin(t, simURL, http.MethodGet, "/devices/"+simDevice(simURL, id(i)).ID, nil)
		var state struct {
			Faults struct {
				CSRFailure bool `json:"csr_failure"`
			}
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&state))
		if state.Faults.CSRFailure {
			failing++
		}
	}
	assert.InDelta(t, 100, failing, 35, "about 10%% of 1,000 devices")

	driver := agent.New(&testenv.MemPins{}, 5*time.Second)
	for i := 1; i <= 50; i++ {
		resp := admin(t, simURL, http.MethodGet, "/devices/"+id(i), nil)
		var state struct {
			Faults struct {
				CSRFailure bool `json:"csr_failure"`
			}
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&state))
		_, err := driver.GenerateCSR(context.Background(), simDevice(simURL, id(i)), ecRequest)
		assert.Equal(t, state.Faults.CSRFailure, err != nil, "device %s: the state says what happens", id(i))
	}
	assert.Equal(t, http.StatusUnauthorized, adminWithToken(t, simURL, "wrong").StatusCode, "the admin API needs the master secret")
}

func id(n int) string { return fmt.Sprintf("sim-%05d", n) }

func adminWithToken(t *testing.T, base, token string) *http.Response {
	req, err := http.NewRequest(http.MethodGet, base+"/devices/sim-00001", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := insecureClient().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

// TestAgentRefusesBadRequests: every bad request gets a clear 4xx and leaves
// the agent's directory exactly as it was.
func TestAgentRefusesBadRequests(t *testing.T) {
	agentURL, agentDir, _ := startAgent(t)
	driver := agent.New(&testenv.MemPins{}, 5*time.Second)
	_, err := driver.GenerateCSR(context.Background(), device.Device{ID: "gw", Address: agentURL, Credential: agentSecret}, ecRequest)
	require.NoError(t, err, "a pending key exists, so installs reach the key check")
	before := snapshot(t, agentDir)

	other := testpki.NewCA(t, "Other")
	leaf, _ := other.Client(t, "not-for-the-pending-key")
	mismatch, _ := json.Marshal(map[string]string{"cert_type": "tls", "chain": string(testpki.CertPEM(leaf, other.Cert))})
	cases := []struct {
		name, method, path, credential, body string
		status                               int
		code                                 string
	}{
		{"no credential", "POST", "/v1/csr", "", `{}`, 401, "unauthorized"},
		{"wrong credential", "POST", "/v1/install", "Bearer nope", string(mismatch), 401, "unauthorized"},
		{"malformed JSON", "POST", "/v1/install", "Bearer " + agentCredential, `{"cert_type":`, 400, "bad_request"},
		{"unknown field", "POST", "/v1/install", "Bearer " + agentCredential, `{"cert_type":"tls","chain":"","key":"x"}`, 400, "bad_request"},
		{"malformed PEM", "POST", "/v1/install", "Bearer " + agentCredential, `{"cert_type":"tls","chain":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}`, 400, "bad_request"},
		{"certificate for another key", "POST", "/v1/install", "Bearer " + agentCredential, string(mismatch), 422, "key_mismatch"},
		{"unknown certificate type", "POST", "/v1/install", "Bearer " + agentCredential, `{"cert_type":"smime","chain":""}`, 400, "bad_request"},
		{"weak key", "POST", "/v1/csr", "Bearer " + agentCredential, `{"cert_type":"tls","key":{"algorithm":"rsa","size":1024}}`, 422, "unsupported_key"},
		{"oversize body", "POST", "/v1/install", "Bearer " + agentCredential, `{"cert_type":"tls","chain":"` + strings.Repeat("A", 70_000) + `"}`, 413, "bad_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, agentURL+c.path, strings.NewReader(c.body))
			require.NoError(t, err)
			if c.credential != "" {
				req.Header.Set("Authorization", c.credential)
			}
			resp, err := insecureClient().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			assert.Equal(t, c.status, resp.StatusCode, string(body))
			var parsed struct {
				Error struct{ Code, Message string }
			}
			require.NoError(t, json.Unmarshal(body, &parsed), string(body))
			assert.Equal(t, c.code, parsed.Error.Code)
			assert.NotEmpty(t, parsed.Error.Message)
		})
	}
	assert.Equal(t, before, snapshot(t, agentDir), "nothing on disk changed")
}

// snapshot lists every file under dir with its mode and content.
func snapshot(t *testing.T, dir string) []string {
	t.Helper()
	var entries []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := os.Lstat(path)
		if err != nil {
			return err
		}
		entry := path + " " + info.Mode().String()
		if info.Mode().IsRegular() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			entry += " " + string(data)
		}
		entries = append(entries, entry)
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	sort.Strings(entries)
	return entries
}
