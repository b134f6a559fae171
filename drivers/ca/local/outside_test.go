package local_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/ocspresponder"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/profiles"
)

// outsideRoot is a corporate root made by openssl, outside certfleet.
type outsideRoot struct {
	dir, cert, key string
}

func newOutsideRoot(t *testing.T, dir, name string) outsideRoot {
	return newOutsideRootWith(t, dir, name, "critical,CA:TRUE")
}

// newOutsideRootWith is a root whose basicConstraints are constraints.
func newOutsideRootWith(t *testing.T, dir, name, constraints string) outsideRoot {
	t.Helper()
	r := outsideRoot{dir: dir, cert: filepath.Join(dir, name+".pem"), key: filepath.Join(dir, name+".key")}
	openssl(t, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", r.key, "-out", r.cert,
		"-days", "3650", "-subj", "/O=Acme Corp/CN="+name, "-addext", "basicConstraints="+constraints, "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	return r
}

// sign has the root sign csrPEM for days with the extensions in ext
// (an openssl extensions section), and returns the certificate.
func (r outsideRoot) sign(t *testing.T, csrPEM []byte, days, ext string) *x509.Certificate {
	t.Helper()
	csr := writeFile(t, r.dir, "req.csr", csrPEM)
	extFile := writeFile(t, r.dir, "ext.cnf", []byte(ext))
	out := filepath.Join(r.dir, "signed.pem")
	openssl(t, "x509", "-req", "-in", csr, "-CA", r.cert, "-CAkey", r.key, "-CAcreateserial", "-days", days, "-extfile", extFile, "-out", out)
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	certs, err := pki.ParseCertificatesPEM(data)
	require.NoError(t, err)
	return certs[0]
}

func (r outsideRoot) certificate(t *testing.T) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(r.cert)
	require.NoError(t, err)
	certs, err := pki.ParseCertificatesPEM(data)
	require.NoError(t, err)
	return certs[0]
}

const issuingExt = "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"

// TestIssuingCAUnderOutsideRoot: certfleet makes an issuing CA's key and
// CSR; a root made by openssl signs it; certificates that do not fit are
// refused with the reason and change nothing; the one that fits puts the CA
// to work for the profiles that name it, another process finds it, and what
// it issues verifies with openssl against the outside root alone, with its
// CRL and OCSP answers too.
func TestIssuingCAUnderOutsideRoot(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	keys := testenv.KEK(t)
	opts := local.Options{PublicURL: "http://certfleet.example"}
	set, err := local.OpenSet(ctx, pool, keys, opts)
	require.NoError(t, err)
	dir := t.TempDir()
	root := newOutsideRoot(t, dir, "Acme Corporate Root")

	_, err = set.RequestIssuingCA(ctx, ca.IssuingCARequest{Name: "Corp", CommonName: "x"}, "test", nil)
	requireInvalid(t, err, "name")
	_, err = set.RequestIssuingCA(ctx, ca.IssuingCARequest{Name: "corp", CommonName: "x", Key: "dsa-1024"}, "test", nil)
	requireInvalid(t, err, "key")
	pending, err := set.RequestIssuingCA(ctx, ca.IssuingCARequest{Name: "corp", CommonName: "Acme certfleet Issuing CA", Organization: "Acme Corp"}, "test", nil)
	require.NoError(t, err)
	assert.Equal(t, "pending", pending.Status)
	_, err = set.RequestIssuingCA(ctx, ca.IssuingCARequest{Name: "corp", CommonName: "again"}, "test", nil)
	requireKind(t, err, errkind.KindConflict)
	_, err = set.RequestIssuingCA(ctx, ca.IssuingCARequest{Name: "default", CommonName: "again"}, "test", nil)
	requireKind(t, err, errkind.KindConflict)
	csrText := openssl(t, "req", "-in", writeFile(t, dir, "corp.csr", []byte(pending.CSRPEM)), "-noout", "-text", "-verify")
	assert.Contains(t, csrText, "CA:TRUE, pathlen:0", "the CSR asks for what certfleet needs")
	assert.Contains(t, csrText, "Certificate Sign, CRL Sign")

	openssl(t, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", filepath.Join(dir, "other.key"), "-subj", "/CN=other", "-out", filepath.Join(dir, "other.csr"))
	otherCSR, err := os.ReadFile(filepath.Join(dir, "other.csr"))
	require.NoError(t, err)
	otherRoot := newOutsideRoot(t, dir, "Someone Else's Root")
	// A root that allows no CA below it: its signature is valid, but no
	// device certificate from the issuing CA would verify.
	leafOnlyRoot := newOutsideRootWith(t, dir, "Leaf-Only Root", "critical,CA:TRUE,pathlen:0")
	for name, c := range map[string]struct {
		cert  *x509.Certificate
		chain []*x509.Certificate
		field string
	}{
		"another key":         {root.sign(t, otherCSR, "1825", issuingExt), []*x509.Certificate{root.certificate(t)}, "certificate"},
		"not a CA":            {root.sign(t, []byte(pending.CSRPEM), "1825", "basicConstraints=critical,CA:FALSE\nsubjectKeyIdentifier=hash\n"), []*x509.Certificate{root.certificate(t)}, "certificate"},
		"no certificate sign": {root.sign(t, []byte(pending.CSRPEM), "1825", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\n"), []*x509.Certificate{root.certificate(t)}, "certificate"},
		"ten days":            {root.sign(t, []byte(pending.CSRPEM), "10", issuingExt), []*x509.Certificate{root.certificate(t)}, "certificate"},
		"root with pathlen 0": {leafOnlyRoot.sign(t, []byte(pending.CSRPEM), "1825", issuingExt), []*x509.Certificate{leafOnlyRoot.certificate(t)}, "chain"},
		"another root":        {root.sign(t, []byte(pending.CSRPEM), "1825", issuingExt), []*x509.Certificate{otherRoot.certificate(t)}, "chain"},
	} {
		_, err := set.CompleteIssuingCA(ctx, "corp", c.cert, c.chain, nil)
		requireInvalid(t, err, c.field)
		t.Logf("%s: %v", name, err)
	}
	list, err := set.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2, "the default CA and corp, still pending after every refusal")
	assert.Equal(t, "pending", list[1].Status)

	issuingCert := root.sign(t, []byte(pending.CSRPEM), "1825", issuingExt)
	_, err = set.CompleteIssuingCA(ctx, "nope", issuingCert, []*x509.Certificate{root.certificate(t)}, nil)
	requireKind(t, err, errkind.KindNotFound)
	active, err := set.CompleteIssuingCA(ctx, "corp", issuingCert, []*x509.Certificate{root.certificate(t)}, nil)
	require.NoError(t, err)
	assert.Equal(t, "active", active.Status)
	assert.True(t, active.OutsideRoot)
	require.Len(t, active.Chain, 1)
	assert.Equal(t, "CN=Acme Corporate Root,O=Acme Corp", active.Chain[0].Subject)
	_, err = set.CompleteIssuingCA(ctx, "corp", issuingCert, []*x509.Certificate{root.certificate(t)}, nil)
	requireKind(t, err, errkind.KindNotFound) // nothing awaits a certificate any more

	// A profile names the CA; another process (a new set) finds and opens it.
	row, err := store.New(pool).CreateProfile(ctx, store.CreateProfileParams{
		Name: "corp-cameras", CertType: pki.CertTypeTLS, DeviceType: "camera",
		SubjectRules: json.RawMessage(`[{"attr":"CN","rule":"from_csr"}]`), SanRules: json.RawMessage(`[{"type":"dns","rule":"from_csr"},{"type":"ip","rule":"from_csr"}]`), ExtraAttributes: json.RawMessage(`[]`),
		KeyAlgorithms: json.RawMessage(`[{"algorithm":"ecdsa","sizes":[256]}]`), Validity: 90 * 24 * time.Hour, RenewBefore: 30 * 24 * time.Hour,
		CaDriver: "local", CaSettings: json.RawMessage(`{"ca":"corp"}`), MaxCaWait: time.Hour,
	})
	require.NoError(t, err)
	profile, err := profiles.FromRow(row)
	require.NoError(t, err)
	other, err := local.OpenSet(ctx, pool, keys, opts)
	require.NoError(t, err)
	corp, err := other.ForSettings(ctx, row.CaSettings)
	require.NoError(t, err)
	result, err := corp.Submit(ctx, ca.Request{CSR: newCSR(t, ecKey(t), "cam-900"), Profile: profile, IdempotencyKey: "corp/cam-900"})
	require.NoError(t, err)
	require.Equal(t, ca.Issued, result.Status, result.Reason)
	require.Len(t, result.Chain, 2, "the issuing CA and the outside root")

	leaf := writeFile(t, dir, "leaf.pem", pki.EncodeCertificatesPEM(result.Certificate))
	issuing := writeFile(t, dir, "issuing.pem", pki.EncodeCertificatesPEM(issuingCert))
	assert.Contains(t, openssl(t, "verify", "-CAfile", root.cert, "-untrusted", issuing, leaf), "leaf.pem: OK", "verified with the outside root alone")
	info, err := other.List(ctx)
	require.NoError(t, err)
	require.Len(t, info, 2)
	assert.Equal(t, []ca.Named{{ID: row.ID, Name: "corp-cameras"}}, info[1].Profiles)

	// Revoked through the set, the certificate is in corp's CRL and OCSP
	// answers revoked, verified with the outside root alone.
	require.NoError(t, other.RevokeAudited(ctx, result.Certificate, ca.ReasonKeyCompromise, nil))
	crl, found, err := other.CRLByName(ctx, corp.CAIssuersName())
	require.NoError(t, err)
	require.True(t, found)
	chainFile := writeFile(t, dir, "chain.pem", pki.EncodeCertificatesPEM(issuingCert, root.certificate(t)))
	crlText := openssl(t, "crl", "-inform", "DER", "-in", writeFile(t, dir, "corp.crl", crl), "-CAfile", chainFile, "-noout", "-text", "-verify")
	assert.Contains(t, crlText, "verify OK")
	assert.Contains(t, crlText, "Key Compromise")

	w := serveOCSP(t, ocspresponder.New(ocspresponder.Options{Path: local.OCSPPath}, other))
	out := openssl(t, "ocsp", "-issuer", issuing, "-cert", leaf, "-url", w+local.OCSPPath, "-CAfile", root.cert)
	assert.Contains(t, out, "leaf.pem: revoked")
	assert.Contains(t, out, "Response verify OK")
}

func requireInvalid(t *testing.T, err error, field string) {
	t.Helper()
	requireKind(t, err, errkind.KindInvalid)
	kinded, _ := errkind.As(err)
	assert.Equal(t, field, kinded.Field(), "%v", err)
}

func requireKind(t *testing.T, err error, kind errkind.Kind) {
	t.Helper()
	require.Error(t, err)
	kinded, ok := errkind.As(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, kind, kinded.Kind(), "%v", err)
}

// serveOCSP serves responder on a loopback port and returns its base URL.
func serveOCSP(t *testing.T, responder http.Handler) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(local.OCSPPath, responder)
	mux.Handle(local.OCSPPath+"/", responder)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}
