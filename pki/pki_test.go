package pki_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/pki"
)

var profile = pki.Profile{
	Name:     "cameras",
	CertType: pki.CertTypeIEEE8021X,
	SubjectRules: []pki.SubjectRule{
		{Attr: "CN", Rule: pki.RuleFromCSR, Pattern: "cam-[0-9]+"},
		{Attr: "O", Rule: pki.RuleFixed, Value: "Acme"},
	},
	SANRules:      []pki.SANRule{{Type: "dns", Rule: pki.RuleFromCSR, Pattern: `[a-z0-9-]+\.example\.net`}},
	KeyAlgorithms: []pki.KeyAlgorithm{{Algorithm: "ecdsa", Sizes: []int{256}}, {Algorithm: "rsa", Sizes: []int{2048}}},
	Validity:      24 * time.Hour,
}

func csrDER(t testing.TB, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	require.NoError(t, err)
	return der
}

func p256(t testing.TB) crypto.Signer {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return key
}

func TestCheckCSRNamesTheRule(t *testing.T) {
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	good := &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cam-1"}, DNSNames: []string{"cam-1.example.net"}}
	cases := []struct {
		name string
		key  crypto.Signer
		tmpl *x509.CertificateRequest
		rule string // "" means accepted
	}{
		{"accepted", p256(t), good, ""},
		{"RSA under 2048 bits", rsa1024, good, "key_algorithms"},
		{"curve the profile does not allow", p384, good, "key_algorithms"},
		{"CN missing", p256(t), &x509.CertificateRequest{}, "subject_rules.CN"},
		{"CN outside the pattern", p256(t), &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cam-1; rm -rf"}}, "subject_rules.CN"},
		{"SAN outside the pattern", p256(t), &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cam-1"}, DNSNames: []string{"evil.com"}}, "san_rules.dns"},
		{"SAN type not allowed", p256(t), &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cam-1"}, IPAddresses: []net.IP{net.IPv4(10, 0, 0, 1)}}, "san_rules.ip"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			csr, err := pki.ParseCSR(csrDER(t, c.key, c.tmpl))
			require.NoError(t, err)
			err = pki.CheckCSR(csr, profile)
			if c.rule == "" {
				require.NoError(t, err)
				return
			}
			var policyErr *pki.PolicyError
			require.True(t, errors.As(err, &policyErr), "got %v", err)
			assert.Equal(t, c.rule, policyErr.Rule)
		})
	}
}

func TestParseCSRRefusesTampering(t *testing.T) {
	der := csrDER(t, p256(t), &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cam-1"}})
	der[len(der)-5] ^= 0xff // inside the signature
	_, err := pki.ParseCSR(der)
	assert.Error(t, err)
	pemCSR := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER(t, p256(t), &x509.CertificateRequest{})})
	_, err = pki.ParseCSR(pemCSR)
	assert.NoError(t, err, "PEM is accepted as well as DER")
}

func TestProfileValidate(t *testing.T) {
	require.NoError(t, profile.Validate())
	bad := profile
	bad.CertType = "smime"
	bad.SubjectRules = []pki.SubjectRule{{Attr: "EMAIL", Rule: "sometimes"}, {Attr: "O", Rule: pki.RuleFixed}}
	bad.SANRules = []pki.SANRule{{Type: "dns", Rule: pki.RuleFromCSR, Pattern: "("}}
	bad.ExtraAttributes = []pki.ExtraAttribute{{OID: "1.2.abc", Value: "x"}}
	bad.KeyAlgorithms = []pki.KeyAlgorithm{{Algorithm: "rsa", Sizes: []int{1024}}}
	err := bad.Validate()
	require.Error(t, err)
	for _, field := range []string{"cert_type", "subject_rules[0].attr", "subject_rules[0].rule", "subject_rules[1].value", "san_rules[0].pattern", "extra_attributes[0].oid", "key_algorithms[0]"} {
		assert.Contains(t, err.Error(), field)
	}
}

func TestKeySpecs(t *testing.T) {
	for _, s := range []string{"ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096"} {
		_, err := pki.ParseKeySpec(s)
		assert.NoError(t, err, s)
	}
	for _, s := range []string{"rsa-1024", "ecdsa-p521", "ed25519", "", "rsa-"} {
		_, err := pki.ParseKeySpec(s)
		assert.Error(t, err, s)
	}
}

func TestSerialsAreLargeAndDistinct(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		n, err := pki.NewSerial()
		require.NoError(t, err)
		assert.Equal(t, 127, n.BitLen())
		assert.False(t, seen[n.String()])
		seen[n.String()] = true
	}
}

// FuzzParseCSR feeds arbitrary bytes through everything a CSR from outside
// meets: parsing, the policy check and the certificate template.
func FuzzParseCSR(f *testing.F) {
	key := p256(f)
	good := csrDER(f, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cam-1"}, DNSNames: []string{"cam-1.example.net"}})
	f.Add(good)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: good}))
	f.Add(good[:len(good)/2])
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\n!!\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte{0x30, 0x82, 0xff, 0xff})
	f.Add([]byte{})
	f.Add(sanCSR(f, pkix.Name{}, []pki.GeneralName{hmn(wisunHWType, "WS-0042")}, wisunEKU).Raw)
	f.Fuzz(func(t *testing.T, data []byte) {
		csr, err := pki.ParseCSR(data)
		if err != nil {
			return
		}
		for _, p := range []pki.Profile{profile, wisun} {
			if pki.CheckCSR(csr, p) != nil {
				continue
			}
			if _, err := pki.LeafTemplate(csr, p, time.Now()); err != nil {
				t.Fatalf("a CSR profile %s accepts must make a template: %v", p.Name, err)
			}
		}
	})
}

func FuzzParseCertificatesPEM(f *testing.F) {
	tmpl := &x509.Certificate{SerialNumber: bigOne(), Subject: pkix.Name{CommonName: "CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	key := p256(f)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(f, err)
	one := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	f.Add(one)
	f.Add(append(append([]byte{}, one...), one...))
	f.Add(append(append([]byte{}, one...), "junk"...))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0, 0, 0}})) // a block of the wrong type
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := pki.ParseCertificatesPEM(data)
		if err != nil {
			return
		}
		again, err := pki.ParseCertificatesPEM(pki.EncodeCertificatesPEM(certs...))
		if err != nil || len(again) != len(certs) {
			t.Fatalf("re-encoding %d certificates gave %d (%v)", len(certs), len(again), err)
		}
	})
}

func bigOne() *big.Int { return big.NewInt(1) }

// TestServerAuthProfilesPinTheirSANs: a TLS certificate is good for
// serverAuth, so a profile that copied any DNS name from a CSR would let a
// device obtain a certificate for another server's name.
func TestServerAuthProfilesPinTheirSANs(t *testing.T) {
	open := profile
	open.CertType = pki.CertTypeTLS
	open.SANRules = []pki.SANRule{{Type: "dns", Rule: pki.RuleFromCSR}}
	assert.ErrorContains(t, open.Validate(), "san_rules[0].pattern")
	open.SANRules[0].Pattern = `cam-[0-9]+\.example\.net`
	assert.NoError(t, open.Validate())
	clientOnly := profile
	clientOnly.CertType = pki.CertTypeIEEE8021X
	clientOnly.SANRules = []pki.SANRule{{Type: "dns", Rule: pki.RuleFromCSR}}
	assert.NoError(t, clientOnly.Validate(), "an 802.1X certificate is not a server's")
}
