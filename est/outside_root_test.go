package est_test

import (
	"context"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/pki"
)

// TestEnrollUnderAnOutsideRoot: certfleet's issuing CA "corp" is signed by
// a root made with openssl outside certfleet; a label whose profile names
// it serves that chain in cacerts, globalsign's estclient enrolls a device
// under it, and openssl verifies the device's certificate with the outside
// root alone.
func TestEnrollUnderAnOutsideRoot(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command("openssl", args...).CombinedOutput()
		require.NoError(t, err, "openssl %v: %s", args, out)
	}
	rootPEM, rootKey := filepath.Join(dir, "corp-root.pem"), filepath.Join(dir, "corp-root.key")
	run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", rootKey, "-out", rootPEM,
		"-days", "3650", "-subj", "/O=Acme Corp/CN=Acme Corporate Root", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")

	cas := local.SetOf(w.ca)
	pending, err := cas.RequestIssuingCA(ctx, ca.IssuingCARequest{Name: "corp", CommonName: "Acme certfleet Issuing CA"}, "test", nil)
	require.NoError(t, err)
	csrPath := testpki.Write(t, dir, "corp.csr", []byte(pending.CSRPEM))
	issuingPath := filepath.Join(dir, "corp-issuing.pem")
	// The root's owner keeps the CSR's CA extensions and adds the key IDs.
	extPath := testpki.Write(t, dir, "ext.cnf", []byte("subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"))
	run("x509", "-req", "-in", csrPath, "-CA", rootPEM, "-CAkey", rootKey, "-CAcreateserial", "-days", "1825", "-copy_extensions", "copy", "-extfile", extPath, "-out", issuingPath)
	issuing, root := readCert(t, issuingPath), readCert(t, rootPEM)
	_, err = cas.CompleteIssuingCA(ctx, "corp", issuing, []*x509.Certificate{root}, nil)
	require.NoError(t, err)

	profile := w.profile(t, "corp-cameras", false)
	_, err = w.pool.Exec(ctx, `UPDATE profiles SET ca_settings = '{"ca":"corp"}' WHERE id = $1`, profile)
	require.NoError(t, err)
	w.label(t, store.CreateESTLabelParams{Label: "corp", ProfileID: profile, AllowBasic: true})

	cacerts := filepath.Join(dir, "cacerts.pem")
	out, err := w.estclient(t, "cacerts", "-aps", "corp", "-out", cacerts)
	require.NoError(t, err, out)
	data, err := os.ReadFile(cacerts)
	require.NoError(t, err)
	chain, err := pki.ParseCertificatesPEM(data)
	require.NoError(t, err)
	require.Len(t, chain, 2)
	assert.True(t, chain[0].Equal(issuing) && chain[1].Equal(root), "cacerts is corp's issuing CA, then the outside root")

	dev, otp := "cam-corp", "otp-corp-0123"
	w.device(t, dev, "otp", otp)
	_, keyPath := w.key(t, "ec", dev+".key")
	certPath := filepath.Join(dir, dev+".pem")
	out, err = w.estclient(t, "enroll", "-aps", "corp", "-key", keyPath, "-cn", dev, "-user", dev, "-pass", otp, "-out", certPath)
	require.NoError(t, err, out)
	verified, err := exec.Command("openssl", "verify", "-CAfile", rootPEM, "-untrusted", issuingPath, certPath).CombinedOutput()
	require.NoError(t, err, "%s", verified)
	assert.Contains(t, string(verified), dev+".pem: OK")
	assert.Equal(t, issuing.Subject.String(), readCert(t, certPath).Issuer.String())
}

// TestCACertsDuringRollover: while the default CA rolls over, globalsign's
// estclient gets both issuing CAs and the root from cacerts, and a device
// enrolling during the overlap still gets its certificate from the active
// CA, which verifies with the root.
func TestCACertsDuringRollover(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	set := local.SetOf(w.ca) // the world's own set: one process, one set
	next, err := set.Renew(ctx, "default", time.Hour, nil)
	require.NoError(t, err)

	cacerts := filepath.Join(w.dir, "cacerts-overlap.pem")
	out, err := w.estclient(t, "cacerts", "-aps", "cams", "-out", cacerts)
	require.NoError(t, err, out)
	data, err := os.ReadFile(cacerts)
	require.NoError(t, err)
	certs, err := pki.ParseCertificatesPEM(data)
	require.NoError(t, err)
	issuing, root := w.ca.Certificates()
	var subjects []string
	for _, c := range certs {
		subjects = append(subjects, c.Subject.String())
	}
	assert.ElementsMatch(t, []string{issuing.Subject.String(), next.Issuing.Subject, root.Subject.String()}, subjects)

	dev, otp := "cam-overlap", "otp-overlap-0123"
	w.device(t, dev, "otp", otp)
	_, keyPath := w.key(t, "ec", dev+".key")
	certPath := filepath.Join(w.dir, dev+".pem")
	out, err = w.estclient(t, "enroll", "-aps", "cams", "-key", keyPath, "-cn", dev, "-user", dev, "-pass", otp, "-out", certPath)
	require.NoError(t, err, out)
	assert.Equal(t, issuing.Subject.String(), readCert(t, certPath).Issuer.String(), "the active CA issues during the overlap")
	w.opensslVerify(t, certPath)
}
