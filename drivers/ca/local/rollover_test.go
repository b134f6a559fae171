package local_test

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/ocspresponder"
	"github.com/certfleet/certfleet/pki"
)

// TestRollover renews the default CA with a short overlap: during it,
// cacerts publishes both issuing CAs and the old one still issues; after
// it, the new one issues, the old one is retired, and what it issued still
// verifies, is revoked into its own CRL and answered revoked over OCSP,
// while the new CA's CRL and OCSP answers stay its own. Another process
// sees the switch.
func TestRollover(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	keys := testenv.KEK(t)
	set, err := local.OpenSet(ctx, pool, keys, local.Options{PublicURL: "http://certfleet.example"})
	require.NoError(t, err)
	profile := cameraProfile(t, pool, "cameras", false)
	issue := func(cn string) (*x509.Certificate, []*x509.Certificate) {
		t.Helper()
		c, err := set.ForSettings(ctx, nil)
		require.NoError(t, err)
		r, err := c.Submit(ctx, ca.Request{CSR: newCSR(t, ecKey(t), cn), Profile: profile, IdempotencyKey: "rollover/" + cn})
		require.NoError(t, err)
		require.Equal(t, ca.Issued, r.Status, r.Reason)
		return r.Certificate, r.Chain
	}
	old := set.Default()
	oldIssuing, root := old.Certificates()
	before, _ := issue("cam-001")

	_, err = set.Renew(ctx, "default", -time.Second, nil)
	requireInvalid(t, err, "overlap")
	_, err = set.Renew(ctx, "nope", time.Second, nil)
	requireKind(t, err, errkind.KindNotFound)
	const overlap = 3 * time.Second
	next, err := set.Renew(ctx, "default", overlap, nil)
	require.NoError(t, err)
	assert.Equal(t, "next", next.Status)
	assert.Contains(t, next.Issuing.Subject, "G2")
	_, err = set.Renew(ctx, "default", overlap, nil)
	requireKind(t, err, errkind.KindConflict)

	published, err := ca.Published(ctx, set.Default())
	require.NoError(t, err)
	require.Len(t, published, 3, "the active issuing CA, the next one, the root")
	assert.True(t, published[0].Equal(oldIssuing))
	assert.Equal(t, next.Issuing.Subject, published[1].Subject.String())
	assert.True(t, published[2].Equal(root))
	during, _ := issue("cam-002")
	assert.Equal(t, oldIssuing.Subject.String(), during.Issuer.String(), "the old CA issues during the overlap")

	// Once the overlap has passed, the next issuance comes from the new CA.
	var after *x509.Certificate
	var chain []*x509.Certificate
	require.Eventually(t, func() bool {
		c, err := set.ForSettings(ctx, nil)
		require.NoError(t, err)
		return c != old
	}, overlap+5*time.Second, 50*time.Millisecond, "the next CA takes over after the overlap")
	after, chain = issue("cam-003")
	assert.Equal(t, next.Issuing.Subject, after.Issuer.String())
	chainNow, err := set.Default().CACertificates(ctx)
	require.NoError(t, err)
	assert.Len(t, chainNow, 2, "the chain stays a chain during the overlap")
	published, err = ca.Published(ctx, set.Default())
	require.NoError(t, err)
	assert.Len(t, published, 2, "the new issuing CA and the root: nothing waits any more")

	dir := t.TempDir()
	rootPEM := writeFile(t, dir, "root.pem", pki.EncodeCertificatesPEM(root))
	oldPEM := writeFile(t, dir, "old.pem", pki.EncodeCertificatesPEM(oldIssuing))
	newPEM := writeFile(t, dir, "new.pem", pki.EncodeCertificatesPEM(chain[0]))
	beforePEM := writeFile(t, dir, "before.pem", pki.EncodeCertificatesPEM(before))
	afterPEM := writeFile(t, dir, "after.pem", pki.EncodeCertificatesPEM(after))
	assert.Contains(t, openssl(t, "verify", "-CAfile", rootPEM, "-untrusted", oldPEM, beforePEM), "before.pem: OK", "old certificates still verify")
	assert.Contains(t, openssl(t, "verify", "-CAfile", rootPEM, "-untrusted", newPEM, afterPEM), "after.pem: OK")

	// The retired CA still revokes what it issued, into its own CRL.
	require.NoError(t, set.RevokeAudited(ctx, before, ca.ReasonKeyCompromise, nil))
	oldCRL, found, err := set.CRLByName(ctx, old.CAIssuersName())
	require.NoError(t, err)
	require.True(t, found)
	newCRL, found, err := set.CRLByName(ctx, set.Default().CAIssuersName())
	require.NoError(t, err)
	require.True(t, found)
	oldList, err := x509.ParseRevocationList(oldCRL)
	require.NoError(t, err)
	require.NoError(t, oldList.CheckSignatureFrom(oldIssuing))
	require.Len(t, oldList.RevokedCertificateEntries, 1)
	assert.Zero(t, oldList.RevokedCertificateEntries[0].SerialNumber.Cmp(before.SerialNumber))
	newList, err := x509.ParseRevocationList(newCRL)
	require.NoError(t, err)
	require.NoError(t, newList.CheckSignatureFrom(chain[0]))
	assert.Empty(t, newList.RevokedCertificateEntries, "the new CA's CRL lists only its own")

	url := serveOCSP(t, ocspresponder.New(ocspresponder.Options{Path: local.OCSPPath}, set))
	out := openssl(t, "ocsp", "-issuer", oldPEM, "-cert", beforePEM, "-url", url+local.OCSPPath, "-CAfile", rootPEM)
	assert.Contains(t, out, "before.pem: revoked")
	assert.Contains(t, out, "Response verify OK")
	out = openssl(t, "ocsp", "-issuer", newPEM, "-cert", afterPEM, "-url", url+local.OCSPPath, "-CAfile", rootPEM)
	assert.Contains(t, out, "after.pem: good")
	assert.Contains(t, out, "Response verify OK")

	other, err := local.OpenSet(ctx, pool, keys, local.Options{})
	require.NoError(t, err)
	assert.Equal(t, next.Issuing.Subject, other.Default().Issuer().Subject.String(), "another process issues from the new CA")
	list, err := other.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, "retired", list[0].Status)
	assert.Equal(t, "active", list[1].Status)
}
