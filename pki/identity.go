package pki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"net/url"
	"slices"
)

// Identity fields: which part of a certificate or CSR names a device.
const (
	IdentityCN           = "CN"
	IdentitySerialNumber = "serialNumber"
	IdentityDNS          = "SAN:DNS"
	IdentityURI          = "SAN:URI"
)

// IdentityFields lists the fields Identity reads.
var IdentityFields = []string{IdentityCN, IdentitySerialNumber, IdentityDNS, IdentityURI}

// Named is what certificates and CSRs have in common for naming a device.
type Named struct {
	Subject  pkix.Name
	DNSNames []string
	URIs     []*url.URL
}

// NamedCSR and NamedCertificate are the naming parts of a CSR and a certificate.
func NamedCSR(csr *x509.CertificateRequest) Named {
	return Named{Subject: csr.Subject, DNSNames: csr.DNSNames, URIs: csr.URIs}
}

func NamedCertificate(cert *x509.Certificate) Named {
	return Named{Subject: cert.Subject, DNSNames: cert.DNSNames, URIs: cert.URIs}
}

// Identity returns the values of field in n: none when the field is absent,
// several when a SAN type or serialNumber repeats.
func Identity(n Named, field string) []string {
	switch field {
	case IdentityCN, IdentitySerialNumber:
		return subjectValues(n.Subject, field)
	case IdentityDNS:
		return n.DNSNames
	case IdentityURI:
		values := make([]string, len(n.URIs))
		for i, u := range n.URIs {
			values[i] = u.String()
		}
		return values
	}
	return nil
}

// Names reports whether field in n names exactly the device deviceID: one
// value, equal to it. Two values would let one credential speak for two devices.
func Names(n Named, field, deviceID string) bool {
	values := Identity(n, field)
	return len(values) == 1 && values[0] == deviceID
}

// SameNames reports whether csr has the subject and the SANs of cert, as
// RFC 7030 §4.2.2 demands of a re-enrollment's CSR and the certificate it renews.
func SameNames(csr *x509.CertificateRequest, cert *x509.Certificate) bool {
	return csr.Subject.String() == cert.Subject.String() &&
		slices.Equal(sanSet(csr.DNSNames, csr.EmailAddresses, csr.IPAddresses, csr.URIs),
			sanSet(cert.DNSNames, cert.EmailAddresses, cert.IPAddresses, cert.URIs))
}

func sanSet(dns, emails []string, ips []net.IP, uris []*url.URL) []string {
	var all []string
	for _, v := range dns {
		all = append(all, "dns:"+v)
	}
	for _, v := range emails {
		all = append(all, "email:"+v)
	}
	for _, ip := range ips {
		all = append(all, "ip:"+ip.String())
	}
	for _, u := range uris {
		all = append(all, "uri:"+u.String())
	}
	slices.Sort(all)
	return all
}
