package pki

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
)

// OIDs of the subjectAltName extension (RFC 5280 §4.2.1.6) and of the
// hardwareModuleName otherName (RFC 4108 §5, id-on-hardwareModuleName).
var (
	OIDSubjectAltName     = asn1.ObjectIdentifier{2, 5, 29, 17}
	OIDHardwareModuleName = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 4}
)

// GeneralName choices (RFC 5280 §4.2.1.6): the context-specific tag of each.
const (
	TagOtherName     = 0
	TagRFC822Name    = 1
	TagDNSName       = 2
	TagX400Address   = 3
	TagDirectoryName = 4
	TagEDIPartyName  = 5
	TagURI           = 6
	TagIPAddress     = 7
	TagRegisteredID  = 8
)

var generalNameChoices = map[int]string{
	TagOtherName: "otherName", TagRFC822Name: "rfc822Name", TagDNSName: "dNSName", TagX400Address: "x400Address",
	TagDirectoryName: "directoryName", TagEDIPartyName: "ediPartyName", TagURI: "uniformResourceIdentifier",
	TagIPAddress: "iPAddress", TagRegisteredID: "registeredID",
}

// SAN rule types: which GeneralName choice a profile's SAN rule is about.
const (
	SANDNS                = "dns"
	SANIP                 = "ip"
	SANEmail              = "email"
	SANURI                = "uri"
	SANHardwareModuleName = "hardware_module_name"
)

// GeneralName is one name of a subjectAltName extension. Go's crypto/x509
// reads only its DNS, email, IP and URI names and drops the others; certfleet
// reads them all, so that none of a CSR's names is dropped unseen.
type GeneralName struct {
	Tag int // one of the Tag constants
	// Value is the content of a primitive choice (the IA5String of a DNS
	// name, email or URI, the octets of an IP address, the OID of a
	// registeredID) or the DER of a constructed one (x400Address,
	// directoryName, ediPartyName). It is empty for an otherName.
	Value []byte
	// TypeID is an otherName's type-id, or a registeredID's OID.
	TypeID asn1.ObjectIdentifier
	// OtherValue is the DER inside an otherName's [0] EXPLICIT.
	OtherValue []byte
	// HardwareModule is set when the otherName is a hardwareModuleName.
	HardwareModule *HardwareModuleName
}

// HardwareModuleName identifies a hardware module by its type and serial
// number (RFC 4108 §5), as Wi-SUN and other industrial device certificates
// name their devices, often with an empty subject.
type HardwareModuleName struct {
	HWType      asn1.ObjectIdentifier
	HWSerialNum []byte
}

// SerialText is the serial number as text: the octets themselves when they
// are printable ASCII (space to tilde) and do not begin "0x", as serials such
// as "WS-0042" are; otherwise "0x" and lowercase hex, as binary serials such
// as an EUI-64 are written. No two serials share a text, so a text names one
// device. SAN rule patterns and device identities are matched against it.
func (h HardwareModuleName) SerialText() string {
	if len(h.HWSerialNum) == 0 {
		return ""
	}
	printable := !bytes.HasPrefix(h.HWSerialNum, []byte("0x"))
	for _, b := range h.HWSerialNum {
		if b < 0x20 || b > 0x7e {
			printable = false
		}
	}
	if printable {
		return string(h.HWSerialNum)
	}
	return "0x" + hex.EncodeToString(h.HWSerialNum)
}

func (h HardwareModuleName) String() string {
	return fmt.Sprintf("hwType %s, hwSerialNum %q", h.HWType, h.SerialText())
}

// HardwareModule wraps h as a GeneralName.
func HardwareModule(h HardwareModuleName) GeneralName {
	return GeneralName{Tag: TagOtherName, TypeID: OIDHardwareModuleName, HardwareModule: &h}
}

// RuleType is the profile SAN rule type that keeps n, or "" when no rule can:
// certfleet does not issue otherNames of other types, x400Address,
// directoryName, ediPartyName or registeredID.
func (n GeneralName) RuleType() string {
	switch n.Tag {
	case TagDNSName:
		return SANDNS
	case TagRFC822Name:
		return SANEmail
	case TagURI:
		return SANURI
	case TagIPAddress:
		return SANIP
	case TagOtherName:
		if n.HardwareModule != nil {
			return SANHardwareModuleName
		}
	}
	return ""
}

// String describes n for a refusal: its choice, and its type-id or value
// when that tells it apart.
func (n GeneralName) String() string {
	choice := generalNameChoices[n.Tag]
	switch n.Tag {
	case TagOtherName:
		if n.HardwareModule != nil {
			return "otherName hardwareModuleName (" + n.HardwareModule.String() + ")"
		}
		return fmt.Sprintf("otherName of type-id %s", n.TypeID)
	case TagDNSName, TagRFC822Name, TagURI:
		return fmt.Sprintf("%s %q", choice, n.Value)
	case TagIPAddress:
		return fmt.Sprintf("%s %s", choice, net.IP(n.Value))
	case TagRegisteredID:
		return fmt.Sprintf("%s %s", choice, n.TypeID)
	}
	return choice
}

// ParseGeneralNames reads the value of a subjectAltName extension, refusing
// anything that is not DER: GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName.
func ParseGeneralNames(der []byte) ([]GeneralName, error) {
	var seq asn1.RawValue
	rest, err := asn1.Unmarshal(der, &seq)
	if err != nil {
		return nil, fmt.Errorf("subjectAltName: %w", err)
	}
	if len(rest) > 0 || seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence || !seq.IsCompound {
		return nil, errors.New("subjectAltName: not a SEQUENCE of GeneralName")
	}
	var names []GeneralName
	for rest = seq.Bytes; len(rest) > 0; {
		var raw asn1.RawValue
		if rest, err = asn1.Unmarshal(rest, &raw); err != nil {
			return nil, fmt.Errorf("subjectAltName name %d: %w", len(names), err)
		}
		name, err := parseGeneralName(raw)
		if err != nil {
			return nil, fmt.Errorf("subjectAltName name %d: %w", len(names), err)
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil, errors.New("subjectAltName: no names")
	}
	return names, nil
}

// constructed says which choices are constructed: otherName (an implicit
// SEQUENCE) and the three explicitly tagged or SEQUENCE ones.
var constructed = map[int]bool{TagOtherName: true, TagX400Address: true, TagDirectoryName: true, TagEDIPartyName: true}

func parseGeneralName(raw asn1.RawValue) (GeneralName, error) {
	if raw.Class != asn1.ClassContextSpecific || raw.Tag > TagRegisteredID {
		return GeneralName{}, fmt.Errorf("[%d] of class %d is not a GeneralName", raw.Tag, raw.Class)
	}
	if raw.IsCompound != constructed[raw.Tag] {
		return GeneralName{}, fmt.Errorf("%s: wrong encoding (constructed %t)", generalNameChoices[raw.Tag], raw.IsCompound)
	}
	name := GeneralName{Tag: raw.Tag, Value: raw.Bytes}
	switch raw.Tag {
	case TagOtherName:
		return parseOtherName(raw.Bytes)
	case TagX400Address, TagDirectoryName, TagEDIPartyName:
		name.Value = raw.FullBytes
	case TagDNSName, TagRFC822Name, TagURI:
		if !isIA5(raw.Bytes) {
			return GeneralName{}, fmt.Errorf("%s: not an IA5String", generalNameChoices[raw.Tag])
		}
	case TagIPAddress:
		if len(raw.Bytes) != net.IPv4len && len(raw.Bytes) != net.IPv6len {
			return GeneralName{}, fmt.Errorf("iPAddress: %d octets, want 4 or 16", len(raw.Bytes))
		}
	case TagRegisteredID:
		if _, err := asn1.UnmarshalWithParams(raw.FullBytes, &name.TypeID, "tag:8"); err != nil {
			return GeneralName{}, fmt.Errorf("registeredID: %w", err)
		}
	}
	return name, nil
}

// parseOtherName reads the content of otherName ::= [0] IMPLICIT SEQUENCE
// { type-id OBJECT IDENTIFIER, value [0] EXPLICIT ANY DEFINED BY type-id }.
func parseOtherName(content []byte) (GeneralName, error) {
	name := GeneralName{Tag: TagOtherName}
	rest, err := asn1.Unmarshal(content, &name.TypeID)
	if err != nil {
		return GeneralName{}, fmt.Errorf("otherName type-id: %w", err)
	}
	var explicit, value asn1.RawValue
	if rest, err = asn1.Unmarshal(rest, &explicit); err != nil {
		return GeneralName{}, fmt.Errorf("otherName %s value: %w", name.TypeID, err)
	}
	if len(rest) > 0 || explicit.Class != asn1.ClassContextSpecific || explicit.Tag != 0 || !explicit.IsCompound {
		return GeneralName{}, fmt.Errorf("otherName %s: want one [0] EXPLICIT value", name.TypeID)
	}
	if rest, err = asn1.Unmarshal(explicit.Bytes, &value); err != nil || len(rest) > 0 {
		return GeneralName{}, fmt.Errorf("otherName %s: the [0] EXPLICIT value is not one ASN.1 value", name.TypeID)
	}
	name.OtherValue = value.FullBytes
	if name.TypeID.Equal(OIDHardwareModuleName) {
		h, err := parseHardwareModuleName(value.FullBytes)
		if err != nil {
			return GeneralName{}, err
		}
		name.HardwareModule, name.OtherValue = &h, nil
	}
	return name, nil
}

func parseHardwareModuleName(der []byte) (HardwareModuleName, error) {
	var h HardwareModuleName
	rest, err := asn1.Unmarshal(der, &h)
	if err != nil || len(rest) > 0 {
		return HardwareModuleName{}, fmt.Errorf("hardwareModuleName: not a SEQUENCE { hwType OBJECT IDENTIFIER, hwSerialNum OCTET STRING }")
	}
	// encoding/asn1 ignores elements past the struct's fields; re-encoding
	// tells such extras (and any other leniency) from the DER it expects.
	again, err := asn1.Marshal(h)
	if err != nil || !bytes.Equal(again, der) {
		return HardwareModuleName{}, fmt.Errorf("hardwareModuleName: not DER, or more than hwType and hwSerialNum")
	}
	if len(h.HWSerialNum) == 0 {
		return HardwareModuleName{}, fmt.Errorf("hardwareModuleName: empty hwSerialNum")
	}
	return h, nil
}

// MarshalGeneralNames encodes names as the value of a subjectAltName extension.
func MarshalGeneralNames(names []GeneralName) ([]byte, error) {
	if len(names) == 0 {
		return nil, errors.New("subjectAltName: no names")
	}
	var content []byte
	for _, n := range names {
		der, err := n.marshal()
		if err != nil {
			return nil, err
		}
		content = append(content, der...)
	}
	return asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: content})
}

func (n GeneralName) marshal() ([]byte, error) {
	switch n.Tag {
	case TagOtherName:
		return n.marshalOtherName()
	case TagX400Address, TagDirectoryName, TagEDIPartyName:
		return n.Value, nil // kept as read, tag and all
	case TagDNSName, TagRFC822Name, TagURI:
		if !isIA5(n.Value) {
			return nil, fmt.Errorf("%s %q: not ASCII (IA5String)", generalNameChoices[n.Tag], n.Value)
		}
	case TagIPAddress:
		if len(n.Value) != net.IPv4len && len(n.Value) != net.IPv6len {
			return nil, fmt.Errorf("iPAddress: %d octets, want 4 or 16", len(n.Value))
		}
	case TagRegisteredID:
		if len(n.Value) == 0 {
			return asn1.MarshalWithParams(n.TypeID, "tag:8")
		}
	default:
		return nil, fmt.Errorf("[%d] is not a GeneralName", n.Tag)
	}
	return asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: n.Tag, Bytes: n.Value})
}

func (n GeneralName) marshalOtherName() ([]byte, error) {
	value := n.OtherValue
	if n.HardwareModule != nil {
		if !n.TypeID.Equal(OIDHardwareModuleName) {
			return nil, fmt.Errorf("otherName %s carries a hardwareModuleName", n.TypeID)
		}
		if len(n.HardwareModule.HWSerialNum) == 0 {
			return nil, errors.New("hardwareModuleName: empty hwSerialNum")
		}
		var err error
		if value, err = asn1.Marshal(*n.HardwareModule); err != nil {
			return nil, fmt.Errorf("encode hardwareModuleName: %w", err)
		}
	}
	typeID, err := asn1.Marshal(n.TypeID)
	if err != nil {
		return nil, fmt.Errorf("encode otherName type-id: %w", err)
	}
	explicit, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: value})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: TagOtherName, IsCompound: true, Bytes: append(typeID, explicit...)})
}

func isIA5(b []byte) bool {
	for _, c := range b {
		if c > 0x7f {
			return false
		}
	}
	return true
}

// SubjectAltNames reads the subjectAltName extension among exts (a CSR's
// requested extensions or a certificate's): none when there is none, an
// error when it cannot be read or occurs twice.
func SubjectAltNames(exts []pkix.Extension) ([]GeneralName, error) {
	var names []GeneralName
	found := false
	for _, ext := range exts {
		if !ext.Id.Equal(OIDSubjectAltName) {
			continue
		}
		if found {
			return nil, errors.New("two subjectAltName extensions")
		}
		found = true
		var err error
		if names, err = ParseGeneralNames(ext.Value); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// HardwareModules are the hardwareModuleNames among names.
func HardwareModules(names []GeneralName) []HardwareModuleName {
	var modules []HardwareModuleName
	for _, n := range names {
		if n.HardwareModule != nil {
			modules = append(modules, *n.HardwareModule)
		}
	}
	return modules
}

// templateNames lists the names Go would put in tmpl's subjectAltName, in
// Go's order: DNS names, email addresses, IP addresses, URIs.
func templateNames(tmpl *x509.Certificate) []GeneralName {
	var names []GeneralName
	for _, v := range tmpl.DNSNames {
		names = append(names, GeneralName{Tag: TagDNSName, Value: []byte(v)})
	}
	for _, v := range tmpl.EmailAddresses {
		names = append(names, GeneralName{Tag: TagRFC822Name, Value: []byte(v)})
	}
	for _, ip := range tmpl.IPAddresses {
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		names = append(names, GeneralName{Tag: TagIPAddress, Value: []byte(ip)})
	}
	for _, u := range tmpl.URIs {
		names = append(names, GeneralName{Tag: TagURI, Value: []byte(u.String())})
	}
	return names
}

// subjectAltNameExtension is tmpl's subjectAltName with otherNames that Go
// cannot encode added first. It is critical when the subject is empty, as
// RFC 5280 §4.2.1.6 demands: the SANs are then the only names.
func subjectAltNameExtension(tmpl *x509.Certificate, others []GeneralName) (pkix.Extension, error) {
	value, err := MarshalGeneralNames(append(others, templateNames(tmpl)...))
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("encode subjectAltName: %w", err)
	}
	return pkix.Extension{Id: OIDSubjectAltName, Critical: len(tmpl.Subject.ToRDNSequence()) == 0, Value: value}, nil
}
