package local

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"time"

	"github.com/certfleet/certfleet/pki"
)

// IssueRA issues the certificate of certfleet's SCEP registration authority
// for pub: the key SCEP clients encrypt their requests to and whose
// signature they check on the answers, so it may sign and encipher keys, and
// nothing else. Its chain is CACertificates'.
func (c *CA) IssueRA(pub crypto.PublicKey, validity time.Duration) (*x509.Certificate, error) {
	serial, err := pki.NewSerial()
	if err != nil {
		return nil, err
	}
	ski, err := pki.SubjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"certfleet"}, CommonName: fmt.Sprintf("certfleet SCEP RA (%s)", c.opts.Name)},
		NotBefore:             now.Add(-pki.Backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		SubjectKeyId:          ski,
	}
	tmpl.NotAfter = c.capped(tmpl.NotAfter)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.issuing, pub, c.issuingKey)
	if err != nil {
		return nil, fmt.Errorf("issue the SCEP RA certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}
