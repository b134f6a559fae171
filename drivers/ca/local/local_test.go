package local_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/pki/kek"
	"github.com/certfleet/certfleet/profiles"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// cameraProfile stores a TLS profile with one rule of each kind and returns it.
func cameraProfile(t *testing.T, pool *pgxpool.Pool, name string, approval bool) pki.Profile {
	t.Helper()
	row, err := store.New(pool).CreateProfile(context.Background(), store.CreateProfileParams{
		Name: name, CertType: pki.CertTypeTLS, DeviceType: "camera",
		SubjectRules: json.RawMessage(`[
			{"attr":"CN","rule":"from_csr","pattern":"cam-[0-9]+"},
			{"attr":"O","rule":"fixed","value":"Acme Security"},
			{"attr":"OU","rule":"default","value":"Cameras"}]`),
		SanRules: json.RawMessage(`[
			{"type":"dns","rule":"from_csr","pattern":"cam-[0-9]+\\.example\\.net"},
			{"type":"ip","rule":"from_csr","pattern":"10\\.[0-9.]+"},
			{"type":"uri","rule":"fixed","value":"urn:acme:site:7"}]`),
		ExtraAttributes: json.RawMessage(`[{"oid":"1.3.6.1.4.1.55555.1","value":"building-7"}]`),
		KeyAlgorithms:   json.RawMessage(`[{"algorithm":"ecdsa","sizes":[256,384]},{"algorithm":"rsa","sizes":[2048]}]`),
		Validity:        90 * 24 * time.Hour, RenewBefore: 30 * 24 * time.Hour,
		CaDriver: "local", CaSettings: json.RawMessage(`{}`), ApprovalMode: approval, MaxCaWait: time.Hour,
	})
	require.NoError(t, err)
	profile, err := profiles.FromRow(row)
	require.NoError(t, err)
	require.NoError(t, profile.Validate())
	return profile
}

func newCSR(t *testing.T, key crypto.Signer, cn string, ous ...string) *x509.CertificateRequest {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: cn, Organization: []string{"Ignored Inc"}, OrganizationalUnit: ous},
		DNSNames:    []string{cn + ".example.net"},
		IPAddresses: []net.IP{net.ParseIP("10.1.2.3")},
	}, key)
	require.NoError(t, err)
	csr, err := pki.ParseCSR(der)
	require.NoError(t, err)
	return csr
}

func ecKey(t *testing.T) crypto.Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return key
}

func openCA(t *testing.T, pool *pgxpool.Pool) *local.CA {
	t.Helper()
	c, err := local.Open(context.Background(), pool, testenv.KEK(t), local.Options{PublicURL: "http://localhost:8080"})
	require.NoError(t, err)
	return c
}

func openssl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	require.NoError(t, err, "openssl %s: %s", strings.Join(args, " "), out)
	return string(out)
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

// TestIssueVerifyRevokeWithOpenSSL is the acceptance path of the built-in CA,
// checked by openssl rather than by the Go code that produced it.
func TestIssueVerifyRevokeWithOpenSSL(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	c := openCA(t, pool)
	profile := cameraProfile(t, pool, "cameras", false)

	result, err := c.Submit(ctx, ca.Request{CSR: newCSR(t, ecKey(t), "cam-001"), Profile: profile, IdempotencyKey: "job-1/cam-001"})
	require.NoError(t, err)
	require.Equal(t, ca.Issued, result.Status)
	require.NotZero(t, result.CertificateID)

	dir := t.TempDir()
	issuing, root := c.Certificates()
	rootPEM := writeFile(t, dir, "root.pem", pki.EncodeCertificatesPEM(root))
	intermediatePEM := writeFile(t, dir, "intermediate.pem", pki.EncodeCertificatesPEM(issuing))
	leafPEM := writeFile(t, dir, "leaf.pem", pki.EncodeCertificatesPEM(result.Certificate))

	assert.Contains(t, openssl(t, "verify", "-CAfile", rootPEM, "-untrusted", intermediatePEM, leafPEM), "leaf.pem: OK")
	text := openssl(t, "x509", "-in", leafPEM, "-noout", "-text")
	for _, want := range []string{
		"Subject: O = Acme Security, OU = Cameras, CN = cam-001", // O fixed over the CSR's, OU defaulted, CN from the CSR
		"DNS:cam-001.example.net", "IP Address:10.1.2.3", "URI:urn:acme:site:7",
		"TLS Web Server Authentication, TLS Web Client Authentication",
		"1.3.6.1.4.1.55555.1:", "building-7",
		"X509v3 Subject Key Identifier", "X509v3 Authority Key Identifier",
		"X509v3 CRL Distribution Points", "URI:http://localhost:8080" + c.CRLPath(),
		"CA:FALSE",
	} {
		assert.Contains(t, text, want)
	}
	assert.GreaterOrEqual(t, result.Certificate.SerialNumber.BitLen(), 64, "serial carries at least 64 bits")

	require.NoError(t, c.Revoke(ctx, result.Certificate, ca.ReasonSuperseded))
	require.NoError(t, c.Revoke(ctx, result.Certificate, ca.ReasonKeyCompromise), "revoking twice is not an error")
	crlDER, err := c.CRL(ctx)
	require.NoError(t, err)
	crlPath := writeFile(t, dir, "crl.der", crlDER)
	crlText := openssl(t, "crl", "-inform", "DER", "-in", crlPath, "-noout", "-text")
	assert.Contains(t, crlText, "Serial Number: "+strings.ToUpper(result.Certificate.SerialNumber.Text(16)))
	assert.Contains(t, crlText, "Superseded", "the first reason stands")
	chainPEM := writeFile(t, dir, "chain.pem", pki.EncodeCertificatesPEM(issuing, root))
	assert.Contains(t, openssl(t, "crl", "-inform", "DER", "-in", crlPath, "-CAfile", chainPEM, "-noout", "-verify"), "verify OK")

	stored, err := store.New(pool).GetCertificate(ctx, result.CertificateID)
	require.NoError(t, err)
	assert.Equal(t, "revoked", stored.Status)
}

// TestSameKeyConcurrentlyIssuesOnce: job retries and crashed workers resubmit;
// twenty racing submissions of one key must yield exactly one certificate.
func TestSameKeyConcurrentlyIssuesOnce(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	c := openCA(t, pool)
	profile := cameraProfile(t, pool, "cameras", false)
	csr := newCSR(t, ecKey(t), "cam-002")

	const submitters = 20
	results := make([]ca.Result, submitters)
	errs := make([]error, submitters)
	var wg sync.WaitGroup
	for i := range submitters {
		wg.Go(func() {
			results[i], errs[i] = c.Submit(ctx, ca.Request{CSR: csr, Profile: profile, IdempotencyKey: "job-9/cam-002"})
		})
	}
	wg.Wait()
	issuedBy := 0
	for i := range submitters {
		require.NoError(t, errs[i])
		if results[i].New {
			issuedBy++
		}
		assert.Equal(t, ca.Issued, results[i].Status)
		assert.Equal(t, results[0].CertificateID, results[i].CertificateID)
		assert.True(t, results[0].Certificate.Equal(results[i].Certificate))
	}
	var certificates, requests int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM certificates").Scan(&certificates))
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM ca_requests").Scan(&requests))
	assert.Equal(t, 1, certificates)
	assert.Equal(t, 1, requests)
	assert.Equal(t, 1, issuedBy, "one submitter issued; the others got its certificate as a repeat")

	_, err := c.Submit(ctx, ca.Request{CSR: newCSR(t, ecKey(t), "cam-002"), Profile: profile, IdempotencyKey: "job-9/cam-002"})
	assert.ErrorIs(t, err, ca.ErrKeyReused, "a new key under an old idempotency key is refused")
	assert.True(t, ca.IsPermanent(err))
}

func TestApprovalMode(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	c := openCA(t, pool)
	profile := cameraProfile(t, pool, "cameras-approval", true)

	pending, err := c.Submit(ctx, ca.Request{CSR: newCSR(t, ecKey(t), "cam-003"), Profile: profile, IdempotencyKey: "job-2/cam-003"})
	require.NoError(t, err)
	assert.Equal(t, ca.Pending, pending.Status)
	assert.Positive(t, pending.RetryAfter)
	polled, err := c.Poll(ctx, pending.RequestID)
	require.NoError(t, err)
	assert.Equal(t, ca.Pending, polled.Status)

	approved, err := c.Approve(ctx, pending.RequestID, "alice", nil)
	require.NoError(t, err)
	assert.Equal(t, ca.Issued, approved.Status)
	assert.Equal(t, "cam-003", approved.Certificate.Subject.CommonName)
	polled, err = c.Poll(ctx, pending.RequestID)
	require.NoError(t, err)
	assert.Equal(t, approved.CertificateID, polled.CertificateID)
	_, err = c.Approve(ctx, pending.RequestID, "bob", nil)
	assert.ErrorIs(t, err, local.ErrNotPending)

	other, err := c.Submit(ctx, ca.Request{CSR: newCSR(t, ecKey(t), "cam-004"), Profile: profile, IdempotencyKey: "job-2/cam-004"})
	require.NoError(t, err)
	require.NoError(t, c.Reject(ctx, other.RequestID, "device not in the asset register", "alice", nil))
	polled, err = c.Poll(ctx, other.RequestID)
	require.NoError(t, err)
	assert.Equal(t, ca.Rejected, polled.Status)
	assert.Equal(t, "device not in the asset register", polled.Reason)

	_, err = c.Poll(ctx, "999999")
	assert.ErrorIs(t, err, ca.ErrNoSuchRequest)
	_, err = c.Poll(ctx, "'; DROP TABLE ca_requests; --")
	assert.True(t, ca.IsPermanent(err))
}

func TestPolicyRefusalIsRecorded(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	c := openCA(t, pool)
	profile := cameraProfile(t, pool, "cameras", false)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)

	cases := map[string]*x509.CertificateRequest{
		"key_algorithms":   newCSR(t, weak, "cam-005"),
		"subject_rules.CN": newCSR(t, ecKey(t), "printer-1"),
	}
	for rule, csr := range cases {
		result, err := c.Submit(ctx, ca.Request{CSR: csr, Profile: profile, IdempotencyKey: "job-3/" + rule})
		require.NoError(t, err)
		assert.Equal(t, ca.Rejected, result.Status)
		assert.Contains(t, result.Reason, rule, "the refusal names the rule")
		again, err := c.Submit(ctx, ca.Request{CSR: csr, Profile: profile, IdempotencyKey: "job-3/" + rule})
		require.NoError(t, err)
		assert.Equal(t, result, again, "a retry gets the same answer")
	}
}

func TestReopenKeepsTheCAAndNeedsTheKEK(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	first := openCA(t, pool)
	second := openCA(t, pool)
	_, root1 := first.Certificates()
	_, root2 := second.Certificates()
	assert.True(t, root1.Equal(root2), "the CA is created once")

	wrong, err := kek.New([]byte(strings.Repeat("x", 32)))
	require.NoError(t, err)
	_, err = local.Open(ctx, pool, wrong, local.Options{KEKSource: "key file .data/certfleet.kek"})
	assert.ErrorContains(t, err, "wrong key-encryption key")
	assert.ErrorIs(t, err, kek.ErrWrongKey)
	// The message says what happened and names every way out.
	for _, want := range []string{"open sealed key local-ca/default/issuing", "key file .data/certfleet.kek",
		".data/ (which holds\nthe key file) was deleted", "CERTFLEET_KEK", "DATABASE_URL", "make reset"} {
		assert.Contains(t, err.Error(), want)
	}

	var sealed []byte
	require.NoError(t, pool.QueryRow(ctx, "SELECT issuing_key_sealed FROM local_cas").Scan(&sealed))
	_, err = x509.ParsePKCS8PrivateKey(sealed)
	assert.Error(t, err, "the stored key is not a plain PKCS#8 key")
}

func TestCAKeyTypes(t *testing.T) {
	for _, spec := range []pki.KeySpec{{Algorithm: "ecdsa", Size: 384}, {Algorithm: "rsa", Size: 2048}} {
		t.Run(spec.String(), func(t *testing.T) {
			pool, _ := testenv.Database(t)
			c, err := local.Open(context.Background(), pool, testenv.KEK(t), local.Options{KeySpec: spec})
			require.NoError(t, err)
			issuing, root := c.Certificates()
			got, err := pki.SpecOf(issuing.PublicKey)
			require.NoError(t, err)
			assert.Equal(t, spec, got)
			require.NoError(t, issuing.CheckSignatureFrom(root))
			profile := cameraProfile(t, pool, "cameras", false)
			result, err := c.Submit(context.Background(), ca.Request{CSR: newCSR(t, ecKey(t), "cam-006"), Profile: profile, IdempotencyKey: "k"})
			require.NoError(t, err)
			require.NoError(t, result.Certificate.CheckSignatureFrom(issuing))
		})
	}
}

// TestESTServerNamesAreReserved: devices trust the EST server through the
// CA's root, so a device certificate naming the server's host would let a
// device pose as it. Such a CSR is refused and the refusal recorded.
func TestESTServerNamesAreReserved(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	c, err := local.Open(ctx, pool, testenv.KEK(t), local.Options{ReservedNames: []string{"est.example.net", "10.1.2.3"}})
	require.NoError(t, err)
	profile := cameraProfile(t, pool, "cameras", false)
	profile.SANRules[0].Pattern = `.*\.example\.net` // as a careless admin might
	profile.SubjectRules[0].Pattern = ""

	for i, tmpl := range []*x509.CertificateRequest{
		{Subject: pkix.Name{CommonName: "cam-1"}, DNSNames: []string{"EST.example.net"}},
		{Subject: pkix.Name{CommonName: "est.example.net"}},
		{Subject: pkix.Name{CommonName: "cam-2"}, IPAddresses: []net.IP{net.ParseIP("10.1.2.3")}},
	} {
		der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, ecKey(t))
		require.NoError(t, err)
		csr, err := pki.ParseCSR(der)
		require.NoError(t, err)
		result, err := c.Submit(ctx, ca.Request{CSR: csr, Profile: profile, IdempotencyKey: fmt.Sprintf("reserved/%d", i)})
		require.NoError(t, err)
		assert.Equal(t, ca.Rejected, result.Status, "case %d", i)
		assert.Contains(t, result.Reason, "certfleet's own server", "case %d", i)
	}
	var issued int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM certificates`).Scan(&issued))
	assert.Zero(t, issued)
}

// TestBookkeepingCommitsWithTheIssue: the caller's bookkeeping of an issued
// certificate (ca.Request.WithIssue) runs in the transaction that records
// it: when it fails, no certificate and no request are left, and the retry
// issues and books once; a repeated submission books again.
func TestBookkeepingCommitsWithTheIssue(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	c := openCA(t, pool)
	profile := cameraProfile(t, pool, "cameras", false)
	csr := newCSR(t, ecKey(t), "cam-010")
	count := func(table string) int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n))
		return n
	}

	refused := errors.New("the inventory is unavailable")
	_, err := c.Submit(ctx, ca.Request{CSR: csr, Profile: profile, IdempotencyKey: "est/cam-010/a",
		WithIssue: func(context.Context, pgx.Tx, int64) error { return refused }})
	require.ErrorIs(t, err, refused)
	assert.False(t, ca.IsPermanent(err), "a failed bookkeeping is retried")
	assert.Zero(t, count("certificates"), "nothing issued without its bookkeeping")
	assert.Zero(t, count("ca_requests"))

	var booked []int64
	book := func(ctx context.Context, tx pgx.Tx, certificateID int64) error {
		var status string
		if err := tx.QueryRow(ctx, "SELECT status FROM certificates WHERE id = $1", certificateID).Scan(&status); err != nil {
			return err // the certificate is visible in the same transaction
		}
		booked = append(booked, certificateID)
		return nil
	}
	first, err := c.Submit(ctx, ca.Request{CSR: csr, Profile: profile, IdempotencyKey: "est/cam-010/a", WithIssue: book})
	require.NoError(t, err)
	assert.True(t, first.Booked)
	again, err := c.Submit(ctx, ca.Request{CSR: csr, Profile: profile, IdempotencyKey: "est/cam-010/a", WithIssue: book})
	require.NoError(t, err)
	assert.True(t, again.Booked)
	assert.Equal(t, []int64{first.CertificateID, first.CertificateID}, booked, "a repeat books the first certificate again")
	assert.Equal(t, 1, count("certificates"))

	pending, err := c.Submit(ctx, ca.Request{CSR: newCSR(t, ecKey(t), "cam-011"), Profile: cameraProfile(t, pool, "approval", true), IdempotencyKey: "est/cam-011/a", WithIssue: book})
	require.NoError(t, err)
	assert.Equal(t, ca.Pending, pending.Status)
	assert.False(t, pending.Booked, "nothing is booked before the CA issues")
}
