package scep

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	smscep "github.com/smallstep/scep"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorded are the pkiMessages Debian's scepclient sent (see record_test.go).
const recorded = "testdata/scepclient"

// recordedRA is the throwaway RA the recorded messages are encrypted to.
func recordedRA(t testing.TB) ra {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(recorded, "ra.pem"))
	require.NoError(t, err)
	var a ra
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		switch block.Type {
		case "CERTIFICATE":
			a.cert, err = x509.ParseCertificate(block.Bytes)
		case "PRIVATE KEY":
			var key any
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
			a.key, _ = key.(*rsa.PrivateKey)
		}
		require.NoError(t, err)
	}
	require.NotNil(t, a.cert)
	require.NotNil(t, a.key)
	return a
}

// TestReplayRecordedRequests reads what scepclient sent, without the client:
// a PKCSReq signed with its self-signed certificate, carrying the OTP as
// challenge, and a RenewalReq signed with the certificate it renews. Each
// decrypts with the RA, and a CertRep answering it is what the library reads.
func TestReplayRecordedRequests(t *testing.T) {
	a := recordedRA(t)
	for _, c := range []struct {
		file       string
		msgType    smscep.MessageType
		challenge  string
		selfSigned bool
	}{
		{"pkcsreq.der", smscep.PKCSReq, "otp-phone-1-0123", true},
		{"renewalreq.der", smscep.RenewalReq, "otp-phone-1-0123", false},
	} {
		t.Run(c.file, func(t *testing.T) {
			der, err := os.ReadFile(filepath.Join(recorded, c.file))
			require.NoError(t, err)
			q, err := parseRequest(der)
			require.NoError(t, err)
			// Verified at the time it was signed; the self-signed certificate
			// may have expired since.
			assert.Equal(t, c.msgType, q.messageType)
			assert.NotEmpty(t, q.transactionID)
			assert.Len(t, q.senderNonce, 16)
			assert.Equal(t, c.selfSigned, selfSigned(q.signer))
			assert.True(t, q.canReceive())
			csr, challenge, err := q.csr([]ra{a})
			require.NoError(t, err)
			assert.Equal(t, "phone-1", csr.Subject.CommonName)
			// scepclient renews with the CSR it enrolled with, challenge and all.
			assert.Equal(t, c.challenge, challenge)

			rep, err := certRep(q, reply{status: smscep.PENDING}, a)
			require.NoError(t, err)
			msg, err := smscep.ParsePKIMessage(rep, smscep.WithCACerts([]*x509.Certificate{a.cert}))
			require.NoError(t, err)
			assert.Equal(t, smscep.PENDING, msg.PKIStatus)
			assert.Equal(t, smscep.TransactionID(q.transactionID), msg.TransactionID)
			assert.Equal(t, q.senderNonce, []byte(msg.RecipientNonce))
		})
	}
}
