package local_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/profiles"
)

var (
	wisunEKU    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 45605, 1}
	wisunHWType = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 45605, 1, 2}
)

// storedProfile stores an 802.1X profile for Wi-SUN meters with the given
// SAN rules and usages, and reads it back as CAs do.
func storedProfile(t *testing.T, pool *pgxpool.Pool, name, sanRules string, keyUsage, extKeyUsage []string) pki.Profile {
	t.Helper()
	row, err := store.New(pool).CreateProfile(context.Background(), store.CreateProfileParams{
		Name: name, CertType: pki.CertTypeIEEE8021X, DeviceType: "iot_device",
		SubjectRules: json.RawMessage(`[]`), SanRules: json.RawMessage(sanRules), ExtraAttributes: json.RawMessage(`[]`),
		KeyAlgorithms: json.RawMessage(`[{"algorithm":"ecdsa","sizes":[256]}]`),
		KeyUsage:      keyUsage, ExtKeyUsage: extKeyUsage,
		Validity: 365 * 24 * time.Hour, RenewBefore: 30 * 24 * time.Hour,
		CaDriver: "local", CaSettings: json.RawMessage(`{}`), MaxCaWait: time.Hour,
	})
	require.NoError(t, err)
	profile, err := profiles.FromRow(row)
	require.NoError(t, err)
	require.NoError(t, profile.Validate())
	return profile
}

// wisunCSR is what a Wi-SUN meter asks for: an EC P-256 key, an empty
// subject, its hardwareModuleName (RFC 4108) as its only name, and the
// Wi-SUN EKU.
func wisunCSR(t *testing.T, serial string) *x509.CertificateRequest {
	t.Helper()
	san, err := pki.MarshalGeneralNames([]pki.GeneralName{
		pki.HardwareModule(pki.HardwareModuleName{HWType: wisunHWType, HWSerialNum: []byte(serial)})})
	require.NoError(t, err)
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{wisunEKU})
	require.NoError(t, err)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		ExtraExtensions: []pkix.Extension{
			{Id: pki.OIDSubjectAltName, Critical: true, Value: san},
			{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Value: eku},
		},
	}, ecKey(t))
	require.NoError(t, err)
	csr, err := pki.ParseCSR(der)
	require.NoError(t, err)
	require.Empty(t, csr.Subject.Names, "the CSR's subject is empty")
	return csr
}

// TestWiSUNCertificate is the acceptance path of Wi-SUN certificates: a CSR
// with an empty subject and a hardwareModuleName is issued under a Wi-SUN
// profile for the device its serial names, with the name, the empty subject
// and the Wi-SUN EKU intact, as openssl reads them; under a profile without
// a hardware_module_name rule it is refused, saying which SAN.
func TestWiSUNCertificate(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	c := openCA(t, pool)
	_, err := store.New(pool).CreateDevice(ctx, store.CreateDeviceParams{ID: "WS-0042", Name: "meter WS-0042", DeviceType: "iot_device", Mode: "NEW", Driver: "agent"})
	require.NoError(t, err)
	wisun := storedProfile(t, pool, "wi-sun meters",
		`[{"type":"hardware_module_name","rule":"from_csr","hw_type":"1.3.6.1.4.1.45605.1.2","pattern":"WS-[0-9]{4}"}]`,
		[]string{"digitalSignature"}, []string{"1.3.6.1.4.1.45605.1", "clientAuth"})
	require.Equal(t, []string{"1.3.6.1.4.1.45605.1", "clientAuth"}, wisun.ExtKeyUsage, "the usages are stored")
	csr := wisunCSR(t, "WS-0042")

	result, err := c.Submit(ctx, ca.Request{CSR: csr, Profile: wisun, IdempotencyKey: "est/WS-0042/1", DeviceID: "WS-0042"})
	require.NoError(t, err)
	require.Equal(t, ca.Issued, result.Status, result.Reason)
	stored, err := store.New(pool).GetCertificate(ctx, result.CertificateID)
	require.NoError(t, err)
	assert.Equal(t, "WS-0042", stored.DeviceID.String, "the hwSerialNum named the device")

	dir := t.TempDir()
	issuing, root := c.Certificates()
	rootPEM := writeFile(t, dir, "root.pem", pki.EncodeCertificatesPEM(root))
	intermediatePEM := writeFile(t, dir, "intermediate.pem", pki.EncodeCertificatesPEM(issuing))
	leafPEM := writeFile(t, dir, "leaf.pem", pki.EncodeCertificatesPEM(result.Certificate))
	assert.Contains(t, openssl(t, "verify", "-CAfile", rootPEM, "-untrusted", intermediatePEM, leafPEM), "leaf.pem: OK")

	text := openssl(t, "x509", "-in", leafPEM, "-noout", "-text")
	assert.Regexp(t, `\n\s*Subject: ?\n`, text, "an empty subject")
	assert.Contains(t, text, "X509v3 Subject Alternative Name: critical", "critical, as the subject is empty")
	assert.Regexp(t, `othername: ?(1\.3\.6\.1\.5\.5\.7\.8\.4|[Hh]ardware ?[Mm]odule ?[Nn]ame)`, text)
	assert.Regexp(t, `X509v3 Extended Key Usage: ?\n\s*1\.3\.6\.1\.4\.1\.45605\.1, TLS Web Client Authentication\n`, text, "the Wi-SUN EKU first")
	assert.Regexp(t, `X509v3 Key Usage: critical\n\s*Digital Signature\n`, text)
	assert.Equal(t, 1, strings.Count(text, "X509v3 Subject Alternative Name"), "one subjectAltName")

	san := sanOfCertificate(t, leafPEM)
	assert.Regexp(t, `cont \[ 0 \]\s*\n.*OBJECT\s*:1\.3\.6\.1\.5\.5\.7\.8\.4\n.*cont \[ 0 \]\s*\n.*SEQUENCE\s*\n.*OBJECT\s*:1\.3\.6\.1\.4\.1\.45605\.1\.2\n.*OCTET STRING\s*:WS-0042\n`, san,
		"otherName { id-on-hardwareModuleName, [0] { hwType, hwSerialNum } }")

	plain := storedProfile(t, pool, "meters without modules", `[]`, nil, nil)
	for _, deviceID := range []string{"WS-0042", ""} {
		refused, err := c.Submit(ctx, ca.Request{CSR: csr, Profile: plain, IdempotencyKey: "est/WS-0042/plain" + deviceID, DeviceID: deviceID})
		require.NoError(t, err)
		assert.Equal(t, ca.Rejected, refused.Status)
		assert.Contains(t, refused.Reason, "san_rules.hardware_module_name")
		assert.Contains(t, refused.Reason, "otherName hardwareModuleName")
		assert.Contains(t, refused.Reason, `hwSerialNum "WS-0042"`)
	}
}

// sanOfCertificate is openssl's reading of the subjectAltName's value: the
// certificate's structure, then the OCTET STRING after the extension's OID.
func sanOfCertificate(t *testing.T, certPEM string) string {
	t.Helper()
	structure := openssl(t, "asn1parse", "-in", certPEM)
	m := regexp.MustCompile(`:X509v3 Subject Alternative Name\n(?:.*BOOLEAN.*\n)?\s*(\d+):d=\d+\s+hl=\d+\s+l=\s*\d+\s+prim:\s+OCTET STRING`).FindStringSubmatch(structure)
	require.NotNil(t, m, "no subjectAltName in\n%s", structure)
	return openssl(t, "asn1parse", "-in", certPEM, "-i", "-strparse", m[1])
}
