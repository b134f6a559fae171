package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/internal/testpki"
)

// TestProfileBindingAndDeviceTrust: a profile's binding fits its certificate
// type (defaulting to the type's own), and its device trust holds only CA
// certificates valid now; a refused profile is not created.
func TestProfileBindingAndDeviceTrust(t *testing.T) {
	w := newAPIWorld(t)
	profile := func(name, certType, binding, trust string) map[string]any {
		return map[string]any{"name": name, "cert_type": certType, "device_type": "camera",
			"subject_rules": []map[string]any{{"attr": "CN", "rule": "from_csr"}}, "key_algorithms": []map[string]any{{"algorithm": "ecdsa", "sizes": []int{256}}},
			"validity_days": 90, "renew_before_days": 30, "binding": binding, "device_trust": trust}
	}
	radius := testpki.NewCA(t, "RADIUS CA")
	leaf, _ := radius.Client(t, "not a CA")
	for name, body := range map[string]map[string]any{
		"mqtt for 802.1X": profile("a", "ieee8021x", "mqtt", ""),
		"802.1X for TLS":  profile("b", "tls", "ieee8021x", ""),
		"unknown binding": profile("c", "tls", "ftp", ""),
		"trust not PEM":   profile("d", "tls", "", "CA"),
		"trust not a CA":  profile("e", "ieee8021x", "", string(testpki.CertPEM(leaf))),
		"too many CAs":    profile("f", "ieee8021x", "", strings.Repeat(string(testpki.CertPEM(radius.Cert)), 17)),
	} {
		status, answer := w.admin.do("POST", "/api/v1/profiles", body)
		assert.Equal(t, http.StatusBadRequest, status, "%s: %v", name, answer)
	}
	status, answer := w.admin.do("GET", "/api/v1/profiles", nil)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, answer, "items")
	assert.Empty(t, answer["items"], "no refused profile was created")

	status, answer = w.admin.do("POST", "/api/v1/profiles", profile("wired", "ieee8021x", "", string(testpki.CertPEM(radius.Cert))))
	require.Equal(t, http.StatusCreated, status, "%v", answer)
	assert.Equal(t, "ieee8021x", answer["binding"], "the type's own binding by default")
	assert.Equal(t, string(testpki.CertPEM(radius.Cert)), answer["device_trust"])
	status, answer = w.admin.do("POST", "/api/v1/profiles", profile("telemetry", "tls", "mqtt", ""))
	require.Equal(t, http.StatusCreated, status, "%v", answer)
	assert.Equal(t, "mqtt", answer["binding"])
}
