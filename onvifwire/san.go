package onvifwire

import (
	"encoding/asn1"
	"fmt"
	"net"
	"net/url"
)

// MarshalSANs encodes subject alternative names as the DER value of a
// subjectAltName extension (RFC 5280 GeneralNames); nil when there are none.
func MarshalSANs(dns, ips, emails, uris []string) ([]byte, error) {
	var names []asn1.RawValue
	for _, n := range emails {
		names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, Bytes: []byte(n)})
	}
	for _, n := range dns {
		names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte(n)})
	}
	for _, n := range uris {
		if _, err := url.Parse(n); err != nil {
			return nil, fmt.Errorf("SAN %q is not a URI", n)
		}
		names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(n)})
	}
	for _, n := range ips {
		ip := net.ParseIP(n)
		if ip == nil {
			return nil, fmt.Errorf("SAN %q is not an IP address", n)
		}
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 7, Bytes: ip})
	}
	if len(names) == 0 {
		return nil, nil
	}
	return asn1.Marshal(names)
}

// CheckSANs checks that der is a GeneralNames sequence.
func CheckSANs(der []byte) error {
	var names []asn1.RawValue
	rest, err := asn1.Unmarshal(der, &names)
	if err != nil {
		return fmt.Errorf("subjectAltName: %w", err)
	}
	if len(rest) > 0 || len(names) == 0 {
		return fmt.Errorf("subjectAltName: malformed")
	}
	for _, n := range names {
		if n.Class != asn1.ClassContextSpecific {
			return fmt.Errorf("subjectAltName: malformed name")
		}
	}
	return nil
}
