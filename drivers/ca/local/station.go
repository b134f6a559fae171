package local

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"time"

	"github.com/certfleet/certfleet/pki"
)

// StationValidity is how long a provisioning station's client certificate
// lasts.
const StationValidity = 365 * 24 * time.Hour

// IssueStationCertificate issues provisioning station name's TLS client
// certificate for the key of csr, from the servers CA: no profile issues
// from it, so the certificate can never pass for a device's. certfleet pins
// it by fingerprint; its subject is certfleet's, whatever csr asks for.
func (s *Set) IssueStationCertificate(ctx context.Context, csr *x509.CertificateRequest, name string) ([]*x509.Certificate, error) {
	servers, err := s.Servers(ctx)
	if err != nil {
		return nil, err
	}
	serial, err := pki.NewSerial()
	if err != nil {
		return nil, err
	}
	ski, err := pki.SubjectKeyID(csr.PublicKey)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"certfleet"}, CommonName: "certfleet provisioning station " + name},
		NotBefore:             now.Add(-pki.Backdate),
		NotAfter:              servers.capped(now.Add(StationValidity)),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		SubjectKeyId:          ski,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, servers.issuing, csr.PublicKey, servers.issuingKey)
	if err != nil {
		return nil, fmt.Errorf("issue the client certificate of station %s: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return []*x509.Certificate{cert, servers.issuing, servers.root}, nil
}
