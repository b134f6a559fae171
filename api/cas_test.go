package api_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/drivers/registry"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/pki"
)

// TestCAsUnderAnOutsideRoot: an admin asks for an issuing CA, gets its CSR,
// has a corporate root sign it and uploads the certificate; bad input is
// refused beside its field and changes nothing; profiles may then name the
// CA, and the list shows it with its chain, addresses and profiles.
func TestCAsUnderAnOutsideRoot(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	set, err := local.OpenSet(ctx, pool, testenv.KEK(t), local.Options{PublicURL: "http://certfleet.example"})
	require.NoError(t, err)
	w := newAPIWorldWith(t, pool, api.Deps{Logger: quiet, Pool: pool, CAs: set, CAIssuers: set, CRLs: set, Drivers: registry.New(pool, set, nil, time.Second)})

	request := map[string]any{"name": "corp", "common_name": "Acme certfleet Issuing CA", "organization": "Acme Corp"}
	status, body := w.auditor.do("POST", "/api/v1/cas", request)
	assert.Equal(t, http.StatusForbidden, status, body)
	status, body = w.admin.do("POST", "/api/v1/cas", map[string]any{"name": "Corp!", "common_name": "x"})
	require.Equal(t, http.StatusBadRequest, status, body)
	assert.Equal(t, "name", refusedField(body))
	status, body = w.admin.do("POST", "/api/v1/cas", request)
	require.Equal(t, http.StatusCreated, status, body)
	assert.Equal(t, "pending", body["status"])
	assert.NotContains(t, body["csr_pem"], "PRIVATE")

	resp, err := http.Get(w.auditor.srv.URL + "/api/v1/cas/corp/csr")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the CSR is behind a token like the rest of the API")
	req, _ := http.NewRequest("GET", w.auditor.srv.URL+"/api/v1/cas/corp/csr", nil)
	req.Header.Set("Authorization", "Bearer "+w.auditor.token)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	csrPEM, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "application/pkcs10", resp.Header.Get("Content-Type"))
	csr, err := pki.ParseCSR(csrPEM)
	require.NoError(t, err)

	root := longLivedRoot(t, "Acme Corporate Root")
	signed := signIssuing(t, root, csr)
	for name, c := range map[string]struct {
		body  map[string]any
		field string
	}{
		"garbage":       {map[string]any{"certificate": "not PEM", "chain": string(testpki.CertPEM(root.Cert))}, "certificate"},
		"a key, pasted": {map[string]any{"certificate": string(testpki.KeyPEM(t, root.Key)), "chain": string(testpki.CertPEM(root.Cert))}, "certificate"},
		"two":           {map[string]any{"certificate": string(testpki.CertPEM(signed, root.Cert)), "chain": string(testpki.CertPEM(root.Cert))}, "certificate"},
		"no chain":      {map[string]any{"certificate": string(testpki.CertPEM(signed))}, "chain"},
		"another root":  {map[string]any{"certificate": string(testpki.CertPEM(signed)), "chain": string(testpki.CertPEM(testpki.NewCA(t, "Other Root").Cert))}, "chain"},
	} {
		status, body := w.admin.do("POST", "/api/v1/cas/corp/certificate", c.body)
		require.Equal(t, http.StatusBadRequest, status, "%s: %v", name, body)
		assert.Equal(t, c.field, refusedField(body), "%s: %v", name, body)
	}
	status, body = w.operator.do("POST", "/api/v1/cas/corp/certificate", map[string]any{"certificate": string(testpki.CertPEM(signed)), "chain": string(testpki.CertPEM(root.Cert))})
	assert.Equal(t, http.StatusForbidden, status, body)
	status, body = w.admin.do("POST", "/api/v1/cas/corp/certificate", map[string]any{"certificate": string(testpki.CertPEM(signed)), "chain": string(testpki.CertPEM(root.Cert))})
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "active", body["status"])
	assert.Equal(t, true, body["outside_root"])

	profile := func(settings string) (int, map[string]any) {
		p := map[string]any{}
		for k, v := range cameraProfile {
			p[k] = v
		}
		p["name"] = "corp-" + strings.Trim(settings, `{}":`)
		p["ca_settings"] = map[string]any{}
		if settings != "" {
			p["ca_settings"] = map[string]any{"ca": settings}
		}
		return w.admin.do("POST", "/api/v1/profiles", p)
	}
	status, body = profile("nope")
	require.Equal(t, http.StatusBadRequest, status, body)
	assert.Equal(t, "ca_settings", refusedField(body))
	status, body = profile("corp")
	require.Equal(t, http.StatusCreated, status, body)

	status, body = w.auditor.do("GET", "/api/v1/cas", nil)
	require.Equal(t, http.StatusOK, status, body)
	items := body["items"].([]any)
	require.Len(t, items, 2)
	corp := items[1].(map[string]any)
	assert.Equal(t, "corp", corp["name"])
	assert.Equal(t, "http://certfleet.example/ocsp", corp["ocsp_url"])
	assert.Len(t, corp["profiles"], 1)
	assert.Equal(t, "CN=Acme Corporate Root", corp["chain"].([]any)[0].(map[string]any)["subject"])
	def := items[0].(map[string]any)
	assert.Equal(t, "default", def["name"])
	assert.Equal(t, false, def["outside_root"])

	// Renewal: the default CA gets a next one; the outside root's cannot.
	status, body = w.auditor.do("POST", "/api/v1/cas/default/renew", map[string]any{})
	assert.Equal(t, http.StatusForbidden, status, body)
	status, body = w.admin.do("POST", "/api/v1/cas/default/renew", map[string]any{"overlap": "soon"})
	require.Equal(t, http.StatusBadRequest, status, body)
	assert.Equal(t, "overlap", refusedField(body))
	status, body = w.admin.do("POST", "/api/v1/cas/corp/renew", map[string]any{})
	assert.Equal(t, http.StatusConflict, status, body)
	status, body = w.admin.do("POST", "/api/v1/cas/default/renew", map[string]any{"overlap": "48h"})
	require.Equal(t, http.StatusCreated, status, body)
	assert.Equal(t, "next", body["status"])
	status, body = w.admin.do("POST", "/api/v1/cas/default/renew", map[string]any{})
	assert.Equal(t, http.StatusConflict, status, body)
	status, body = w.auditor.do("GET", "/api/v1/cas", nil)
	require.Equal(t, http.StatusOK, status, body)
	require.Len(t, body["items"], 3, "default, corp, and default's next")

	var actions []string
	rows, err := pool.Query(ctx, `SELECT action || ':' || details::text FROM audit_log WHERE object_type = 'ca' ORDER BY id`)
	require.NoError(t, err)
	for rows.Next() {
		var a string
		require.NoError(t, rows.Scan(&a))
		actions = append(actions, a)
		assert.NotContains(t, a, "PRIVATE")
	}
	require.Len(t, actions, 3, "a request, an activation and a renewal; refusals record nothing")
	assert.True(t, strings.HasPrefix(actions[0], "ca.request:"))
	assert.True(t, strings.HasPrefix(actions[1], "ca.activate:"))
	assert.True(t, strings.HasPrefix(actions[2], "ca.renew:"))
}

// signIssuing is the corporate root signing certfleet's CSR as an issuing CA.
func signIssuing(t *testing.T, root *testpki.CA, csr *x509.CertificateRequest) *x509.Certificate {
	t.Helper()
	ski, err := pki.SubjectKeyID(csr.PublicKey)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: csr.Subject, SubjectKeyId: ski,
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(5 * 365 * 24 * time.Hour),
		BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.Cert, csr.PublicKey, root.Key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert
}

// longLivedRoot is a corporate root that outlives the issuing CA it signs.
func longLivedRoot(t *testing.T, cn string) *testpki.CA {
	t.Helper()
	key := testpki.NewKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(20, 0, 0),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testpki.CA{Cert: cert, Key: key}
}
