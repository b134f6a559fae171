package local

import (
	"context"
	"crypto/x509"
	"time"
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
	cert, err := servers.issueOwn(csr.PublicKey, "certfleet provisioning station "+name, StationValidity,
		x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
	if err != nil {
		return nil, err
	}
	return []*x509.Certificate{cert, servers.issuing, servers.root}, nil
}
