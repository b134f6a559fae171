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
	return checkSANs(csr, profile.SANRules)
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

func checkSANs(csr *x509.CertificateRequest, rules []SANRule) error {
	requested := csrSANs(csr)
	for _, typ := range sanTypes {
		values := requested[typ]
		if len(values) == 0 {
			continue
		}
		idx := slices.IndexFunc(rules, func(r SANRule) bool { return r.Type == typ && r.Rule == RuleFromCSR })
		if idx < 0 {
			return refuse("san_rules."+typ, "the profile does not take %s SANs from the CSR, and the CSR has %q", typ, values)
		}
		for _, v := range values {
			if rules[idx].Pattern != "" && !matches(rules[idx].Pattern, v) {
				return refuse("san_rules."+typ, "%s SAN %q does not match %s", typ, v, rules[idx].Pattern)
			}
		}
	}
	// Other requested extensions are ignored, not refused: many devices ask for
	// key usages, and LeafTemplate takes extensions only from the profile.
	return nil
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
