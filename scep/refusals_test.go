package scep_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509/pkix"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	smscep "github.com/smallstep/scep"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/pki"
)

// TestRefusalsChangeNothing: each request SCEP must refuse gets a CertRep
// FAILURE with the failInfo that says why (or HTTP 4xx when it cannot be
// answered at all), and spends, creates and issues nothing.
func TestRefusalsChangeNothing(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	signerKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	signer := selfSigned(t, signerKey, "device", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	ecKey := func() *ecdsa.PrivateKey {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return key
	}
	enroll := func(label, cn, challenge string) *smscep.PKIMessage {
		return w.send(t, label, w.csrRequest(t, smscep.PKCSReq, csrWithChallenge(t, ecKey(), cn, challenge), signer, signerKey))
	}

	// What the refusals are set against: a spent challenge, a device's own
	// challenge and OTP, and a revoked certificate.
	w.device(t, "phone-a", "otp", "otp-phone-a-0123")
	w.device(t, "phone-b", "otp", "otp-phone-b-0123")
	w.challenge(t, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "")
	w.challenge(t, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "phone-a")
	require.Equal(t, smscep.SUCCESS, enroll("phones", "phone-b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").PKIStatus)
	revokedKey := ecKey()
	w.device(t, "phone-r", "otp", "otp-phone-r-0123")
	w.device(t, "phone-w", "password", "password-phone-w")
	// The device's RSA key signs its renewal, so its certificate is for that key.
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	first := w.send(t, "phones", w.csrRequest(t, smscep.PKCSReq, csrWithChallenge(t, rsaKey, "phone-r", "otp-phone-r-0123"), signer, signerKey))
	require.Equal(t, smscep.SUCCESS, first.PKIStatus)
	require.NoError(t, w.ca.Revoke(ctx, first.Certificate, ca.ReasonKeyCompromise))
	expired := selfSigned(t, signerKey, "device", time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))

	badSignature := w.csrRequest(t, smscep.PKCSReq, csrWithChallenge(t, ecKey(), "phone-a", "otp-phone-a-0123"), signer, signerKey)
	badSignature.raw = append([]byte{}, badSignature.raw...)
	badSignature.raw[len(badSignature.raw)-5] ^= 0xff

	before := w.snapshot(t)
	for _, c := range []struct {
		name  string
		label string
		req   request
		info  smscep.FailInfo
	}{
		{"a reused challenge", "phones", w.csrRequest(t, smscep.PKCSReq, csrWithChallenge(t, ecKey(), "phone-a", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), signer, signerKey), smscep.BadRequest},
		{"a challenge for another device", "phones", w.csrRequest(t, smscep.PKCSReq, csrWithChallenge(t, ecKey(), "phone-b", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"), signer, signerKey), smscep.BadRequest},
		{"a request for another device's name", "phones", w.csrRequest(t, smscep.PKCSReq, csrWithChallenge(t, ecKey(), "phone-b", "otp-phone-a-0123"), signer, signerKey), smscep.BadRequest},
		{"a renewal with a revoked certificate", "phones", w.csrRequest(t, smscep.RenewalReq, csrWithChallenge(t, rsaKey, "phone-r", ""), first.Certificate, rsaKey), smscep.BadRequest},
		{"a RenewalReq signed by no certfleet certificate", "phones", w.csrRequest(t, smscep.RenewalReq, csrWithChallenge(t, revokedKey, "phone-a", ""), signer, signerKey), smscep.BadRequest},
		{"a device password, which SCEP never takes", "phones", w.csrRequest(t, smscep.PKCSReq, csrWithChallenge(t, ecKey(), "phone-w", "password-phone-w"), signer, signerKey), smscep.BadRequest},
		{"no challenge", "phones", w.csrRequest(t, smscep.PKCSReq, csrWithChallenge(t, ecKey(), "phone-a", ""), signer, signerKey), smscep.BadRequest},
		{"a one-time challenge where the label takes only OTPs", "otp-only", w.csrRequest(t, smscep.PKCSReq, csrWithChallenge(t, ecKey(), "phone-a", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"), signer, signerKey), smscep.BadRequest},
		{"a key type the profile refuses", "phones", w.csrRequest(t, smscep.PKCSReq, csrWithChallenge(t, p384(t), "phone-a", "otp-phone-a-0123"), signer, signerKey), smscep.BadRequest},
		{"a signature that does not verify", "phones", badSignature, smscep.BadMessageCheck},
		{"signed at a time its certificate was not valid", "phones", w.csrRequest(t, smscep.PKCSReq, csrWithChallenge(t, ecKey(), "phone-a", "otp-phone-a-0123"), expired, signerKey), smscep.BadTime},
		{"a CertPoll for no known transaction", "phones", w.certPoll(t, "no-such-transaction", pkix.Name{CommonName: "phone-a"}, signer, signerKey), smscep.BadCertID},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep := w.send(t, c.label, c.req)
			assert.Equal(t, smscep.FAILURE, rep.PKIStatus)
			assert.Equal(t, c.info, rep.FailInfo)
		})
	}
	for _, c := range []struct {
		name, method, path, body string
		status                   int
		says                     string
	}{
		{"garbage", "POST", "/scep/phones?operation=PKIOperation", "garbage", 400, "not CMS signed data"},
		{"empty", "POST", "/scep/phones?operation=PKIOperation", "", 400, "empty"},
		{"not base64", "GET", "/scep/phones?operation=PKIOperation&message=%21%21", "", 400, "base64"},
		{"unknown operation", "GET", "/scep/phones?operation=GetCRL", "", 400, "unknown SCEP operation"},
		{"a label without SCEP", "GET", "/scep/est-only?operation=GetCACaps", "", 404, "does not serve SCEP"},
		{"an unknown label", "GET", "/scep/nope?operation=GetCACert", "", 404, "no SCEP label"},
		{"NUL in the label", "GET", "/scep/ph%00ones?operation=GetCACert", "", 404, "no SCEP label"},
		{"oversize", "POST", "/scep/phones?operation=PKIOperation", strings.Repeat("A", 70<<10), 413, "bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, w.url+c.path, strings.NewReader(c.body))
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			body := readAll(t, resp)
			assert.Equal(t, c.status, resp.StatusCode, body)
			assert.Contains(t, body, c.says)
		})
	}
	assert.Equal(t, before, w.snapshot(t), "refused requests changed nothing")

	// The OTP still works after all that, sent the way GET clients send it.
	req := w.csrRequest(t, smscep.PKCSReq, csrWithChallenge(t, ecKey(), "phone-a", "otp-phone-a-0123"), signer, signerKey)
	resp, err := http.Get(w.url + "/cgi-bin/pkiclient.exe?operation=PKIOperation&message=" + url.QueryEscape(base64.StdEncoding.EncodeToString(req.raw)))
	require.NoError(t, err)
	rep, err := smscep.ParsePKIMessage([]byte(readAll(t, resp)), smscep.WithCACerts(req.recipients))
	require.NoError(t, err)
	assert.Equal(t, smscep.SUCCESS, rep.PKIStatus)
}

// TestCertPollAfterApproval: a request the CA holds is answered PENDING; a
// CertPoll (GetCertInitial) for its transaction is PENDING too until an
// operator approves, then gets the certificate.
func TestCertPollAfterApproval(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.device(t, "phone-p", "otp", "otp-phone-p-0123")
	signerKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	signer := selfSigned(t, signerKey, "phone-p", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	req := w.csrRequest(t, smscep.PKCSReq, csrWithChallenge(t, key, "phone-p", "otp-phone-p-0123"), signer, signerKey)
	rep := w.send(t, "approve", req)
	require.Equal(t, smscep.PENDING, rep.PKIStatus)

	poll := w.certPoll(t, string(rep.TransactionID), pkix.Name{CommonName: "phone-p"}, signer, signerKey)
	assert.Equal(t, smscep.PENDING, w.send(t, "approve", poll).PKIStatus)
	var requestID string
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT id::text FROM ca_requests WHERE device_id = 'phone-p' AND status = 'pending'`).Scan(&requestID))
	_, err = w.ca.Approve(ctx, requestID, "tester", nil)
	require.NoError(t, err)
	// The device polls again, as SCEP clients do, until the enrollment has
	// picked up the decision.
	require.Eventually(t, func() bool {
		rep = w.send(t, "approve", poll)
		require.NotEqual(t, smscep.FAILURE, rep.PKIStatus)
		return rep.PKIStatus == smscep.SUCCESS
	}, 30*time.Second, 200*time.Millisecond)
	assert.True(t, pki.SamePublicKey(key.Public(), rep.Certificate.PublicKey))
	assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM ca_requests WHERE device_id = 'phone-p'`), "one enrollment")
}

func p384(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	return key
}
