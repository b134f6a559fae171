// Package testpki makes throwaway CAs and certificates for tests: TLS servers
// on loopback, client certificates, factory certificates, trust anchors.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a self-signed test CA.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewCA makes a CA named cn with an ECDSA P-256 key.
func NewCA(t testing.TB, cn string) *CA {
	t.Helper()
	key := NewKey(t)
	return &CA{Cert: sign(t, caTemplate(cn), nil, key.Public(), key), Key: key}
}

func caTemplate(cn string) *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
}

// SubCA issues an intermediate CA named cn.
func (ca *CA) SubCA(t testing.TB, cn string) *CA {
	t.Helper()
	key := NewKey(t)
	return &CA{Cert: sign(t, caTemplate(cn), ca, key.Public(), ca.Key), Key: key}
}

// Issue signs tmpl (serial and, when zero, validity are filled in) for a new key.
func (ca *CA) Issue(t testing.TB, tmpl *x509.Certificate) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key := NewKey(t)
	return sign(t, tmpl, ca, key.Public(), ca.Key), key
}

// IssueCSR signs a TLS (server and client) certificate for the key and
// subject of a CSR, with its DNS and IP names.
func (ca *CA) IssueCSR(t testing.TB, csr *x509.CertificateRequest) *x509.Certificate {
	t.Helper()
	return sign(t, &x509.Certificate{
		Subject: csr.Subject, DNSNames: csr.DNSNames, IPAddresses: csr.IPAddresses,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}, ca, csr.PublicKey, ca.Key)
}

// Chain signs a DER CSR as IssueCSR does and returns the leaf and this CA.
func (ca *CA) Chain(t testing.TB, csrDER []byte) []*x509.Certificate {
	t.Helper()
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		t.Fatalf("CSR: %v", err)
	}
	return []*x509.Certificate{ca.IssueCSR(t, csr), ca.Cert}
}

// NewKey makes an ECDSA P-256 key.
func NewKey(t testing.TB) crypto.Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// Server issues a TLS server certificate for localhost and 127.0.0.1.
func (ca *CA) Server(t testing.TB) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key := NewKey(t)
	return sign(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, key.Public(), ca.Key), key
}

// Client issues a TLS client certificate with common name cn.
func (ca *CA) Client(t testing.TB, cn string) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key := NewKey(t)
	return sign(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, key.Public(), ca.Key), key
}

func sign(t testing.TB, tmpl *x509.Certificate, parent *CA, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 100))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	issuer := tmpl
	if parent != nil {
		issuer = parent.Cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// CertPEM encodes certificates as PEM.
func CertPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// KeyPEM encodes a private key as PKCS#8 PEM.
func KeyPEM(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// Write stores data in dir/name with mode 0600 and returns the path.
func Write(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// SignCode signs a trust anchor's verification code with the CA's key, as
// `openssl dgst -sha256 -sign ca.key code.txt | openssl base64 -A` does.
func (ca *CA) SignCode(t testing.TB, code string) string {
	t.Helper()
	digest := sha256.Sum256([]byte(code))
	sig, err := ca.Key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatalf("sign verification code: %v", err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}
