package local

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/certfleet/certfleet/pki"
)

// ServerCertificate issues a TLS server certificate for certfleet's own
// listeners (the EST server) with hosts as its SANs, IP addresses as IP SANs.
// The key lives only in memory and a new one is made on every start, so
// nothing about it is stored; clients trust it through the CA's root.
func (c *CA) ServerCertificate(hosts []string, validity time.Duration) (tls.Certificate, error) {
	key, err := pki.GenerateKey(pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl, err := pki.ServerTemplate(hosts, validity)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl.NotAfter = c.capped(tmpl.NotAfter)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.issuing, key.Public(), c.issuingKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate for %v: %w", hosts, err)
	}
	return tls.Certificate{Certificate: [][]byte{der, c.issuing.Raw}, PrivateKey: key}, nil
}
