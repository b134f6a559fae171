package ocspresponder

import (
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	xocsp "golang.org/x/crypto/ocsp"

	"github.com/certfleet/certfleet/internal/testpki"
)

// requestWithNonce is x/crypto/ocsp's request for leaf with a nonce
// extension of nonce's bytes added, as openssl sends it.
func requestWithNonce(t testing.TB, der, nonce []byte) []byte {
	t.Helper()
	var req ocspRequest
	_, err := asn1.Unmarshal(der, &req)
	require.NoError(t, err)
	value, err := asn1.Marshal(nonce)
	require.NoError(t, err)
	req.TBSRequest.RequestExtensions = []pkix.Extension{{Id: oidNonce, Value: value}}
	out, err := asn1.Marshal(req)
	require.NoError(t, err)
	return out
}

func sampleRequest(t testing.TB, hash crypto.Hash) []byte {
	t.Helper()
	ca := testpki.NewCA(t, "Sample CA")
	leaf, _ := ca.Client(t, "cam-1")
	der, err := xocsp.CreateRequest(leaf, ca.Cert, &xocsp.RequestOptions{Hash: hash})
	require.NoError(t, err)
	return der
}

func TestParseRequest(t *testing.T) {
	plain := sampleRequest(t, crypto.SHA256)
	want, err := xocsp.ParseRequest(plain)
	require.NoError(t, err)
	got, err := parseRequest(plain)
	require.NoError(t, err)
	assert.Equal(t, crypto.SHA256, got.hash)
	assert.Equal(t, want.IssuerNameHash, got.nameHash)
	assert.Equal(t, want.IssuerKeyHash, got.keyHash)
	assert.Zero(t, want.SerialNumber.Cmp(got.serial))
	assert.Nil(t, got.nonce)

	withNonce, err := parseRequest(requestWithNonce(t, plain, make([]byte, 32)))
	require.NoError(t, err)
	require.NotNil(t, withNonce.nonce, "32 octets are echoed (RFC 8954)")
	tooLong, err := parseRequest(requestWithNonce(t, plain, make([]byte, 33)))
	require.NoError(t, err, "a long nonce is no reason to refuse")
	assert.Nil(t, tooLong.nonce, "but it is not echoed")

	for name, bad := range map[string][]byte{
		"empty":    nil,
		"garbage":  []byte("not DER"),
		"trailing": append(append([]byte{}, plain...), 0),
		"no list":  mustMarshal(t, ocspRequest{}),
	} {
		_, err := parseRequest(bad)
		assert.ErrorIs(t, err, errMalformed, name)
	}
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	der, err := asn1.Marshal(v)
	require.NoError(t, err)
	return der
}

// FuzzParseRequest: whatever a client sends, parsing neither panics nor
// accepts a request without what an answer needs.
func FuzzParseRequest(f *testing.F) {
	plain := sampleRequest(f, crypto.SHA1)
	f.Add(plain)
	f.Add(sampleRequest(f, crypto.SHA512))
	f.Add(requestWithNonce(f, plain, []byte("0123456789abcdef")))
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte("not DER"))
	f.Fuzz(func(t *testing.T, der []byte) {
		r, err := parseRequest(der)
		if err != nil {
			return
		}
		if r.serial == nil || len(r.nameHash) != r.hash.Size() || len(r.keyHash) != r.hash.Size() || len(r.certID.FullBytes) == 0 {
			t.Fatalf("accepted an unanswerable request: %+v", r)
		}
	})
}
