package trust_test

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/changefeed"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/pki/trust"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newStore(t *testing.T) *trust.Store {
	t.Helper()
	pool, _ := testenv.Database(t)
	return trust.New(pool)
}

func upload(t *testing.T, s *trust.Store, name string, cas ...*testpki.CA) []int64 {
	t.Helper()
	var certs []*x509.Certificate
	for _, c := range cas {
		certs = append(certs, c.Cert)
	}
	rows, err := s.Add(context.Background(), trust.Upload{Name: name, PEM: testpki.CertPEM(certs...)})
	require.NoError(t, err)
	var ids []int64
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestUploadRules(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	factory := testpki.NewCA(t, "Acme Factory CA")
	upload(t, s, "factory", factory)

	_, err := s.Add(ctx, trust.Upload{Name: "again", PEM: testpki.CertPEM(factory.Cert)})
	assert.ErrorIs(t, err, trust.ErrDuplicate)

	leaf, _ := factory.Client(t, "device-1")
	expired, _ := factory.Issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "old CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour),
	})
	fresh := testpki.NewCA(t, "Fresh CA")
	for name, pem := range map[string][]byte{
		"not a CA":           testpki.CertPEM(leaf),
		"expired":            testpki.CertPEM(expired),
		"garbage":            []byte("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"),
		"private key":        testpki.KeyPEM(t, factory.Key),
		"chain with a leaf":  testpki.CertPEM(fresh.Cert, leaf),
		"text after the PEM": append(testpki.CertPEM(fresh.Cert), []byte("trailing")...),
	} {
		_, err := s.Add(ctx, trust.Upload{Name: name, PEM: pem})
		assert.ErrorIs(t, err, trust.ErrInvalid, name)
	}
	_, err = s.Add(ctx, trust.Upload{Name: "fresh", PEM: testpki.CertPEM(fresh.Cert)})
	require.NoError(t, err, "the refused chain stored nothing, so its valid CA can still be uploaded")

	root := testpki.NewCA(t, "Vendor Root")
	assert.Len(t, upload(t, s, "vendor chain", root.SubCA(t, "Vendor Issuing"), root), 2)
}

// TestProofOfPossession signs the code the way the docs tell an operator to.
func TestProofOfPossession(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	factory := testpki.NewCA(t, "Acme Factory CA")
	id := upload(t, s, "factory", factory)[0]
	dir := t.TempDir()

	sign := func(key []byte, code string) string {
		keyPath := testpki.Write(t, dir, "ca.key", key)
		codePath := testpki.Write(t, dir, "code.txt", []byte(code+"\n")) // as `echo $code > code.txt` writes it
		out, err := exec.Command("bash", "-c", "openssl dgst -sha256 -sign "+keyPath+" "+codePath+" | openssl base64 -A").Output()
		require.NoError(t, err)
		return string(out)
	}

	code, err := s.Challenge(ctx, id)
	require.NoError(t, err)
	impostor := testpki.NewCA(t, "Impostor")
	assert.ErrorIs(t, s.Prove(ctx, id, code, sign(testpki.KeyPEM(t, impostor.Key), code)), trust.ErrProof)
	assert.ErrorIs(t, s.Prove(ctx, id, strings.Repeat("0", 32), sign(testpki.KeyPEM(t, factory.Key), code)), trust.ErrProof)
	require.NoError(t, s.Prove(ctx, id, code, sign(testpki.KeyPEM(t, factory.Key), code)))
	assert.ErrorIs(t, s.Prove(ctx, id, code, sign(testpki.KeyPEM(t, factory.Key), code)), trust.ErrNoChallenge, "a code works once")
	_, err = s.Challenge(ctx, 999999)
	assert.ErrorIs(t, err, trust.ErrNotFound)
}

// TestUnprovenAnchorsAuthenticateNothing: anyone can upload a CA certificate,
// so an anchor starts disabled and stays so until its key holder proved
// possession; a certificate under it is refused until then.
func TestUnprovenAnchorsAuthenticateNothing(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	factory := testpki.NewCA(t, "Acme Factory CA")
	id := upload(t, s, "factory", factory)[0]
	device, _ := factory.Client(t, "cam-7")

	_, err := s.Verify(ctx, device, nil, x509.ExtKeyUsageClientAuth)
	assert.ErrorIs(t, err, trust.ErrAnchorOff, "an uploaded anchor starts disabled")
	assert.ErrorIs(t, s.SetEnabled(ctx, id, true), trust.ErrUnproven)
	assert.ErrorIs(t, s.Confirm(ctx, id, "admin"), trust.ErrNotLegacy, "only a legacy anchor is confirmed without a proof")

	code, err := s.Challenge(ctx, id)
	require.NoError(t, err)
	require.NoError(t, s.Prove(ctx, id, code, factory.SignCode(t, code)))
	require.NoError(t, s.SetEnabled(ctx, id, true))
	anchor, err := s.Verify(ctx, device, nil, x509.ExtKeyUsageClientAuth)
	require.NoError(t, err)
	assert.Equal(t, id, anchor.ID)
}

func TestVerifyChains(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	root := testpki.NewCA(t, "Vendor Root")
	issuing := root.SubCA(t, "Vendor Issuing")
	issuingID := testenv.ProvenAnchor(t, s, issuing, trust.Upload{Name: "vendor issuing"}).ID
	rootID := testenv.ProvenAnchor(t, s, root, trust.Upload{Name: "vendor root"}).ID
	device, _ := issuing.Client(t, "cam-42")

	anchor, err := s.Verify(ctx, device, nil, x509.ExtKeyUsageClientAuth)
	require.NoError(t, err)
	assert.Equal(t, issuingID, anchor.ID, "the nearest anchor above the certificate")

	stranger, _ := testpki.NewCA(t, "Stranger").Client(t, "cam-43")
	_, err = s.Verify(ctx, stranger, nil, x509.ExtKeyUsageClientAuth)
	assert.ErrorIs(t, err, trust.ErrUntrusted)

	require.NoError(t, s.SetEnabled(ctx, rootID, false))
	_, err = s.Verify(ctx, device, nil, x509.ExtKeyUsageClientAuth)
	assert.ErrorIs(t, err, trust.ErrAnchorOff, "a disabled root refuses what its enabled intermediate issued")
	require.NoError(t, s.SetEnabled(ctx, rootID, true))

	added, err := s.AddRevocation(ctx, issuingID, strings.ToUpper(device.SerialNumber.Text(16)), "")
	require.NoError(t, err)
	assert.True(t, added)
	_, err = s.Verify(ctx, device, nil, x509.ExtKeyUsageClientAuth)
	assert.ErrorIs(t, err, trust.ErrRevoked)

	require.NoError(t, s.Delete(ctx, issuingID))
	assert.ErrorIs(t, s.Delete(ctx, issuingID), trust.ErrNotFound)
	assert.ErrorIs(t, s.SetEnabled(ctx, issuingID, true), trust.ErrNotFound)
}

func TestOfflineRevocationImport(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	id := upload(t, s, "external", testpki.NewCA(t, "External CA"))[0]
	now := time.Now()

	entries, err := trust.ParseRevocationCSV(strings.NewReader("serial,date\n0A:1B,2025-03-01\n0xff\n00a1b,2099-01-01\n"), now)
	require.NoError(t, err)
	require.Len(t, entries, 2, "0A:1B and 00a1b are one serial; the first row wins")
	assert.Equal(t, "a1b", entries[0].SerialHex)
	assert.Equal(t, "2025-03-01", entries[0].RevokedAt.Format(time.DateOnly))
	assert.Equal(t, "ff", entries[1].SerialHex)

	added, kept, err := s.AddRevocations(ctx, id, entries)
	require.NoError(t, err)
	assert.Equal(t, [2]int{2, 0}, [2]int{added, kept})
	added, kept, err = s.AddRevocations(ctx, id, []trust.Revocation{{SerialHex: "a1b", RevokedAt: now}})
	require.NoError(t, err)
	assert.Equal(t, [2]int{0, 1}, [2]int{added, kept}, "a duplicate keeps the existing entry")

	_, _, err = s.AddRevocations(ctx, 999999, entries)
	assert.ErrorIs(t, err, trust.ErrNotFound)
}

// TestCachedVerifyFollowsChanges: a store that keeps the parsed anchors
// refuses what a disabled anchor issued once the change is heard, and
// accepts it again once it is re-enabled.
func TestCachedVerifyFollowsChanges(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool, _ := testenv.Database(t)
	feed := changefeed.New(pool, slog.New(slog.DiscardHandler))
	go feed.Run(ctx)
	s := trust.New(pool)
	cached := s.Cached(feed)
	root := testpki.NewCA(t, "Vendor Root")
	issuing := root.SubCA(t, "Vendor Issuing")
	rootID := testenv.ProvenAnchor(t, s, root, trust.Upload{Name: "vendor root"}).ID
	device, _ := issuing.Client(t, "cam-42")
	presented := []*x509.Certificate{issuing.Cert}
	// verifies waits until the cached store's answer is want's (nil: it
	// accepts); a change is heard a moment after its commit.
	verifies := func(want error) {
		t.Helper()
		require.Eventually(t, func() bool {
			_, err := cached.Verify(ctx, device, presented, x509.ExtKeyUsageClientAuth)
			return (want == nil && err == nil) || (want != nil && errors.Is(err, want))
		}, 10*time.Second, 5*time.Millisecond)
	}
	require.Eventually(t, func() bool { _, ok := feed.Generation(); return ok }, 10*time.Second, 5*time.Millisecond)

	anchor, err := cached.Verify(ctx, device, presented, x509.ExtKeyUsageClientAuth)
	require.NoError(t, err)
	assert.Equal(t, rootID, anchor.ID)
	_, err = cached.Verify(ctx, device, nil, x509.ExtKeyUsageClientAuth)
	assert.ErrorIs(t, err, trust.ErrUntrusted, "the intermediate a device presented is not kept in the anchors' pool")

	require.NoError(t, s.SetEnabled(ctx, rootID, false))
	verifies(trust.ErrAnchorOff)
	require.NoError(t, s.SetEnabled(ctx, rootID, true))
	verifies(nil)
}
