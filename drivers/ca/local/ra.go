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
	return c.issueOwn(pub, fmt.Sprintf("certfleet SCEP RA (%s)", c.opts.Name), validity,
		x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment, nil)
}

// issueOwn issues a certificate of certfleet's own (not a device's) for pub,
// named commonName in certfleet's organisation, within the CA's life.
func (c *CA) issueOwn(pub crypto.PublicKey, commonName string, validity time.Duration, usage x509.KeyUsage, extUsage []x509.ExtKeyUsage) (*x509.Certificate, error) {
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
		Subject:               pkix.Name{Organization: []string{"certfleet"}, CommonName: commonName},
		NotBefore:             now.Add(-pki.Backdate),
		NotAfter:              c.capped(now.Add(validity)),
		KeyUsage:              usage,
		ExtKeyUsage:           extUsage,
		BasicConstraintsValid: true,
		SubjectKeyId:          ski,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.issuing, pub, c.issuingKey)
	if err != nil {
		return nil, fmt.Errorf("issue the certificate of %s: %w", commonName, err)
	}
	return x509.ParseCertificate(der)
}
