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

// CSRIdentity is Identity of the CSR's names, except that a CSR without a
// CN is named by its hardwareModuleName's hwSerialNum as text
// (HardwareModuleName.SerialText) where the CN is asked for: Wi-SUN and other
// industrial devices have an empty subject and name themselves so. A CSR
// with a CN is named by it, as always. Whether a CSR may carry a
// hardwareModuleName at all is the profile's to say: CheckCSR refuses one the
// profile has no hardware_module_name rule for, saying so, rather than this
// check refusing it as naming no device.
func CSRIdentity(csr *x509.CertificateRequest, field string) []string {
	values := Identity(NamedCSR(csr), field)
	if field != IdentityCN || len(values) > 0 {
		return values
	}
	names, err := SubjectAltNames(csr.Extensions)
	if err != nil {
		return nil // CheckCSR refuses it, naming why
	}
	for _, h := range HardwareModules(names) {
		values = append(values, h.SerialText())
	}
	return values
}

// NamesDevice reports whether the CSR names exactly the device deviceID by
// field (see CSRIdentity and Names).
func NamesDevice(csr *x509.CertificateRequest, field, deviceID string) bool {
	values := CSRIdentity(csr, field)
	return len(values) == 1 && values[0] == deviceID
}

// SameNames reports whether csr has the subject and the SANs of cert, as
// RFC 7030 §4.2.2 demands of a re-enrollment's CSR and the certificate it
// renews; otherNames such as a hardwareModuleName count too.
func SameNames(csr *x509.CertificateRequest, cert *x509.Certificate) bool {
	csrOthers, err1 := otherSANs(csr.Extensions)
	certOthers, err2 := otherSANs(cert.Extensions)
	return err1 == nil && err2 == nil && slices.Equal(csrOthers, certOthers) &&
		csr.Subject.String() == cert.Subject.String() &&
		slices.Equal(sanSet(csr.DNSNames, csr.EmailAddresses, csr.IPAddresses, csr.URIs),
			sanSet(cert.DNSNames, cert.EmailAddresses, cert.IPAddresses, cert.URIs))
}

// otherSANs lists, sorted and encoded, the SANs Go's crypto/x509 does not
// read: otherNames, directoryNames and the like.
func otherSANs(exts []pkix.Extension) ([]string, error) {
	names, err := SubjectAltNames(exts)
	if err != nil {
		return nil, err
	}
	var others []string
	for _, n := range names {
		switch n.Tag {
		case TagDNSName, TagRFC822Name, TagIPAddress, TagURI:
			continue
		}
		der, err := n.marshal()
		if err != nil {
			return nil, err
		}
		others = append(others, string(der))
	}
	slices.Sort(others)
	return others, nil
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
