package pki

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Certificate types. The type decides the key usage and extended key usage of
// what is issued, unless the profile names its own.
const (
	CertTypeIEEE8021X = "ieee8021x" // network access: clientAuth
	CertTypeTLS       = "tls"       // device web servers and clients: serverAuth and clientAuth
)

// Subject rule kinds: how one subject attribute of an issued certificate is set.
const (
	RuleFixed   = "fixed"    // always the profile's value; the CSR's is ignored
	RuleDefault = "default"  // the CSR's value, or the profile's when the CSR has none
	RuleFromCSR = "from_csr" // the CSR's value, which must be present (and match Pattern, if set)
)

// Profile is the template certificates are issued from: what they say and what
// a CSR must look like to get one.
type Profile struct {
	ID              int64
	Name            string
	CertType        string
	SubjectRules    []SubjectRule
	SANRules        []SANRule
	ExtraAttributes []ExtraAttribute
	KeyAlgorithms   []KeyAlgorithm
	// KeyUsage names RFC 5280 key usage bits (digitalSignature…) and
	// ExtKeyUsage extended key usages (serverAuth…, or dotted OIDs for
	// private ones such as Wi-SUN's); empty means the certificate type's.
	KeyUsage     []string
	ExtKeyUsage  []string
	Validity     time.Duration
	ApprovalMode bool
}

// SubjectRule sets one subject attribute. Attributes without a rule are left
// out of the certificate, whatever the CSR says.
type SubjectRule struct {
	Attr    string `json:"attr"` // CN, O, OU, C, ST, L or serialNumber
	Rule    string `json:"rule"`
	Value   string `json:"value,omitempty"`
	Pattern string `json:"pattern,omitempty"` // for from_csr and default: a regular expression the CSR's value must match
}

// SANRule allows or adds subject alternative names of one type. CSR SANs of a
// type without a from_csr rule are refused, as are those of a type no rule
// can keep (otherNames other than hardwareModuleName, directoryName…).
type SANRule struct {
	Type  string `json:"type"` // dns, ip, email, uri or hardware_module_name
	Rule  string `json:"rule"` // from_csr or fixed (hardware_module_name: from_csr only)
	Value string `json:"value,omitempty"`
	// Pattern is a regular expression the CSR's names of the type must
	// match; a hardwareModuleName's is matched against its serial as text
	// (HardwareModuleName.SerialText).
	Pattern string `json:"pattern,omitempty"`
	// HWType is, for hardware_module_name, the dotted OID the CSR's hwType
	// must be; empty allows any.
	HWType string `json:"hw_type,omitempty"`
}

// ExtraAttribute is a custom extension added to every certificate, with its
// value encoded as an ASN.1 UTF8String.
type ExtraAttribute struct {
	OID   string `json:"oid"`
	Value string `json:"value"`
}

// KeyAlgorithm lists the sizes of one algorithm a profile allows.
type KeyAlgorithm struct {
	Algorithm string `json:"algorithm"`
	Sizes     []int  `json:"sizes"`
}

var subjectAttrs = []string{"CN", "O", "OU", "C", "ST", "L", "serialNumber"}
var sanTypes = []string{SANDNS, SANIP, SANEmail, SANURI, SANHardwareModuleName}

// oidCE is the arc of RFC 5280's standard extensions (id-ce), which
// certfleet sets itself from the profile's rules and usages.
var oidCE = asn1.ObjectIdentifier{2, 5, 29}

// Validate checks that a profile is internally consistent, so that a bad
// profile is refused when it is saved rather than when a device enrolls.
func (p Profile) Validate() error {
	var errs []error
	if p.CertType != CertTypeIEEE8021X && p.CertType != CertTypeTLS {
		errs = append(errs, fmt.Errorf("cert_type: want %s or %s, got %q", CertTypeIEEE8021X, CertTypeTLS, p.CertType))
	}
	if p.Validity <= 0 {
		errs = append(errs, errors.New("validity: must be positive"))
	}
	for i, r := range p.SubjectRules {
		if !slices.Contains(subjectAttrs, r.Attr) {
			errs = append(errs, fmt.Errorf("subject_rules[%d].attr: %q is not one of %v", i, r.Attr, subjectAttrs))
		}
		if !slices.Contains([]string{RuleFixed, RuleDefault, RuleFromCSR}, r.Rule) {
			errs = append(errs, fmt.Errorf("subject_rules[%d].rule: %q is not fixed, default or from_csr", i, r.Rule))
		}
		if r.Rule == RuleFixed && r.Value == "" {
			errs = append(errs, fmt.Errorf("subject_rules[%d].value: a fixed rule needs a value", i))
		}
		errs = append(errs, checkPattern(fmt.Sprintf("subject_rules[%d].pattern", i), r.Pattern))
	}
	for i, r := range p.SANRules {
		errs = append(errs, p.checkSANRule(i, r)...)
	}
	if n := countRules(p.SANRules, SANHardwareModuleName); n > 1 {
		errs = append(errs, fmt.Errorf("san_rules: %d hardware_module_name rules; one is allowed", n))
	}
	errs = append(errs, checkKeyUsage(p.KeyUsage)...)
	errs = append(errs, checkExtKeyUsage(p.ExtKeyUsage)...)
	for i, a := range p.ExtraAttributes {
		oid, err := parseOID(a.OID)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("extra_attributes[%d].oid: %w", i, err))
		case len(oid) > len(oidCE) && oid[:len(oidCE)].Equal(oidCE):
			errs = append(errs, fmt.Errorf("extra_attributes[%d].oid: %s is a standard extension certfleet sets itself (see key_usage, ext_key_usage and san_rules)", i, a.OID))
		}
	}
	if len(p.KeyAlgorithms) == 0 {
		errs = append(errs, errors.New("key_algorithms: at least one is required"))
	}
	for i, ka := range p.KeyAlgorithms {
		for _, size := range ka.Sizes {
			if spec := (KeySpec{Algorithm: ka.Algorithm, Size: size}); !spec.Supported() {
				errs = append(errs, fmt.Errorf("key_algorithms[%d]: %s is not supported", i, spec))
			}
		}
		if len(ka.Sizes) == 0 {
			errs = append(errs, fmt.Errorf("key_algorithms[%d].sizes: at least one is required", i))
		}
	}
	return errors.Join(errs...)
}

func (p Profile) checkSANRule(i int, r SANRule) []error {
	var errs []error
	if !slices.Contains(sanTypes, r.Type) {
		errs = append(errs, fmt.Errorf("san_rules[%d].type: %q is not one of %v", i, r.Type, sanTypes))
	}
	switch {
	case r.Rule != RuleFixed && r.Rule != RuleFromCSR:
		errs = append(errs, fmt.Errorf("san_rules[%d].rule: %q is not fixed or from_csr", i, r.Rule))
	case r.Type == SANHardwareModuleName && r.Rule != RuleFromCSR:
		errs = append(errs, fmt.Errorf("san_rules[%d].rule: a hardware module's name comes from the CSR: from_csr only", i))
	case r.Rule == RuleFixed && r.Value == "":
		errs = append(errs, fmt.Errorf("san_rules[%d].value: a fixed rule needs a value", i))
	}
	errs = append(errs, checkPattern(fmt.Sprintf("san_rules[%d].pattern", i), r.Pattern))
	if r.Type == SANHardwareModuleName && r.HWType == "" {
		// The serial names the device, and serials are unique only within a hwType.
		errs = append(errs, fmt.Errorf("san_rules[%d].hw_type: a hardware_module_name rule names the hwType (a dotted OID) its serials belong to", i))
	}
	if r.HWType != "" {
		if r.Type != SANHardwareModuleName {
			errs = append(errs, fmt.Errorf("san_rules[%d].hw_type: only a hardware_module_name rule has one", i))
		} else if _, err := parseOID(r.HWType); err != nil {
			errs = append(errs, fmt.Errorf("san_rules[%d].hw_type: %w", i, err))
		}
	}
	// A hardwareModuleName names no server, so serverAuth does not need it pinned.
	if r.Rule == RuleFromCSR && r.Pattern == "" && r.Type != SANHardwareModuleName && p.AllowsServerAuth() {
		errs = append(errs, fmt.Errorf("san_rules[%d].pattern: the profile's certificates are good for serverAuth, so a SAN taken from the CSR must match a pattern", i))
	}
	return errs
}

func countRules(rules []SANRule, typ string) int {
	n := 0
	for _, r := range rules {
		if r.Type == typ {
			n++
		}
	}
	return n
}

func checkPattern(field, pattern string) error {
	if pattern == "" {
		return nil
	}
	if _, err := regexp.Compile(pattern); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	return nil
}

// AllowsKey reports whether the profile allows keys of spec.
func (p Profile) AllowsKey(spec KeySpec) bool {
	if !spec.Supported() {
		return false
	}
	for _, ka := range p.KeyAlgorithms {
		if ka.Algorithm == spec.Algorithm && slices.Contains(ka.Sizes, spec.Size) {
			return true
		}
	}
	return false
}

var oidPattern = regexp.MustCompile(`^[0-2](\.(0|[1-9][0-9]{0,8})){1,30}$`)

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	if !oidPattern.MatchString(s) {
		return nil, fmt.Errorf("%q is not a dotted OID such as 1.3.6.1.4.1.99999.1", s)
	}
	var oid asn1.ObjectIdentifier
	for _, part := range strings.Split(s, ".") {
		n, _ := strconv.Atoi(part) // the pattern allows only short decimal numbers
		oid = append(oid, n)
	}
	if _, err := asn1.Marshal(oid); err != nil {
		return nil, fmt.Errorf("%q cannot be encoded: %w", s, err)
	}
	return oid, nil
}
