package pki

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"net"
	"net/url"
	"time"
)

var oidSerialNumber = asn1.ObjectIdentifier{2, 5, 4, 5}

// Backdate covers devices whose clocks run a little behind the CA's.
const Backdate = 5 * time.Minute

// LeafTemplate is the certificate a CA signs for csr under profile, valid from
// now: subject by the profile's rules, SANs, key usage and extended key usage by
// the profile (or its certificate type), the profile's extra extensions and a
// subject key ID. The caller has run CheckCSR and sets the serial number and the
// issuer's own fields (CRL distribution point; Go sets the authority key ID
// from the issuer).
//
// The template's DNSNames, EmailAddresses, IPAddresses and URIs always hold its
// SANs, for callers that check them. When a hardwareModuleName must be carried,
// which Go cannot encode, the whole subjectAltName is in ExtraExtensions as well,
// and Go, finding it there, does not write its own.
func LeafTemplate(csr *x509.CertificateRequest, profile Profile, now time.Time) (*x509.Certificate, error) {
	ski, err := SubjectKeyID(csr.PublicKey)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		Subject:               leafSubject(csr.Subject, profile.SubjectRules),
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(profile.Validity),
		BasicConstraintsValid: true,
		SubjectKeyId:          ski,
	}
	if err := setKeyUsage(tmpl, profile, csr.PublicKey); err != nil {
		return nil, err
	}
	if err := addSANs(tmpl, csr, profile.SANRules); err != nil {
		return nil, err
	}
	if err := addHardwareModules(tmpl, csr, profile.SANRules); err != nil {
		return nil, err
	}
	for _, attr := range profile.ExtraAttributes {
		oid, err := parseOID(attr.OID)
		if err != nil {
			return nil, fmt.Errorf("profile %q: %w", profile.Name, err)
		}
		value, err := asn1.MarshalWithParams(attr.Value, "utf8")
		if err != nil {
			return nil, fmt.Errorf("encode extension %s: %w", attr.OID, err)
		}
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: oid, Value: value})
	}
	return tmpl, nil
}

func leafSubject(requested pkix.Name, rules []SubjectRule) pkix.Name {
	var name pkix.Name
	for _, rule := range rules {
		value := rule.Value
		if rule.Rule != RuleFixed {
			if values := subjectValues(requested, rule.Attr); len(values) > 0 {
				value = values[0]
			}
		}
		if value != "" {
			setSubjectValue(&name, rule.Attr, value)
		}
	}
	return name
}

func addSANs(tmpl *x509.Certificate, csr *x509.CertificateRequest, rules []SANRule) error {
	for _, rule := range rules {
		if rule.Rule == RuleFromCSR {
			switch rule.Type {
			case "dns":
				tmpl.DNSNames = append(tmpl.DNSNames, csr.DNSNames...)
			case "ip":
				tmpl.IPAddresses = append(tmpl.IPAddresses, csr.IPAddresses...)
			case "email":
				tmpl.EmailAddresses = append(tmpl.EmailAddresses, csr.EmailAddresses...)
			case "uri":
				tmpl.URIs = append(tmpl.URIs, csr.URIs...)
			}
			continue
		}
		if err := addFixedSAN(tmpl, rule); err != nil {
			return err
		}
	}
	return nil
}

// addHardwareModules carries the CSR's hardwareModuleName, when the profile
// keeps it, in a subjectAltName of its own making with the template's other SANs.
func addHardwareModules(tmpl *x509.Certificate, csr *x509.CertificateRequest, rules []SANRule) error {
	if _, keep := fromCSRRule(rules, SANHardwareModuleName); !keep {
		return nil
	}
	requested, err := SubjectAltNames(csr.Extensions)
	if err != nil {
		return fmt.Errorf("read the CSR's subjectAltName: %w", err)
	}
	var modules []GeneralName
	for _, h := range HardwareModules(requested) {
		modules = append(modules, HardwareModule(h))
	}
	if len(modules) == 0 {
		return nil
	}
	ext, err := subjectAltNameExtension(tmpl, modules)
	if err != nil {
		return err
	}
	tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, ext)
	return nil
}

func addFixedSAN(tmpl *x509.Certificate, rule SANRule) error {
	switch rule.Type {
	case "dns":
		tmpl.DNSNames = append(tmpl.DNSNames, rule.Value)
	case "email":
		tmpl.EmailAddresses = append(tmpl.EmailAddresses, rule.Value)
	case "ip":
		ip := net.ParseIP(rule.Value)
		if ip == nil {
			return fmt.Errorf("fixed IP SAN %q is not an IP address", rule.Value)
		}
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	case "uri":
		u, err := url.Parse(rule.Value)
		if err != nil {
			return fmt.Errorf("fixed URI SAN %q: %w", rule.Value, err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	return nil
}

// subjectValues returns the values of one attribute of a name.
func subjectValues(name pkix.Name, attr string) []string {
	switch attr {
	case "CN":
		if name.CommonName == "" {
			return nil
		}
		return []string{name.CommonName}
	case "O":
		return name.Organization
	case "OU":
		return name.OrganizationalUnit
	case "C":
		return name.Country
	case "ST":
		return name.Province
	case "L":
		return name.Locality
	case "serialNumber":
		var values []string
		for _, atv := range name.Names {
			if atv.Type.Equal(oidSerialNumber) {
				values = append(values, fmt.Sprint(atv.Value))
			}
		}
		return values
	}
	return nil
}

func setSubjectValue(name *pkix.Name, attr, value string) {
	switch attr {
	case "CN":
		name.CommonName = value
	case "O":
		name.Organization = []string{value}
	case "OU":
		name.OrganizationalUnit = []string{value}
	case "C":
		name.Country = []string{value}
	case "ST":
		name.Province = []string{value}
	case "L":
		name.Locality = []string{value}
	case "serialNumber":
		name.SerialNumber = value
	}
}

// SubjectKeyID derives a key identifier as RFC 7093 method 1 does: the
// leftmost 160 bits of the SHA-256 of the subjectPublicKey bit string.
func SubjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	sum := sha256.Sum256(spki.PublicKey.Bytes)
	return sum[:20], nil
}

// IssuedBy reports whether issuer signed cert: its name is cert's issuer
// and its key verifies cert's signature.
func IssuedBy(cert, issuer *x509.Certificate) bool {
	return bytes.Equal(cert.RawIssuer, issuer.RawSubject) && cert.CheckSignatureFrom(issuer) == nil
}

// ServerTemplate is a TLS server certificate for hosts (the first is also the
// common name; IP addresses become IP SANs), valid from now, backdated for
// clock skew, for validity. The caller signs it.
func ServerTemplate(hosts []string, validity time.Duration) (*x509.Certificate, error) {
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    now.Add(-Backdate),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return tmpl, nil
}
