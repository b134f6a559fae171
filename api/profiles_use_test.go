package api_test

import (
	"fmt"
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

// TestProfileUsagesAndHardwareModules: a profile's key usage, EKU (private
// OIDs included) and hardware_module_name SAN rule are stored and shown
// back; a profile without them shows empty lists; a wrong usage or rule is
// refused naming its field.
func TestProfileUsagesAndHardwareModules(t *testing.T) {
	w := newAPIWorld(t)
	profile := func(name string, keyUsage, extKeyUsage []string, sanRules []map[string]any) map[string]any {
		return map[string]any{"name": name, "cert_type": "ieee8021x", "device_type": "iot_device",
			"san_rules": sanRules, "key_algorithms": []map[string]any{{"algorithm": "ecdsa", "sizes": []int{256}}},
			"validity_days": 365, "renew_before_days": 30, "key_usage": keyUsage, "ext_key_usage": extKeyUsage}
	}
	hmn := []map[string]any{{"type": "hardware_module_name", "rule": "from_csr", "hw_type": "1.3.6.1.4.1.45605.1.2", "pattern": "WS-[0-9]+"}}
	status, answer := w.admin.do("POST", "/api/v1/profiles", profile("wi-sun", []string{"digitalSignature"}, []string{"1.3.6.1.4.1.45605.1", "clientAuth"}, hmn))
	require.Equal(t, http.StatusCreated, status, "%v", answer)
	assert.Equal(t, []any{"digitalSignature"}, answer["key_usage"])
	assert.Equal(t, []any{"1.3.6.1.4.1.45605.1", "clientAuth"}, answer["ext_key_usage"])
	assert.Equal(t, []any{map[string]any{"type": "hardware_module_name", "rule": "from_csr", "hw_type": "1.3.6.1.4.1.45605.1.2", "pattern": "WS-[0-9]+"}}, answer["san_rules"])

	id := answer["id"].(float64)
	update := profile("wi-sun", []string{"digitalSignature", "keyAgreement"}, nil, hmn)
	status, answer = w.admin.do("PUT", fmt.Sprintf("/api/v1/profiles/%d", int(id)), update)
	require.Equal(t, http.StatusOK, status, "%v", answer)
	assert.Equal(t, []any{"digitalSignature", "keyAgreement"}, answer["key_usage"])
	assert.Equal(t, []any{}, answer["ext_key_usage"], "none: the certificate type's")

	status, answer = w.admin.do("POST", "/api/v1/profiles", profile("plain", nil, nil, nil))
	require.Equal(t, http.StatusCreated, status, "%v", answer)
	assert.Equal(t, []any{}, answer["key_usage"])
	assert.Equal(t, []any{}, answer["ext_key_usage"])

	for field, body := range map[string]map[string]any{
		"key_usage[1]":         profile("a", []string{"digitalSignature", "keyCertSign"}, nil, nil),
		"ext_key_usage[0]":     profile("b", nil, []string{"1.3.6.x"}, nil),
		"san_rules[0].hw_type": profile("c", nil, nil, []map[string]any{{"type": "hardware_module_name", "rule": "from_csr", "hw_type": "wisun"}}),
		"san_rules[0].rule":    profile("d", nil, nil, []map[string]any{{"type": "hardware_module_name", "rule": "fixed", "value": "WS-1"}}),
	} {
		status, answer := w.admin.do("POST", "/api/v1/profiles", body)
		require.Equal(t, http.StatusBadRequest, status, "%s: %v", field, answer)
		assert.Equal(t, field, answer["error"].(map[string]any)["details"].(map[string]any)["field"])
	}
}
