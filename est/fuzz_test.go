package est

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

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
	f.Add([]byte("MIIB\x00AAAA"))
	f.Add([]byte("\xff\xfe\xfd"))
	f.Add(append(estwire.EncodeBase64(der), 0))
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

// FuzzBasicCredentials: whatever HTTP Basic username and password a client
// sends, they are refused with a 400 before any query, or they are text
// Postgres can look up: valid UTF-8 without NUL. Never a panic.
func FuzzBasicCredentials(f *testing.F) {
	for _, seed := range [][2]string{
		{"cam-1", "otp-cam-1-0123"},
		{"cam\x00-1", "otp-cam-1-0123"},
		{"cam-1", "otp\x00"},
		{"\xff\xfe", "secret"},
		{"cam-1", "\xc3\x28"},
		{"", ""},
		{"99999999999999999999999999", "4294967296"},
		{"café", "pässwörd"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, user, pass string) {
		err := checkBasic(user, pass)
		storable := utf8.ValidString(user) && utf8.ValidString(pass) && !strings.ContainsRune(user, 0) && !strings.ContainsRune(pass, 0)
		if err == nil {
			if !storable {
				t.Fatalf("admitted %q:%q, which Postgres cannot look up", user, pass)
			}
			return
		}
		var refusal *httpError
		if storable || !errors.As(err, &refusal) || refusal.status != http.StatusBadRequest || refusal.message == "" {
			t.Fatalf("%q:%q: want a 400 with a reason only for text Postgres cannot store, got %v", user, pass, err)
		}
	})
}
