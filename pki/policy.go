package pki

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"regexp"
	"slices"
)

// PolicyError is a CSR refused by a profile. Rule names the rule that failed,
// so that the refusal can be acted on.
type PolicyError struct {
	Rule   string
	Detail string
}

func (e *PolicyError) Error() string {
	return fmt.Sprintf("CSR refused by rule %s: %s", e.Rule, e.Detail)
}

func refuse(rule, format string, args ...any) error {
	return &PolicyError{Rule: rule, Detail: fmt.Sprintf(format, args...)}
}

// CheckCSR decides whether a parsed CSR may be issued under profile. The CSR's
// signature is checked again, so the result holds whoever parsed it.
func CheckCSR(csr *x509.CertificateRequest, profile Profile) error {
	if err := csr.CheckSignature(); err != nil {
		return refuse("signature", "the CSR's signature does not verify: %v", err)
	}
	spec, err := SpecOf(csr.PublicKey)
	if err != nil {
		return refuse("key_algorithms", "%v", err)
	}
	if !spec.Supported() {
		return refuse("key_algorithms", "%s keys are not accepted (RSA needs 2048 bits or more; ECDSA P-256 or P-384)", spec)
	}
	if !profile.AllowsKey(spec) {
		return refuse("key_algorithms", "profile %q does not allow %s keys", profile.Name, spec)
	}
	for _, rule := range profile.SubjectRules {
		if err := checkSubjectRule(csr, rule); err != nil {
			return err
		}
	}
	requested, err := checkSANs(csr, profile.SANRules)
	if err != nil {
		return err
	}
	return checkSomeName(csr, profile, requested)
}

func checkSubjectRule(csr *x509.CertificateRequest, rule SubjectRule) error {
	if rule.Rule == RuleFixed {
		return nil
	}
	values := subjectValues(csr.Subject, rule.Attr)
	name := "subject_rules." + rule.Attr
	if len(values) > 1 {
		return refuse(name, "the CSR has %d %s values; one is allowed", len(values), rule.Attr)
	}
	if len(values) == 0 {
		if rule.Rule == RuleFromCSR {
			return refuse(name, "the CSR has no %s, which the profile takes from the CSR", rule.Attr)
		}
		return nil
	}
	if rule.Pattern != "" && !matches(rule.Pattern, values[0]) {
		return refuse(name, "%s %q does not match %s", rule.Attr, values[0], rule.Pattern)
	}
	return nil
}

// checkSANs checks every SAN the CSR asks for against the rules and returns
// them all. The CSR's own subjectAltName is read, not only what Go parsed of
// it, so that a name of a type the profile does not keep is refused, never
// dropped: a device must not get a certificate that leaves out a name it
// asked for.
func checkSANs(csr *x509.CertificateRequest, rules []SANRule) ([]GeneralName, error) {
	requested, err := SubjectAltNames(csr.Extensions)
	if err != nil {
		return nil, refuse("san_rules", "the CSR's subjectAltName cannot be read: %v", err)
	}
	for _, n := range requested {
		if n.RuleType() == "" {
			return nil, refuse("san_rules", "the CSR has a SAN of a type no SAN rule keeps, %s; certfleet refuses it rather than issue a certificate without it", n)
		}
	}
	byType := csrSANs(csr)
	for _, typ := range []string{SANDNS, SANIP, SANEmail, SANURI} {
		values := byType[typ]
		if len(values) == 0 {
			continue
		}
		rule, ok := fromCSRRule(rules, typ)
		if !ok {
			return nil, refuse("san_rules."+typ, "the profile does not take %s SANs from the CSR, and the CSR has %q", typ, values)
		}
		for _, v := range values {
			if rule.Pattern != "" && !matches(rule.Pattern, v) {
				return nil, refuse("san_rules."+typ, "%s SAN %q does not match %s", typ, v, rule.Pattern)
			}
		}
	}
	// Other requested extensions are ignored, not refused: many devices ask for
	// key usages, and LeafTemplate takes extensions only from the profile.
	return requested, checkHardwareModules(HardwareModules(requested), rules)
}

func fromCSRRule(rules []SANRule, typ string) (SANRule, bool) {
	idx := slices.IndexFunc(rules, func(r SANRule) bool { return r.Type == typ && r.Rule == RuleFromCSR })
	if idx < 0 {
		return SANRule{}, false
	}
	return rules[idx], true
}

// checkHardwareModules checks a CSR's hardwareModuleNames: at most one, since
// it names the device, of the rule's hwType and matching its pattern.
func checkHardwareModules(modules []HardwareModuleName, rules []SANRule) error {
	const name = "san_rules." + SANHardwareModuleName
	if len(modules) == 0 {
		return nil
	}
	rule, ok := fromCSRRule(rules, SANHardwareModuleName)
	if !ok {
		return refuse(name, "the CSR has an otherName hardwareModuleName SAN (RFC 4108; %s), which the profile does not keep: it has no hardware_module_name SAN rule", modules[0])
	}
	if len(modules) > 1 {
		return refuse(name, "the CSR has %d hardwareModuleName SANs; one is allowed, as it names the device", len(modules))
	}
	h := modules[0]
	if rule.HWType != "" && h.HWType.String() != rule.HWType {
		return refuse(name, "the CSR's hardwareModuleName has hwType %s; the profile wants %s", h.HWType, rule.HWType)
	}
	if rule.Pattern != "" && !matches(rule.Pattern, h.SerialText()) {
		return refuse(name, "hwSerialNum %q does not match %s", h.SerialText(), rule.Pattern)
	}
	return nil
}

// checkSomeName refuses a CSR whose certificate would name nothing: with an
// empty subject its SANs are its only names (RFC 5280 §4.2.1.6), so an empty
// subject is allowed only with a SAN, such as a hardwareModuleName.
func checkSomeName(csr *x509.CertificateRequest, profile Profile, requested []GeneralName) error {
	if len(leafSubject(csr.Subject, profile.SubjectRules).ToRDNSequence()) > 0 || len(requested) > 0 {
		return nil
	}
	if slices.ContainsFunc(profile.SANRules, func(r SANRule) bool { return r.Rule == RuleFixed }) {
		return nil
	}
	return refuse("subject_rules", "the certificate would have an empty subject and no subject alternative name; the CSR must bring a name the profile keeps")
}

// csrSANs groups the CSR's subject alternative names by rule type.
func csrSANs(csr *x509.CertificateRequest) map[string][]string {
	sans := map[string][]string{"dns": csr.DNSNames, "email": csr.EmailAddresses}
	for _, ip := range csr.IPAddresses {
		sans["ip"] = append(sans["ip"], ip.String())
	}
	for _, u := range csr.URIs {
		sans["uri"] = append(sans["uri"], (*url.URL).String(u))
	}
	return sans
}

// matches anchors pattern at both ends: a rule like "cam-[0-9]+" must describe
// the whole value, not a part of it.
func matches(pattern, value string) bool {
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	return err == nil && re.MatchString(value)
}
