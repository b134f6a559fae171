package scep_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"

	smscep "github.com/smallstep/scep"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/pki/trust"
)

// TestZeroTouch: a device signing its PKCSReq with a factory certificate
// under an anchor that registers devices is created by its enrollment, in
// the transaction that records its CA request and its SCEP transaction; held
// for approval, its CertPoll finds that transaction.
func TestZeroTouch(t *testing.T) {
	w := newWorld(t)
	factory := testpki.NewCA(t, "Acme Phone Factory CA")
	testenv.ProvenAnchor(t, trust.New(w.pool), factory, trust.Upload{Name: "phone factory", AutoRegister: true, NameMapping: "CN"})
	w.label(t, store.CreateESTLabelParams{Label: "factory", ProfileID: w.profile(t, "factory-phones", false), AllowFactory: true, ScepEnabled: true})
	w.label(t, store.CreateESTLabelParams{Label: "factory-approve", ProfileID: w.profile(t, "factory-phones-approval", true), AllowFactory: true, ScepEnabled: true})

	// SCEP answers are encrypted to the signer, so its key is RSA.
	factoryCert := func(cn string) (*x509.Certificate, *rsa.PrivateKey) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
		require.NoError(t, err)
		csr, err := x509.ParseCertificateRequest(der)
		require.NoError(t, err)
		return factory.IssueCSR(t, csr), key
	}
	enroll := func(label, device string) (*smscep.PKIMessage, *x509.Certificate, *rsa.PrivateKey, *ecdsa.PrivateKey) {
		signer, signerKey := factoryCert(device)
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: device}}, key)
		require.NoError(t, err)
		csr, err := x509.ParseCertificateRequest(der)
		require.NoError(t, err)
		return w.send(t, label, w.csrRequest(t, smscep.PKCSReq, csr, signer, signerKey)), signer, signerKey, key
	}
	committedTogether := func(device string) int {
		return w.count(t, `SELECT count(*) FROM devices d JOIN ca_requests r ON r.device_id = d.id
			JOIN audit_log a ON a.action = 'device.auto_register' AND d.id = ANY(a.object_ids)
			JOIN scep_transactions s ON s.enrollment = r.idempotency_key
			WHERE d.id = $1 AND a.xmin = r.xmin AND s.xmin = r.xmin`, device)
	}

	rep, _, _, key := enroll("factory", "phone-z1")
	require.Equal(t, smscep.SUCCESS, rep.PKIStatus, "%v", rep.FailInfo)
	assert.True(t, pki.SamePublicKey(key.Public(), rep.CertRepMessage.Certificate.PublicKey))
	assert.Equal(t, 1, committedTogether("phone-z1"), "the device, its audit row and its SCEP transaction commit with the CA request")

	rep, signer, signerKey, _ := enroll("factory-approve", "phone-z2")
	require.Equal(t, smscep.PENDING, rep.PKIStatus)
	assert.Equal(t, 1, committedTogether("phone-z2"))
	poll := w.certPoll(t, string(rep.TransactionID), pkix.Name{CommonName: "phone-z2"}, signer, signerKey)
	assert.Equal(t, smscep.PENDING, w.send(t, "factory-approve", poll).PKIStatus, "the CertPoll finds its transaction")
}
