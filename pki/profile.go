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

// Certificate types. The type decides the extended key usage of what is issued.
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
	Validity        time.Duration
	ApprovalMode    bool
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
// type without a from_csr rule are refused.
type SANRule struct {
	Type    string `json:"type"` // dns, ip, email or uri
	Rule    string `json:"rule"` // from_csr or fixed
	Value   string `json:"value,omitempty"`
	Pattern string `json:"pattern,omitempty"`
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
var sanTypes = []string{"dns", "ip", "email", "uri"}

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
		if !slices.Contains(sanTypes, r.Type) {
			errs = append(errs, fmt.Errorf("san_rules[%d].type: %q is not one of %v", i, r.Type, sanTypes))
		}
		if r.Rule != RuleFixed && r.Rule != RuleFromCSR {
			errs = append(errs, fmt.Errorf("san_rules[%d].rule: %q is not fixed or from_csr", i, r.Rule))
		}
		if r.Rule == RuleFixed && r.Value == "" {
			errs = append(errs, fmt.Errorf("san_rules[%d].value: a fixed rule needs a value", i))
		}
		errs = append(errs, checkPattern(fmt.Sprintf("san_rules[%d].pattern", i), r.Pattern))
		if r.Rule == RuleFromCSR && r.Pattern == "" && p.CertType == CertTypeTLS {
			errs = append(errs, fmt.Errorf("san_rules[%d].pattern: a TLS profile allows serverAuth, so a SAN taken from the CSR must match a pattern", i))
		}
	}
	for i, a := range p.ExtraAttributes {
		if _, err := parseOID(a.OID); err != nil {
			errs = append(errs, fmt.Errorf("extra_attributes[%d].oid: %w", i, err))
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
