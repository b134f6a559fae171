package agentproto_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/certfleet/certfleet/credentials/secret"
	"github.com/certfleet/certfleet/devicesim"
)

// FuzzRequests sends arbitrary bodies to every operation of a device: the
// answer is a success or a 4xx, never a 5xx or a panic.
func FuzzRequests(f *testing.F) {
	for _, seed := range []string{
		`{"cert_type":"tls","key":{"algorithm":"ecdsa","size":256},"subject":{"cn":"a"},"sans":{"dns":["a.example"],"ip":["10.0.0.1"],"uri":["urn:x"]}}`,
		`{"cert_type":"tls","key":{"algorithm":"ecdsa","size":256},"sans":{"ip":["not-an-ip"]}}`,
		`{"cert_type":"tls","chain":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}`,
		`{"cert_type":"ieee8021x","chain":""}`,
		`{"cert_type":`,
		`[]`,
		`null`,
		"",
		`{"cert_type":"tls\u0000","key":{"algorithm":"ecdsa","size":256},"subject":{"cn":"a\u0000b"}}`,
		"{\"cert_type\":\"tls\",\"key\":{\"algorithm\":\"ecdsa\",\"size\":256},\"subject\":{\"cn\":\"\xff\xfe\"}}",
		`{"cert_type":"tls","key":{"algorithm":"ecdsa","size":99999999999999999999}}`,
		`{"cert_type":"tls","key":{"algorithm":"rsa","size":4294967296}}`,
		"\x00",
	} {
		f.Add(seed)
	}
	const master = "fuzz-master-secret-0123456789"
	fleet := devicesim.New(1, "d-", master)
	server := httptest.NewServer(fleet.Handler())
	defer server.Close()
	credential := secret.Derive(master, fleet.DeviceID(1))
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{"/v1/csr", "/v1/install"} {
			req, err := http.NewRequest(http.MethodPost, server.URL+"/devices/d-00001"+path, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+credential)
			resp, err := server.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode >= 500 {
				t.Fatalf("%s with %q answered %d", path, body, resp.StatusCode)
			}
		}
	})
}
