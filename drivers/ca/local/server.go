package local

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
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
	serial, err := pki.NewSerial()
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    now.Add(-pki.Backdate),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if tmpl.NotAfter.After(c.issuing.NotAfter) {
		tmpl.NotAfter = c.issuing.NotAfter
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.issuing, key.Public(), c.issuingKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate for %v: %w", hosts, err)
	}
	return tls.Certificate{Certificate: [][]byte{der, c.issuing.Raw}, PrivateKey: key}, nil
}
