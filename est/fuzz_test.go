package est

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/http"
	"testing"

	"github.com/certfleet/certfleet/estwire"
)

// FuzzParseCSRBody: whatever a client posts, parsing ends in a CSR whose
// signature holds or in a 400 that says why; never a panic.
func FuzzParseCSRBody(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cam-1"}}, key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(estwire.EncodeBase64(der))
	f.Add(der)
	f.Add([]byte("MIIB"))
	f.Add([]byte("   \r\n"))
	f.Add(estwire.EncodeBase64(der[:len(der)/2]))
	f.Fuzz(func(t *testing.T, body []byte) {
		csr, err := ParseCSRBody(body)
		if err == nil {
			if csr.CheckSignature() != nil {
				t.Fatal("accepted a CSR whose signature does not hold")
			}
			return
		}
		var refusal *httpError
		if !errors.As(err, &refusal) || refusal.status != http.StatusBadRequest || refusal.message == "" {
			t.Fatalf("want a 400 with a reason, got %v", err)
		}
	})
}
