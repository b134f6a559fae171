package pki

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// MaxPEMSize bounds PEM input from outside: a long chain is a few tens of KB.
const MaxPEMSize = 1 << 20

// ParseCertificatesPEM parses one or more PEM "CERTIFICATE" blocks. Anything
// else in the input (other block types, trailing garbage) is an error, so that
// a pasted private key or a truncated file is refused rather than ignored.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	if len(data) > MaxPEMSize {
		return nil, fmt.Errorf("PEM input is %d bytes, more than the %d allowed", len(data), MaxPEMSize)
	}
	var certs []*x509.Certificate
	rest := data
	for i := 1; ; i++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is %q, want CERTIFICATE", i, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", i, err)
		}
		certs = append(certs, cert)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("input has data that is not a PEM block")
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block found")
	}
	return certs, nil
}

// EncodeCertificatesPEM writes certificates as consecutive PEM blocks.
func EncodeCertificatesPEM(certs ...*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, cert := range certs {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	}
	return buf.Bytes()
}

// ParseCSR parses a PKCS#10 request in DER or PEM and verifies its signature,
// which proves that the requester holds the private key.
func ParseCSR(data []byte) (*x509.CertificateRequest, error) {
	der := data
	if block, rest := pem.Decode(data); block != nil {
		if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
			return nil, fmt.Errorf("PEM block is %q, want CERTIFICATE REQUEST", block.Type)
		}
		if len(bytes.TrimSpace(rest)) > 0 {
			return nil, errors.New("CSR input has data after the PEM block")
		}
		der = block.Bytes
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("parse CSR: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("CSR signature does not verify: %w", err)
	}
	return csr, nil
}

// Fingerprint is the SHA-256 of a certificate's DER encoding.
func Fingerprint(cert *x509.Certificate) []byte {
	sum := sha256.Sum256(cert.Raw)
	return sum[:]
}

// OrderChain sorts CA certificates from the lowest (the one that signed no
// other in the set) up to the root, as EST /cacerts sets come in any order.
// Certificates that do not fit one chain keep their place after it.
func OrderChain(certs []*x509.Certificate) []*x509.Certificate {
	signsAnother := func(c *x509.Certificate) bool {
		for _, other := range certs {
			if other != c && bytes.Equal(other.RawIssuer, c.RawSubject) && other.CheckSignatureFrom(c) == nil {
				return true
			}
		}
		return false
	}
	var ordered []*x509.Certificate
	used := map[*x509.Certificate]bool{}
	for _, c := range certs {
		if !signsAnother(c) {
			ordered, used[c] = append(ordered, c), true
			break
		}
	}
	for len(ordered) > 0 {
		last := ordered[len(ordered)-1]
		var next *x509.Certificate
		for _, c := range certs {
			if !used[c] && bytes.Equal(last.RawIssuer, c.RawSubject) && last.CheckSignatureFrom(c) == nil {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		ordered, used[next] = append(ordered, next), true
	}
	for _, c := range certs {
		if !used[c] {
			ordered = append(ordered, c)
		}
	}
	return ordered
}
