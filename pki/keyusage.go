package pki

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"slices"
)

// keyUsages are RFC 5280 §4.2.1.3's names of the key usage bits.
// nonRepudiation is the older name of contentCommitment; both are accepted.
var keyUsages = []struct {
	name string
	bit  x509.KeyUsage
}{
	{"digitalSignature", x509.KeyUsageDigitalSignature},
	{"contentCommitment", x509.KeyUsageContentCommitment},
	{"nonRepudiation", x509.KeyUsageContentCommitment},
	{"keyEncipherment", x509.KeyUsageKeyEncipherment},
	{"dataEncipherment", x509.KeyUsageDataEncipherment},
	{"keyAgreement", x509.KeyUsageKeyAgreement},
	{"keyCertSign", x509.KeyUsageCertSign},
	{"cRLSign", x509.KeyUsageCRLSign},
	{"encipherOnly", x509.KeyUsageEncipherOnly},
	{"decipherOnly", x509.KeyUsageDecipherOnly},
}

// caKeyUsages are the bits that make a key sign certificates or CRLs: a
// device must never hold one, so no profile may grant them.
const caKeyUsages = x509.KeyUsageCertSign | x509.KeyUsageCRLSign

// KeyUsageNames lists the names a profile's key_usage may hold.
func KeyUsageNames() []string {
	names := make([]string, len(keyUsages))
	for i, ku := range keyUsages {
		names[i] = ku.name
	}
	return names
}

func keyUsageBit(name string) (x509.KeyUsage, bool) {
	for _, ku := range keyUsages {
		if ku.name == name {
			return ku.bit, true
		}
	}
	return 0, false
}

// extKeyUsages are the extended key usages a profile may name rather than
// give as a dotted OID (RFC 5280 §4.2.1.12).
var extKeyUsages = []struct {
	name string
	oid  asn1.ObjectIdentifier
}{
	{"serverAuth", asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1}},
	{"clientAuth", asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 2}},
	{"codeSigning", asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 3}},
	{"emailProtection", asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 4}},
	{"timeStamping", asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}},
	{"OCSPSigning", asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 9}},
}

// refusedExtKeyUsages are EKUs a device certificate must not carry, and why.
// A certificate with OCSPSigning issued by the CA is a delegated OCSP
// responder for everything that CA issued (RFC 6960 §4.2.2.2): a device
// could answer "good" for a revoked certificate. anyExtendedKeyUsage would
// make the certificate good for every purpose, serverAuth included.
var refusedExtKeyUsages = map[string]string{
	"1.3.6.1.5.5.7.3.9": "OCSPSigning would make the device a delegated OCSP responder of the CA, able to vouch for revoked certificates",
	"2.5.29.37.0":       "anyExtendedKeyUsage would make the certificate good for every purpose",
}

// ExtKeyUsageNames lists the names a profile's ext_key_usage may hold
// besides dotted OIDs.
func ExtKeyUsageNames() []string {
	names := make([]string, len(extKeyUsages))
	for i, eku := range extKeyUsages {
		names[i] = eku.name
	}
	return names
}

// extKeyUsageOID resolves a name or a dotted OID.
func extKeyUsageOID(s string) (asn1.ObjectIdentifier, error) {
	for _, eku := range extKeyUsages {
		if eku.name == s {
			return eku.oid, nil
		}
	}
	oid, err := parseOID(s)
	if err != nil {
		return nil, fmt.Errorf("%q is neither one of %v nor a dotted OID such as 1.3.6.1.4.1.45605.1", s, ExtKeyUsageNames())
	}
	return oid, nil
}

var oidServerAuth = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1}

// checkKeyUsage validates a profile's key_usage names.
func checkKeyUsage(names []string) []error {
	var errs []error
	var seen x509.KeyUsage
	for i, name := range names {
		bit, ok := keyUsageBit(name)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("key_usage[%d]: %q is not one of %v", i, name, KeyUsageNames()))
		case bit&caKeyUsages != 0:
			errs = append(errs, fmt.Errorf("key_usage[%d]: %s is for CA certificates; certfleet issues device certificates", i, name))
		case seen&bit != 0:
			errs = append(errs, fmt.Errorf("key_usage[%d]: %s is listed twice", i, name))
		}
		seen |= bit
	}
	// RFC 5280 §4.2.1.3: encipherOnly and decipherOnly mean nothing without keyAgreement.
	if seen&(x509.KeyUsageEncipherOnly|x509.KeyUsageDecipherOnly) != 0 && seen&x509.KeyUsageKeyAgreement == 0 {
		errs = append(errs, fmt.Errorf("key_usage: encipherOnly and decipherOnly need keyAgreement (RFC 5280 §4.2.1.3)"))
	}
	return errs
}

// checkExtKeyUsage validates a profile's ext_key_usage names and OIDs.
func checkExtKeyUsage(names []string) []error {
	var errs []error
	var seen []string
	for i, name := range names {
		oid, err := extKeyUsageOID(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("ext_key_usage[%d]: %w", i, err))
			continue
		}
		if why, refused := refusedExtKeyUsages[oid.String()]; refused {
			errs = append(errs, fmt.Errorf("ext_key_usage[%d]: %s", i, why))
		}
		if slices.Contains(seen, oid.String()) {
			errs = append(errs, fmt.Errorf("ext_key_usage[%d]: %s is listed twice", i, name))
		}
		seen = append(seen, oid.String())
	}
	return errs
}

// AllowsServerAuth reports whether the profile's certificates are good for
// TLS servers: those of its ext_key_usage, or else of its certificate type.
func (p Profile) AllowsServerAuth() bool {
	if len(p.ExtKeyUsage) == 0 {
		return p.CertType == CertTypeTLS
	}
	return slices.ContainsFunc(p.ExtKeyUsage, func(s string) bool {
		oid, err := extKeyUsageOID(s)
		return err == nil && oid.Equal(oidServerAuth)
	})
}

// setKeyUsage gives tmpl the profile's key usage and extended key usage, or,
// where the profile names none, those of its certificate type as certfleet
// always issued them: digitalSignature (and keyEncipherment for RSA keys);
// clientAuth for 802.1X, serverAuth and clientAuth for TLS.
func setKeyUsage(tmpl *x509.Certificate, profile Profile, pub crypto.PublicKey) error {
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if _, isRSA := pub.(*rsa.PublicKey); isRSA {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	if len(profile.KeyUsage) > 0 {
		tmpl.KeyUsage = 0
		for _, name := range profile.KeyUsage {
			bit, ok := keyUsageBit(name)
			if !ok || bit&caKeyUsages != 0 {
				return fmt.Errorf("profile %q: key usage %q cannot be issued", profile.Name, name)
			}
			tmpl.KeyUsage |= bit
		}
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if profile.CertType == CertTypeTLS {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	if len(profile.ExtKeyUsage) > 0 {
		// All as OIDs, so that the extension lists them in the profile's
		// order; Go encodes a known OID as it would its named constant.
		tmpl.ExtKeyUsage = nil
		for _, name := range profile.ExtKeyUsage {
			oid, err := extKeyUsageOID(name)
			if err != nil {
				return fmt.Errorf("profile %q: %w", profile.Name, err)
			}
			if _, refused := refusedExtKeyUsages[oid.String()]; refused {
				return fmt.Errorf("profile %q: extended key usage %s cannot be issued", profile.Name, name)
			}
			tmpl.UnknownExtKeyUsage = append(tmpl.UnknownExtKeyUsage, oid)
		}
	}
	return nil
}
