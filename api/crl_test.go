package api_test

import (
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/internal/testenv"
)

func TestCRLIsServedSignedByTheIssuer(t *testing.T) {
	pool, _ := testenv.Database(t)
	builtin, _ := testenv.BuiltinCA(t, pool, local.Options{})
	srv := httptest.NewServer(api.New(api.Deps{Logger: quiet, CRLs: local.SetOf(builtin)}))
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + builtin.CRLPath())
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/pkix-crl", resp.Header.Get("Content-Type"))
	der, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	list, err := x509.ParseRevocationList(der)
	require.NoError(t, err)
	issuing, _ := builtin.Certificates()
	require.NoError(t, list.CheckSignatureFrom(issuing))
	assert.Empty(t, list.RevokedCertificateEntries)

	for _, path := range []string{"/crl/00ff.crl", "/crl/not-hex.crl", builtin.CRLPath()[:len(builtin.CRLPath())-4]} {
		status, body := get(t, srv, http.MethodGet, path)
		assert.Equal(t, http.StatusNotFound, status, path)
		assert.Equal(t, "not_found", body["error"].(map[string]any)["code"], path)
	}
}
