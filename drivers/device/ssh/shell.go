package ssh

import (
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/certfleet/certfleet/pki"
)

// command is a remote command line: each argument single-quoted, so that the
// device's shell passes it on as one argument whatever it holds. A device ID
// or subject with quotes, spaces or $(…) reaches openssl as text.
func command(prefix string, args ...string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return prefix + strings.Join(quoted, " ")
}

// subjectArg is openssl's -subj form of s: /CN=…/O=…, with the characters
// openssl gives a meaning to escaped.
func subjectArg(s pki.CSRSubject) (string, error) {
	var b strings.Builder
	for _, attr := range []struct{ key, value string }{
		{"C", s.Country}, {"O", s.Organization}, {"OU", s.OrganizationalUnit}, {"CN", s.CommonName}, {"serialNumber", s.SerialNumber},
	} {
		if attr.value == "" {
			continue
		}
		if strings.ContainsFunc(attr.value, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return "", fmt.Errorf("subject %s holds a control character", attr.key)
		}
		b.WriteString("/" + attr.key + "=")
		for _, r := range attr.value {
			if strings.ContainsRune(`\/+=`, r) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "", fmt.Errorf("the CSR request names no subject attribute")
	}
	return b.String(), nil
}

// sanValue: what an -addext subjectAltName entry may hold without changing
// meaning (openssl splits on commas and reads colons and at-signs).
var sanValue = regexp.MustCompile(`^[A-Za-z0-9.*_@:/%=?&~+-]{1,253}$`)

// sanArg is openssl's -addext form of sans, or "" when there are none.
func sanArg(sans pki.CSRSANs) (string, error) {
	var entries []string
	add := func(kind string, values []string) error {
		for _, v := range values {
			if !sanValue.MatchString(v) {
				return fmt.Errorf("%s SAN %q holds characters the device's openssl would misread", kind, v)
			}
			entries = append(entries, kind+":"+v)
		}
		return nil
	}
	for _, ip := range sans.IP {
		if net.ParseIP(ip) == nil {
			return "", fmt.Errorf("IP SAN %q is not an IP address", ip)
		}
	}
	for _, group := range []struct {
		kind   string
		values []string
	}{{"DNS", sans.DNS}, {"IP", sans.IP}, {"email", sans.Email}, {"URI", sans.URI}} {
		if err := add(group.kind, group.values); err != nil {
			return "", err
		}
	}
	if len(entries) == 0 {
		return "", nil
	}
	return "subjectAltName=" + strings.Join(entries, ","), nil
}

// newKeyArgs are openssl req's arguments for a new key of spec.
func newKeyArgs(spec pki.KeySpec) ([]string, error) {
	switch {
	case !spec.Supported():
		return nil, fmt.Errorf("key %s is not supported", spec)
	case spec.Algorithm == "ecdsa":
		return []string{"-newkey", "ec", "-pkeyopt", fmt.Sprintf("ec_paramgen_curve:P-%d", spec.Size)}, nil
	default:
		return []string{"-newkey", fmt.Sprintf("rsa:%d", spec.Size)}, nil
	}
}
