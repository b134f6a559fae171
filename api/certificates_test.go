package api_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/profiles"
)

func TestCertificateInventory(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	builtin, _ := testenv.BuiltinCA(t, pool, local.Options{})
	w := newAPIWorldWith(t, pool, api.Deps{Logger: quiet, Pool: pool, Revoker: builtin, CAIssuers: local.SetOf(builtin)})
	q := store.New(pool)

	status, body := w.admin.do("POST", "/api/v1/profiles", cameraProfile)
	require.Equal(t, http.StatusCreated, status, body)
	row, err := q.GetProfile(ctx, int64(body["id"].(float64)))
	require.NoError(t, err)
	profile, err := profiles.FromRow(row)
	require.NoError(t, err)
	for i := 1; i <= 5; i++ {
		_, err := q.CreateDevice(ctx, store.CreateDeviceParams{ID: fmt.Sprintf("cam-%d", i), Name: "c", DeviceType: "camera", Mode: "OPERATIONAL", Driver: "agent"})
		require.NoError(t, err)
	}
	_, err = q.SetDeviceMode(ctx, store.SetDeviceModeParams{ID: "cam-5", Mode: "DISABLED"})
	require.NoError(t, err)

	// cam-1: a real certificate from the built-in CA, valid 90 days.
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cam-1"}}, testpki.NewKey(t))
	require.NoError(t, err)
	csr, err := pki.ParseCSR(der)
	require.NoError(t, err)
	issued, err := builtin.Submit(ctx, ca.Request{CSR: csr, Profile: profile, IdempotencyKey: "cam-1", DeviceID: "cam-1"})
	require.NoError(t, err)
	// cam-2 expires in 10 days, cam-3 expired yesterday; both from another CA.
	other := testpki.NewCA(t, "Other, Inc.")
	now := time.Now()
	for _, c := range []struct {
		device   string
		notAfter time.Time
	}{{"cam-2", now.Add(10 * 24 * time.Hour)}, {"cam-3", now.Add(-24 * time.Hour)}} {
		cert, _ := other.Client(t, c.device)
		sum := sha256.Sum256([]byte(c.device))
		_, err := q.InsertCertificate(ctx, store.InsertCertificateParams{
			DeviceID: pgtype.Text{String: c.device, Valid: true}, CertType: "tls", Issuer: cert.Issuer.String(),
			SerialHex: cert.SerialNumber.Text(16), Subject: "CN=" + c.device + ",O=Acme\\, Inc.", Sha256: sum[:],
			NotBefore: now.Add(-100 * 24 * time.Hour), NotAfter: c.notAfter, Der: cert.Raw,
		})
		require.NoError(t, err)
	}

	count := func(query string) int {
		t.Helper()
		status, body := w.auditor.do("GET", "/api/v1/certificates?"+query, nil)
		require.Equal(t, http.StatusOK, status, body)
		return len(body["items"].([]any))
	}
	assert.Equal(t, 3, count(""))
	assert.Equal(t, 1, count("device_id=cam-1"))
	assert.Equal(t, 2, count("expiring_before="+url.QueryEscape(now.Add(30*24*time.Hour).Format(time.RFC3339))))
	assert.Equal(t, 1, count("expired=true"))
	assert.Equal(t, 0, count("status=revoked"))
	status, _ = w.auditor.do("GET", "/api/v1/certificates?status=lost", nil)
	assert.Equal(t, http.StatusBadRequest, status)

	status, body = w.auditor.do("GET", "/api/v1/certificates/missing?cert_type=tls", nil)
	require.Equal(t, http.StatusOK, status)
	var missing []string
	for _, d := range body["items"].([]any) {
		missing = append(missing, d.(map[string]any)["id"].(string))
	}
	assert.Equal(t, []string{"cam-3", "cam-4"}, missing, "expired or none; the disabled cam-5 is left out")

	status, body = w.auditor.do("GET", "/api/v1/certificates/timeline?bucket=day&to="+url.QueryEscape(now.Add(120*24*time.Hour).Format(time.RFC3339)), nil)
	require.Equal(t, http.StatusOK, status, body)
	total := 0.0
	for _, b := range body["buckets"].([]any) {
		total += b.(map[string]any)["certificates"].(float64)
	}
	assert.Equal(t, 2.0, total, "cam-1 and cam-2 expire in the range")
	assert.Equal(t, 1.0, body["expired"])
	assert.Equal(t, 2.0, body["devices_without_certificate"])

	// The CSV export round-trips through encoding/csv, commas and quotes included.
	req, err := http.NewRequest("GET", w.auditor.srv.URL+"/api/v1/certificates.csv", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+w.auditor.token)
	resp, err := w.auditor.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "text/csv; charset=utf-8", resp.Header.Get("Content-Type"))
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	records, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
	require.NoError(t, err)
	require.Len(t, records, 4, "a header and three certificates")
	assert.Equal(t, "id", records[0][0])
	assert.Equal(t, "CN=cam-2,O=Acme\\, Inc.", records[2][6])
	assert.NotContains(t, string(data), "PRIVATE", "metadata only")

	// Downloads: DER alone; PEM with the chain, which openssl verifies with
	// the root; another CA's certificate without a chain certfleet lacks.
	download := func(path string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest("GET", w.auditor.srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+w.auditor.token)
		resp, err := w.auditor.srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, data
	}
	resp, data = download(fmt.Sprintf("/api/v1/certificates/%d.der", issued.CertificateID))
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", data)
	assert.Equal(t, "application/pkix-cert", resp.Header.Get("Content-Type"))
	assert.Equal(t, issued.Certificate.Raw, data)
	resp, data = download(fmt.Sprintf("/api/v1/certificates/%d.pem", issued.CertificateID))
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", data)
	assert.Equal(t, "application/pem-certificate-chain", resp.Header.Get("Content-Type"))
	assert.Equal(t, 3, strings.Count(string(data), "-----BEGIN CERTIFICATE-----"), "the certificate, the issuing CA and the root")
	_, root := builtin.Certificates()
	dir := t.TempDir()
	rootFile, chainFile := testpki.Write(t, dir, "root.pem", testpki.CertPEM(root)), testpki.Write(t, dir, "chain.pem", data)
	out, err := exec.Command("openssl", "verify", "-CAfile", rootFile, "-untrusted", chainFile, chainFile).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "chain.pem: OK")
	_, data = download("/api/v1/certificates/2.pem")
	assert.Equal(t, 1, strings.Count(string(data), "-----BEGIN CERTIFICATE-----"), "no chain for a CA certfleet does not run")
	resp, _ = download("/api/v1/certificates/2.txt")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	status, body = w.admin.do("POST", fmt.Sprintf("/api/v1/certificates/%d/revoke", issued.CertificateID), map[string]any{"reason": 7})
	assert.Equal(t, http.StatusBadRequest, status, "7 is not a reason code: %v", body)
	status, body = w.admin.do("POST", fmt.Sprintf("/api/v1/certificates/%d/revoke", issued.CertificateID), map[string]any{"reason": 1})
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, 1, count("status=revoked"))
	status, body = w.admin.do("POST", "/api/v1/certificates/2/revoke", map[string]any{"reason": 4})
	assert.Equal(t, http.StatusConflict, status, "the built-in CA cannot revoke another CA's certificate: %v", body)
}

// TestCertificateListSorted pages through the inventory two at a time in
// each order the list offers, expiries tied and to the microsecond
// included, and finds every certificate exactly once, in order.
func TestCertificateListSorted(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	w := newAPIWorldWith(t, pool, api.Deps{Logger: quiet, Pool: pool})
	q := store.New(pool)
	base := time.Now().Truncate(time.Second).Add(30 * 24 * time.Hour)
	offsets := []time.Duration{5 * time.Hour, time.Hour + 123457*time.Microsecond, 3 * time.Hour, time.Hour + 123457*time.Microsecond, -48 * time.Hour, 2 * time.Hour, time.Hour + 123458*time.Microsecond}
	notAfter := map[int64]time.Time{}
	var ids []int64
	for i, off := range offsets {
		sum := sha256.Sum256(fmt.Appendf(nil, "sorted-%d", i))
		row, err := q.InsertCertificate(ctx, store.InsertCertificateParams{
			CertType: "tls", Issuer: "CN=Sorted", SerialHex: fmt.Sprintf("%x", i+1), Subject: fmt.Sprintf("CN=sorted-%d", i),
			Sha256: sum[:], NotBefore: base.Add(-time.Hour * 24 * 90), NotAfter: base.Add(off), Der: []byte{0x30, 0x00},
		})
		require.NoError(t, err)
		ids = append(ids, row.ID)
		notAfter[row.ID] = base.Add(off)
	}
	byExpiry := func(a, b int64) int {
		if c := notAfter[a].Compare(notAfter[b]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	}
	for _, c := range []struct {
		query string
		order func(a, b int64) int
	}{
		{"", cmp.Compare[int64]},
		{"sort=id&order=desc", func(a, b int64) int { return cmp.Compare(b, a) }},
		{"sort=not_after", byExpiry},
		{"sort=not_after&order=desc", func(a, b int64) int { return byExpiry(b, a) }},
	} {
		want := slices.SortedFunc(slices.Values(ids), c.order)
		var got []int64
		after := ""
		for pages := 0; pages < 10; pages++ {
			status, body := w.auditor.do("GET", "/api/v1/certificates?limit=2&"+c.query+"&after="+url.QueryEscape(after), nil)
			require.Equal(t, http.StatusOK, status, "%s: %v", c.query, body)
			for _, item := range body["items"].([]any) {
				got = append(got, int64(item.(map[string]any)["id"].(float64)))
			}
			if after, _ = body["next"].(string); after == "" {
				break
			}
		}
		assert.Equal(t, want, got, "?%s", c.query)
	}
	for _, bad := range []string{"sort=serial", "order=up", "sort=not_after&after=12", "sort=not_after&after=x_1", "after=-1"} {
		status, body := w.auditor.do("GET", "/api/v1/certificates?"+bad, nil)
		assert.Equal(t, http.StatusBadRequest, status, "?%s: %v", bad, body)
	}
}
