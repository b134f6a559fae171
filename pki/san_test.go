package pki_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/pki"
)

var (
	wisunEKU    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 45605, 1}
	wisunHWType = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 45605, 1, 2}
	upnOID      = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3}
)

// wisun is a profile as Wi-SUN FAN devices need one: an empty subject, the
// device named by its hardwareModuleName, the Wi-SUN EKU beside clientAuth.
var wisun = pki.Profile{
	Name:          "wi-sun",
	CertType:      pki.CertTypeIEEE8021X,
	SANRules:      []pki.SANRule{{Type: pki.SANHardwareModuleName, Rule: pki.RuleFromCSR, HWType: wisunHWType.String(), Pattern: `WS-[0-9]{4}`}},
	KeyUsage:      []string{"digitalSignature"},
	ExtKeyUsage:   []string{wisunEKU.String(), "clientAuth"},
	KeyAlgorithms: []pki.KeyAlgorithm{{Algorithm: "ecdsa", Sizes: []int{256}}},
	Validity:      24 * time.Hour,
}

func hmn(hwType asn1.ObjectIdentifier, serial string) pki.GeneralName {
	return pki.HardwareModule(pki.HardwareModuleName{HWType: hwType, HWSerialNum: []byte(serial)})
}

// sanCSR is a CSR with subject and the SANs names, encoded by certfleet
// since Go cannot encode otherNames, and asking for extKeyUsages.
func sanCSR(t testing.TB, subject pkix.Name, names []pki.GeneralName, ekus ...asn1.ObjectIdentifier) *x509.CertificateRequest {
	t.Helper()
	tmpl := &x509.CertificateRequest{Subject: subject}
	if len(names) > 0 {
		value, err := pki.MarshalGeneralNames(names)
		require.NoError(t, err)
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: pki.OIDSubjectAltName, Value: value})
	}
	if len(ekus) > 0 {
		value, err := asn1.Marshal(ekus)
		require.NoError(t, err)
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Value: value})
	}
	csr, err := pki.ParseCSR(csrDER(t, p256(t), tmpl))
	require.NoError(t, err)
	return csr
}

// testCA is a throwaway CA that signs templates as a CA driver would.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newTestCA(t testing.TB) testCA {
	t.Helper()
	key := p256(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return testCA{cert, key}
}

func (ca testCA) issue(t testing.TB, csr *x509.CertificateRequest, p pki.Profile) *x509.Certificate {
	t.Helper()
	require.NoError(t, pki.CheckCSR(csr, p))
	tmpl, err := pki.LeafTemplate(csr, p, time.Now())
	require.NoError(t, err)
	tmpl.SerialNumber = big.NewInt(2)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert
}

func sanExtensions(cert *x509.Certificate) []pkix.Extension {
	var exts []pkix.Extension
	for _, ext := range cert.Extensions {
		if ext.Id.Equal(pki.OIDSubjectAltName) {
			exts = append(exts, ext)
		}
	}
	return exts
}

// allChoices has one name of each GeneralName choice certfleet reads,
// otherNames of two types included.
func allChoices(t testing.TB) []pki.GeneralName {
	dirName, err := asn1.Marshal(pkix.Name{CommonName: "dir"}.ToRDNSequence())
	require.NoError(t, err)
	utf8, err := asn1.MarshalWithParams("someone@example.net", "utf8")
	require.NoError(t, err)
	return []pki.GeneralName{
		hmn(wisunHWType, "WS-0042"),
		{Tag: pki.TagOtherName, TypeID: upnOID, OtherValue: utf8},
		{Tag: pki.TagDNSName, Value: []byte("meter-7.example.net")},
		{Tag: pki.TagRFC822Name, Value: []byte("ops@example.net")},
		{Tag: pki.TagIPAddress, Value: net.IPv4(10, 1, 2, 3).To4()},
		{Tag: pki.TagIPAddress, Value: net.ParseIP("2001:db8::7")},
		{Tag: pki.TagURI, Value: []byte("urn:dev:ops:32473-Meter-7")},
		{Tag: pki.TagRegisteredID, TypeID: asn1.ObjectIdentifier{1, 2, 3, 4}},
		{Tag: pki.TagDirectoryName, Value: append([]byte{0xa4, byte(len(dirName))}, dirName...)},
	}
}

// TestGeneralNamesRoundTrip: what certfleet encodes it reads back the same,
// and Go reads the names it knows from it.
func TestGeneralNamesRoundTrip(t *testing.T) {
	names := allChoices(t)
	der, err := pki.MarshalGeneralNames(names)
	require.NoError(t, err)
	back, err := pki.ParseGeneralNames(der)
	require.NoError(t, err)
	require.Len(t, back, len(names))
	again, err := pki.MarshalGeneralNames(back)
	require.NoError(t, err)
	assert.Equal(t, der, again)
	assert.Equal(t, []pki.HardwareModuleName{{HWType: wisunHWType, HWSerialNum: []byte("WS-0042")}}, pki.HardwareModules(back))
	assert.True(t, back[1].TypeID.Equal(upnOID))
	assert.Equal(t, "", back[1].RuleType(), "a UPN is no name certfleet keeps")
	assert.Equal(t, "registeredID 1.2.3.4", back[7].String())
	assert.Equal(t, "directoryName", back[8].String())

	// crypto/x509 reads the same extension, skipping what it does not know.
	ca := newTestCA(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
		ExtraExtensions: []pkix.Extension{{Id: pki.OIDSubjectAltName, Critical: true, Value: der}}}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, ca.key.Public(), ca.key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(certDER)
	require.NoError(t, err)
	assert.Equal(t, []string{"meter-7.example.net"}, cert.DNSNames)
	assert.Equal(t, []string{"ops@example.net"}, cert.EmailAddresses)
	assert.Equal(t, "10.1.2.3", cert.IPAddresses[0].String())
	assert.Equal(t, "2001:db8::7", cert.IPAddresses[1].String())
	assert.Equal(t, "urn:dev:ops:32473-Meter-7", cert.URIs[0].String())
	fromCert, err := pki.SubjectAltNames(cert.Extensions)
	require.NoError(t, err)
	assert.Equal(t, back, fromCert)

	// openssl reads it as well: the otherName's type-id and the serial's octets.
	path := filepath.Join(t.TempDir(), "san.der")
	require.NoError(t, os.WriteFile(path, der, 0o600))
	out := run(t, "openssl", "asn1parse", "-inform", "DER", "-in", path, "-i", "-dump")
	assert.Regexp(t, `cont \[ 0 \]\s*\n.*OBJECT\s*:1\.3\.6\.1\.5\.5\.7\.8\.4\n.*cont \[ 0 \]\s*\n.*SEQUENCE\s*\n.*OBJECT\s*:1\.3\.6\.1\.4\.1\.45605\.1\.2\n.*OCTET STRING\s*:WS-0042\n`, out,
		"otherName { hardwareModuleName, [0] { SEQUENCE { hwType, hwSerialNum } } }")
	assert.Contains(t, out, "OBJECT            :Microsoft User Principal Name")
	assert.Contains(t, out, "prim:  cont [ 8 ]", "the registeredID")
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), out)
	return string(out)
}

func TestParseGeneralNamesRefusesWhatIsNotDER(t *testing.T) {
	good, err := pki.MarshalGeneralNames([]pki.GeneralName{hmn(wisunHWType, "WS-0042")})
	require.NoError(t, err)
	hmnValue, err := asn1.Marshal(struct {
		T asn1.ObjectIdentifier
		S []byte
		X int
	}{wisunHWType, []byte("WS-1"), 7})
	require.NoError(t, err)
	extra, err := pki.MarshalGeneralNames([]pki.GeneralName{{Tag: pki.TagOtherName, TypeID: pki.OIDHardwareModuleName, OtherValue: hmnValue}})
	require.NoError(t, err)
	for name, der := range map[string][]byte{
		"empty":                  {},
		"no names":               {0x30, 0x00},
		"trailing bytes":         append(append([]byte{}, good...), 0x00),
		"not a SEQUENCE":         {0x31, 0x00},
		"universal tag inside":   {0x30, 0x03, 0x04, 0x01, 0x41},
		"primitive otherName":    {0x30, 0x03, 0x80, 0x01, 0x41},
		"constructed dNSName":    {0x30, 0x04, 0xa2, 0x02, 0x04, 0x00},
		"IP of 5 octets":         {0x30, 0x07, 0x87, 0x05, 1, 2, 3, 4, 5},
		"non-ASCII dNSName":      {0x30, 0x03, 0x82, 0x01, 0xe9},
		"tag 9":                  {0x30, 0x03, 0x89, 0x01, 0x41},
		"extra field in the HMN": extra,
		"truncated":              good[:len(good)-1],
	} {
		_, err := pki.ParseGeneralNames(der)
		assert.Error(t, err, name)
	}
}

// FuzzParseGeneralNames feeds arbitrary bytes to the parser of the SANs a
// CSR asks for: it must not panic, and what it accepts must be DER, which
// encoding it again gives back byte for byte.
func FuzzParseGeneralNames(f *testing.F) {
	all, err := pki.MarshalGeneralNames(allChoices(f))
	require.NoError(f, err)
	one, err := pki.MarshalGeneralNames([]pki.GeneralName{hmn(wisunHWType, "\x00\x12\x4b\x00\x01\x02\x03\x04")})
	require.NoError(f, err)
	f.Add(all)
	f.Add(one)
	f.Add(one[:len(one)-2])
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x30, 0x03, 0x88, 0x01, 0x2a})
	f.Add([]byte{0x30, 0x80, 0x82, 0x01, 0x41, 0x00, 0x00}) // indefinite length, BER only
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		names, err := pki.ParseGeneralNames(data)
		if err != nil {
			return
		}
		again, err := pki.MarshalGeneralNames(names)
		if err != nil {
			t.Fatalf("names read from %x do not encode: %v", data, err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("read %x, which encodes as %x", data, again)
		}
		for _, n := range names {
			_ = n.String()
		}
	})
}

// TestWiSUNCertificate: a CSR with an empty subject and a hardwareModuleName
// is issued with that name intact in a critical subjectAltName, the profile's
// key usage and its EKUs (the private Wi-SUN one first), and named by its
// serial; under a profile without the rule it is refused, naming the SAN.
func TestWiSUNCertificate(t *testing.T) {
	csr := sanCSR(t, pkix.Name{}, []pki.GeneralName{hmn(wisunHWType, "WS-0042")}, wisunEKU)
	cert := newTestCA(t).issue(t, csr, wisun)

	assert.Empty(t, cert.Subject.Names)
	assert.Equal(t, []byte{0x30, 0x00}, cert.RawSubject, "an empty subject")
	exts := sanExtensions(cert)
	require.Len(t, exts, 1, "one subjectAltName")
	assert.True(t, exts[0].Critical, "critical, as the subject is empty")
	names, err := pki.SubjectAltNames(cert.Extensions)
	require.NoError(t, err)
	assert.Equal(t, []pki.HardwareModuleName{{HWType: wisunHWType, HWSerialNum: []byte("WS-0042")}}, pki.HardwareModules(names))
	assert.Equal(t, x509.KeyUsageDigitalSignature, cert.KeyUsage)
	assert.Equal(t, []asn1.ObjectIdentifier{wisunEKU}, cert.UnknownExtKeyUsage)
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, cert.ExtKeyUsage)
	assert.Equal(t, []string{"WS-0042"}, pki.CSRIdentity(csr, pki.IdentityCN))
	assert.True(t, pki.NamesDevice(csr, pki.IdentityCN, "WS-0042"))

	without := wisun
	without.SANRules = nil
	err = pki.CheckCSR(csr, without)
	var policyErr *pki.PolicyError
	require.True(t, errors.As(err, &policyErr), "got %v", err)
	assert.Equal(t, "san_rules.hardware_module_name", policyErr.Rule)
	assert.Contains(t, err.Error(), "otherName hardwareModuleName")
	assert.Contains(t, err.Error(), `hwSerialNum "WS-0042"`)
}

// TestHardwareModuleWithOtherSANs: beside a hardwareModuleName the other
// SANs are kept in the one extension certfleet writes, which is not critical
// when the subject names the device too; Go writes no second one.
func TestHardwareModuleWithOtherSANs(t *testing.T) {
	p := wisun
	p.SubjectRules = []pki.SubjectRule{{Attr: "CN", Rule: pki.RuleFromCSR}, {Attr: "O", Rule: pki.RuleFixed, Value: "Acme Grid"}}
	p.SANRules = append([]pki.SANRule{{Type: pki.SANDNS, Rule: pki.RuleFromCSR}, {Type: pki.SANURI, Rule: pki.RuleFixed, Value: "urn:acme:grid"}}, p.SANRules...)
	csr := sanCSR(t, pkix.Name{CommonName: "meter-7"}, []pki.GeneralName{
		{Tag: pki.TagDNSName, Value: []byte("meter-7.grid.example")}, hmn(wisunHWType, "WS-0007")})
	cert := newTestCA(t).issue(t, csr, p)

	exts := sanExtensions(cert)
	require.Len(t, exts, 1)
	assert.False(t, exts[0].Critical)
	assert.Equal(t, []string{"meter-7.grid.example"}, cert.DNSNames)
	require.Len(t, cert.URIs, 1)
	assert.Equal(t, "urn:acme:grid", cert.URIs[0].String())
	names, err := pki.SubjectAltNames(cert.Extensions)
	require.NoError(t, err)
	assert.Len(t, pki.HardwareModules(names), 1)
	assert.Equal(t, "CN=meter-7,O=Acme Grid", cert.Subject.String())
	assert.Equal(t, []string{"meter-7"}, pki.CSRIdentity(csr, pki.IdentityCN), "a CN names the device as it always did")
}

func TestCheckCSRRefusesSANsItCannotKeep(t *testing.T) {
	utf8, err := asn1.MarshalWithParams("someone@example.net", "utf8")
	require.NoError(t, err)
	keepsAll := wisun
	keepsAll.SANRules = append([]pki.SANRule{{Type: pki.SANDNS, Rule: pki.RuleFromCSR}}, wisun.SANRules...)
	cases := []struct {
		name  string
		csr   *x509.CertificateRequest
		rule  string
		words string
	}{
		{"UPN otherName", sanCSR(t, pkix.Name{}, []pki.GeneralName{{Tag: pki.TagOtherName, TypeID: upnOID, OtherValue: utf8}}),
			"san_rules", "otherName of type-id 1.3.6.1.4.1.311.20.2.3"},
		{"registeredID", sanCSR(t, pkix.Name{}, []pki.GeneralName{hmn(wisunHWType, "WS-0001"), {Tag: pki.TagRegisteredID, TypeID: asn1.ObjectIdentifier{1, 2, 3}}}),
			"san_rules", "registeredID 1.2.3"},
		{"directoryName", sanCSR(t, pkix.Name{}, []pki.GeneralName{allChoices(t)[8]}), "san_rules", "directoryName"},
		{"IP without a rule", sanCSR(t, pkix.Name{}, []pki.GeneralName{hmn(wisunHWType, "WS-0001"), {Tag: pki.TagIPAddress, Value: []byte{10, 0, 0, 1}}}),
			"san_rules.ip", "10.0.0.1"},
		{"another hwType", sanCSR(t, pkix.Name{}, []pki.GeneralName{hmn(asn1.ObjectIdentifier{1, 2, 3}, "WS-0001")}),
			"san_rules.hardware_module_name", "hwType 1.2.3"},
		{"serial outside the pattern", sanCSR(t, pkix.Name{}, []pki.GeneralName{hmn(wisunHWType, "WS-12345")}),
			"san_rules.hardware_module_name", `"WS-12345" does not match`},
		{"two modules", sanCSR(t, pkix.Name{}, []pki.GeneralName{hmn(wisunHWType, "WS-0001"), hmn(wisunHWType, "WS-0002")}),
			"san_rules.hardware_module_name", "one is allowed"},
		{"empty subject, no SAN", sanCSR(t, pkix.Name{}, nil), "subject_rules", "empty subject and no subject alternative name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := pki.CheckCSR(c.csr, keepsAll)
			var policyErr *pki.PolicyError
			require.True(t, errors.As(err, &policyErr), "got %v", err)
			assert.Equal(t, c.rule, policyErr.Rule)
			assert.Contains(t, err.Error(), c.words)
		})
	}
	assert.NoError(t, pki.CheckCSR(sanCSR(t, pkix.Name{}, []pki.GeneralName{{Tag: pki.TagDNSName, Value: []byte("m.example")}}), keepsAll),
		"an empty subject with a DNS name the profile keeps")
}

// TestBinarySerialIsHex: an EUI-64 serial is matched and names the device
// in hex; a printable one as itself.
func TestBinarySerialIsHex(t *testing.T) {
	eui := pki.HardwareModuleName{HWType: wisunHWType, HWSerialNum: []byte{0x00, 0x12, 0x4b, 0x00, 0x0a, 0x0b, 0x0c, 0x0d}}
	assert.Equal(t, "0x00124b000a0b0c0d", eui.SerialText())
	assert.Equal(t, "WS-0042", pki.HardwareModuleName{HWSerialNum: []byte("WS-0042")}.SerialText())
	// No two serials share a text: a printable serial that looks like the
	// hex of a binary one is written in hex itself.
	assert.Equal(t, "abcd", pki.HardwareModuleName{HWSerialNum: []byte("abcd")}.SerialText())
	assert.Equal(t, "0xabcd", pki.HardwareModuleName{HWSerialNum: []byte{0xab, 0xcd}}.SerialText())
	assert.Equal(t, "0x30786162", pki.HardwareModuleName{HWSerialNum: []byte("0xab")}.SerialText())
	p := wisun
	p.SANRules = []pki.SANRule{{Type: pki.SANHardwareModuleName, Rule: pki.RuleFromCSR, HWType: wisunHWType.String(), Pattern: "0x00124b[0-9a-f]{10}"}}
	csr := sanCSR(t, pkix.Name{}, []pki.GeneralName{pki.HardwareModule(eui)})
	require.NoError(t, pki.CheckCSR(csr, p))
	assert.True(t, pki.NamesDevice(csr, pki.IdentityCN, "0x00124b000a0b0c0d"))
}

// TestDefaultUsagesByCertType: a profile that names no usages issues what
// certfleet always issued.
func TestDefaultUsagesByCertType(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ca := newTestCA(t)
	for _, c := range []struct {
		certType string
		key      crypto.Signer
		ku       x509.KeyUsage
		eku      []x509.ExtKeyUsage
	}{
		{pki.CertTypeIEEE8021X, p256(t), x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		{pki.CertTypeTLS, rsaKey, x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}},
	} {
		p := profile
		p.CertType = c.certType
		p.SANRules = []pki.SANRule{{Type: pki.SANDNS, Rule: pki.RuleFromCSR, Pattern: `[a-z0-9-]+\.example\.net`}}
		csr, err := pki.ParseCSR(csrDER(t, c.key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cam-1"}, DNSNames: []string{"cam-1.example.net"}}))
		require.NoError(t, err)
		cert := ca.issue(t, csr, p)
		assert.Equal(t, c.ku, cert.KeyUsage, c.certType)
		assert.Equal(t, c.eku, cert.ExtKeyUsage, c.certType)
		assert.Empty(t, cert.UnknownExtKeyUsage)
	}
}

// TestProfileUsages: named usages replace the type's, in the profile's order.
func TestProfileUsages(t *testing.T) {
	p := profile
	p.KeyUsage = []string{"digitalSignature", "keyAgreement", "nonRepudiation"}
	p.ExtKeyUsage = []string{"1.3.6.1.5.5.7.3.2", "emailProtection", "1.3.6.1.4.1.99999.7"}
	require.NoError(t, p.Validate())
	csr, err := pki.ParseCSR(csrDER(t, p256(t), &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cam-1"}}))
	require.NoError(t, err)
	cert := newTestCA(t).issue(t, csr, p)
	assert.Equal(t, x509.KeyUsageDigitalSignature|x509.KeyUsageKeyAgreement|x509.KeyUsageContentCommitment, cert.KeyUsage)
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageEmailProtection}, cert.ExtKeyUsage)
	assert.Equal(t, []asn1.ObjectIdentifier{{1, 3, 6, 1, 4, 1, 99999, 7}}, cert.UnknownExtKeyUsage)
}

func TestProfileValidateUsagesAndHardwareModules(t *testing.T) {
	require.NoError(t, wisun.Validate())
	bad := wisun
	bad.KeyUsage = []string{"digitalSignature", "keyCertSign", "signEverything", "digitalSignature", "encipherOnly"}
	bad.ExtKeyUsage = []string{"clientAuth", "1.3.6.1.4.1.45605.1", "1.2.x", "OCSPSigning", "2.5.29.37.0", "1.3.6.1.5.5.7.3.2"}
	bad.SANRules = []pki.SANRule{
		{Type: pki.SANHardwareModuleName, Rule: pki.RuleFixed, Value: "WS-1"},
		{Type: pki.SANHardwareModuleName, Rule: pki.RuleFromCSR, HWType: "not an OID"},
		{Type: pki.SANDNS, Rule: pki.RuleFromCSR, HWType: "1.2.3"},
	}
	bad.ExtraAttributes = []pki.ExtraAttribute{{OID: "2.5.29.17", Value: "x"}}
	err := bad.Validate()
	require.Error(t, err)
	for _, want := range []string{
		"key_usage[1]: keyCertSign is for CA certificates", `key_usage[2]: "signEverything" is not one of`,
		"key_usage[3]: digitalSignature is listed twice", "key_usage: encipherOnly and decipherOnly need keyAgreement",
		`ext_key_usage[2]: "1.2.x" is neither one of`, "ext_key_usage[3]: OCSPSigning would make the device a delegated OCSP responder",
		"ext_key_usage[4]: anyExtendedKeyUsage", "ext_key_usage[5]: 1.3.6.1.5.5.7.3.2 is listed twice",
		"san_rules[0].rule: a hardware module's name comes from the CSR", "san_rules[1].hw_type:",
		"san_rules[2].hw_type: only a hardware_module_name rule", "san_rules: 2 hardware_module_name rules",
		"extra_attributes[0].oid: 2.5.29.17 is a standard extension",
	} {
		assert.Contains(t, err.Error(), want)
	}
	assert.NotContains(t, err.Error(), "ext_key_usage[1]", "a private EKU OID is fine")
}

// TestServerAuthFollowsTheProfilesEKU: the SAN pattern rule for serverAuth
// follows the EKU the profile grants, not only its certificate type.
func TestServerAuthFollowsTheProfilesEKU(t *testing.T) {
	open := profile
	open.CertType = pki.CertTypeIEEE8021X
	open.SANRules = []pki.SANRule{{Type: pki.SANDNS, Rule: pki.RuleFromCSR}}
	open.ExtKeyUsage = []string{"serverAuth"}
	assert.ErrorContains(t, open.Validate(), "san_rules[0].pattern")
	open.CertType, open.ExtKeyUsage = pki.CertTypeTLS, []string{"clientAuth"}
	assert.NoError(t, open.Validate(), "a TLS profile that grants only clientAuth names no server")
}

// TestSameNamesCountsOtherNames: a renewal's CSR must keep the hardware
// module of the certificate it renews.
func TestSameNamesCountsOtherNames(t *testing.T) {
	ca := newTestCA(t)
	csr := sanCSR(t, pkix.Name{}, []pki.GeneralName{hmn(wisunHWType, "WS-0042")})
	cert := ca.issue(t, csr, wisun)
	assert.True(t, pki.SameNames(sanCSR(t, pkix.Name{}, []pki.GeneralName{hmn(wisunHWType, "WS-0042")}), cert))
	assert.False(t, pki.SameNames(sanCSR(t, pkix.Name{}, []pki.GeneralName{hmn(wisunHWType, "WS-0043")}), cert))
}

// TestWiSUNCertificateWithOpenSSL reads an issued Wi-SUN certificate with
// openssl rather than with the Go code that made it.
func TestWiSUNCertificateWithOpenSSL(t *testing.T) {
	ca := newTestCA(t)
	cert := ca.issue(t, sanCSR(t, pkix.Name{}, []pki.GeneralName{hmn(wisunHWType, "WS-0042")}, wisunEKU), wisun)
	path := filepath.Join(t.TempDir(), "leaf.pem")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600))
	text := run(t, "openssl", "x509", "-in", path, "-noout", "-text")
	assert.Regexp(t, `Subject: ?\n`, text, "an empty subject")
	assert.Contains(t, text, "X509v3 Subject Alternative Name: critical")
	assert.Contains(t, text, "othername:")
	assert.Contains(t, text, "1.3.6.1.4.1.45605.1, TLS Web Client Authentication")
	assert.Contains(t, text, "Digital Signature")
	assert.NotContains(t, text, "Key Encipherment")
}

// TestHardwareModuleIdentity: a CN names the device before a hardware
// module does; two modules name no one device.
func TestHardwareModuleIdentity(t *testing.T) {
	both := sanCSR(t, pkix.Name{CommonName: "meter-7"}, []pki.GeneralName{hmn(wisunHWType, "WS-0007")})
	assert.Equal(t, []string{"meter-7"}, pki.CSRIdentity(both, pki.IdentityCN))
	two := sanCSR(t, pkix.Name{}, []pki.GeneralName{hmn(wisunHWType, "WS-0001"), hmn(wisunHWType, "WS-0002")})
	assert.Equal(t, []string{"WS-0001", "WS-0002"}, pki.CSRIdentity(two, pki.IdentityCN))
	assert.False(t, pki.NamesDevice(two, pki.IdentityCN, "WS-0001"))
	module := sanCSR(t, pkix.Name{}, []pki.GeneralName{hmn(wisunHWType, "WS-0001")})
	assert.Empty(t, pki.CSRIdentity(module, pki.IdentitySerialNumber), "only the CN falls back to the module's serial")
}
