package scep_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
	smscep "github.com/smallstep/scep"
	"github.com/smallstep/scep/x509util"
	"github.com/stretchr/testify/require"
)

// A small SCEP client on smallstep/scep, for the refusals Debian's client
// cannot be made to send.

func (w *world) get(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(w.url + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// raCert is the RA certificate GetCACert hands out (the one that can
// encipher keys).
func (w *world) raCert(t *testing.T) *x509.Certificate {
	t.Helper()
	resp, body := w.get(t, "/scep/phones?operation=GetCACert")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	certs, err := smscep.CACerts(body)
	require.NoError(t, err)
	selected := smscep.EnciphermentCertsSelector().SelectCerts(certs)
	require.Len(t, selected, 1, "one RA certificate among %d", len(certs))
	return selected[0]
}

// selfSigned makes the certificate a client signs its first request with.
func selfSigned(t *testing.T, key crypto.Signer, cn string, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert
}

// csrWithChallenge makes a PKCS#10 request for key naming cn, with a
// challenge password when one is given.
func csrWithChallenge(t *testing.T, key crypto.Signer, cn, challenge string) *x509.CertificateRequest {
	t.Helper()
	der, err := x509util.CreateCertificateRequest(rand.Reader, &x509util.CertificateRequest{
		CertificateRequest: x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, ChallengePassword: challenge,
	}, key)
	require.NoError(t, err)
	csr, err := x509.ParseCertificateRequest(der)
	require.NoError(t, err)
	return csr
}

// request is a client's message: what it sent and what signed it.
type request struct {
	raw        []byte
	signerCert *x509.Certificate
	signerKey  crypto.PrivateKey
	recipients []*x509.Certificate
}

func (w *world) csrRequest(t *testing.T, msgType smscep.MessageType, csr *x509.CertificateRequest, signerCert *x509.Certificate, signerKey crypto.PrivateKey) request {
	t.Helper()
	recipients := []*x509.Certificate{w.raCert(t)}
	msg, err := smscep.NewCSRRequest(csr, &smscep.PKIMessage{MessageType: msgType, Recipients: recipients, SignerKey: signerKey, SignerCert: signerCert})
	require.NoError(t, err)
	return request{raw: msg.Raw, signerCert: signerCert, signerKey: signerKey, recipients: recipients}
}

// certPoll asks about transaction id (GetCertInitial): the smallstep
// library does not write these, so it is put together from its parts.
func (w *world) certPoll(t *testing.T, id string, subject pkix.Name, signerCert *x509.Certificate, signerKey crypto.PrivateKey) request {
	t.Helper()
	ra := w.raCert(t)
	subjectDER, err := asn1.Marshal(subject.ToRDNSequence())
	require.NoError(t, err)
	content, err := asn1.Marshal(struct{ Issuer, Subject asn1.RawValue }{asn1.RawValue{FullBytes: ra.RawIssuer}, asn1.RawValue{FullBytes: subjectDER}})
	require.NoError(t, err)
	enveloped, err := pkcs7.Encrypt(content, []*x509.Certificate{ra})
	require.NoError(t, err)
	sd, err := pkcs7.NewSignedData(enveloped)
	require.NoError(t, err)
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	require.NoError(t, sd.AddSigner(signerCert, signerKey, pkcs7.SignerInfoConfig{ExtraSignedAttributes: []pkcs7.Attribute{
		{Type: asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 7}, Value: id},
		{Type: asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 2}, Value: smscep.CertPoll},
		{Type: asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 5}, Value: nonce},
	}}))
	raw, err := sd.Finish()
	require.NoError(t, err)
	return request{raw: raw, signerCert: signerCert, signerKey: signerKey, recipients: []*x509.Certificate{ra}}
}

// send posts a request and reads the CertRep; the certificate is decrypted
// when one was issued.
func (w *world) send(t *testing.T, label string, r request) *smscep.PKIMessage {
	t.Helper()
	resp, err := http.Post(w.url+"/scep/"+label+"?operation=PKIOperation", "application/x-pki-message", bytes.NewReader(r.raw))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, "application/x-pki-message", resp.Header.Get("Content-Type"))
	rep, err := smscep.ParsePKIMessage(body, smscep.WithCACerts(r.recipients))
	require.NoError(t, err)
	if rep.PKIStatus == smscep.SUCCESS {
		require.NoError(t, rep.DecryptPKIEnvelope(r.signerCert, r.signerKey))
	}
	return rep
}

func pemBody(t *testing.T, data []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(data)
	require.NotNil(t, block)
	return block.Bytes
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}
