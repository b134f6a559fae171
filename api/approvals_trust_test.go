package api_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/pki/trust"
	"github.com/certfleet/certfleet/profiles"
)

func TestCAApprovals(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	builtin, _ := testenv.BuiltinCA(t, pool, local.Options{})
	w := newAPIWorldWith(t, pool, api.Deps{Logger: quiet, Pool: pool, Approver: builtin})
	approvalProfile := map[string]any{}
	for k, v := range cameraProfile {
		approvalProfile[k] = v
	}
	approvalProfile["approval_mode"] = true
	status, body := w.admin.do("POST", "/api/v1/profiles", approvalProfile)
	require.Equal(t, http.StatusCreated, status, body)
	row, err := store.New(pool).GetProfile(ctx, int64(body["id"].(float64)))
	require.NoError(t, err)
	profile, err := profiles.FromRow(row)
	require.NoError(t, err)
	for _, cn := range []string{"cam-1", "cam-2"} {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, testpki.NewKey(t))
		require.NoError(t, err)
		csr, err := pki.ParseCSR(der)
		require.NoError(t, err)
		result, err := builtin.Submit(ctx, ca.Request{CSR: csr, Profile: profile, IdempotencyKey: "k/" + cn})
		require.NoError(t, err)
		require.Equal(t, ca.Pending, result.Status)
	}

	status, body = w.auditor.do("GET", "/api/v1/ca-requests", nil)
	require.Equal(t, http.StatusOK, status)
	pending := body["items"].([]any)
	require.Len(t, pending, 2)
	first := fmt.Sprint(pending[0].(map[string]any)["id"])
	second := fmt.Sprint(pending[1].(map[string]any)["id"])

	status, _ = w.auditor.do("POST", "/api/v1/ca-requests/"+first+"/approve", nil)
	assert.Equal(t, http.StatusForbidden, status)
	status, body = w.operator.do("POST", "/api/v1/ca-requests/"+first+"/approve", nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "issued", body["status"])
	assert.NotZero(t, body["certificate_id"])
	status, _ = w.operator.do("POST", "/api/v1/ca-requests/"+first+"/approve", nil)
	assert.Equal(t, http.StatusConflict, status, "a decided request cannot be decided again")
	status, body = w.operator.do("POST", "/api/v1/ca-requests/"+second+"/reject", map[string]any{"reason": ""})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "reason", body["error"].(map[string]any)["details"].(map[string]any)["field"])
	status, body = w.operator.do("POST", "/api/v1/ca-requests/"+second+"/reject", map[string]any{"reason": "not in the asset register"})
	require.Equal(t, http.StatusOK, status, body)
	status, _ = w.operator.do("POST", "/api/v1/ca-requests/999999/approve", nil)
	assert.Equal(t, http.StatusNotFound, status)

	_, body = w.auditor.do("GET", "/api/v1/ca-requests?status=rejected", nil)
	require.Len(t, body["items"], 1)
	assert.Equal(t, "not in the asset register", body["items"].([]any)[0].(map[string]any)["reject_reason"])
	_, body = w.auditor.do("GET", "/api/v1/ca-requests", nil)
	assert.Empty(t, body["items"], "nothing left pending")
}

func TestTrustAnchorsAndOfflineRevocations(t *testing.T) {
	pool, _ := testenv.Database(t)
	w := newAPIWorldWith(t, pool, api.Deps{Logger: quiet, Pool: pool, Trust: trust.New(pool)})
	factory := testpki.NewCA(t, "Acme Factory CA")
	upload := map[string]any{"name": "factory", "pem": string(testpki.CertPEM(factory.Cert)), "auto_register": true, "name_mapping": "CN"}

	status, _ := w.operator.do("POST", "/api/v1/trust-anchors", upload)
	assert.Equal(t, http.StatusForbidden, status, "trust anchors are for admins")
	status, body := w.admin.do("POST", "/api/v1/trust-anchors", upload)
	require.Equal(t, http.StatusCreated, status, body)
	id := fmt.Sprint(body["items"].([]any)[0].(map[string]any)["id"])
	status, _ = w.admin.do("POST", "/api/v1/trust-anchors", upload)
	assert.Equal(t, http.StatusConflict, status)
	status, _ = w.admin.do("POST", "/api/v1/trust-anchors", map[string]any{"name": "junk", "pem": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"})
	assert.Equal(t, http.StatusBadRequest, status)

	status, body = w.admin.do("POST", "/api/v1/trust-anchors/"+id+"/enable", nil)
	assert.Equal(t, http.StatusConflict, status, "an unproven anchor cannot be enabled: %v", body)
	status, body = w.admin.do("POST", "/api/v1/trust-anchors/"+id+"/verification-code", nil)
	require.Equal(t, http.StatusOK, status)
	code := body["code"].(string)
	dir := t.TempDir()
	keyPath := testpki.Write(t, dir, "ca.key", testpki.KeyPEM(t, factory.Key))
	codePath := testpki.Write(t, dir, "code.txt", []byte(code))
	signature, err := exec.Command("bash", "-c", "openssl dgst -sha256 -sign "+keyPath+" "+codePath+" | openssl base64 -A").Output()
	require.NoError(t, err)
	status, body = w.admin.do("POST", "/api/v1/trust-anchors/"+id+"/proof", map[string]any{"code": code, "signature": string(signature)})
	require.Equal(t, http.StatusOK, status, body)
	_, body = w.auditor.do("GET", "/api/v1/trust-anchors", nil)
	anchor := body["items"].([]any)[0].(map[string]any)
	assert.Equal(t, true, anchor["verified"])
	assert.NotContains(t, anchor, "verification_code_hash")

	status, body = w.admin.do("POST", "/api/v1/trust-anchors/"+id+"/revocations", map[string]any{"serial": "0A:1B"})
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, true, body["added"])
	status, body = w.admin.do("POST", "/api/v1/trust-anchors/"+id+"/revocations.csv", "serial,date\na1b\nff,2025-01-01\n")
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, map[string]any{"added": float64(1), "kept": float64(1)}, body, "a1b was there; ff is new")
	status, body = w.admin.do("POST", "/api/v1/trust-anchors/"+id+"/revocations.csv", "zz\n"+strings.Repeat("1\n", 2))
	assert.Equal(t, http.StatusBadRequest, status, body)

	status, body = w.admin.do("POST", "/api/v1/trust-anchors/"+id+"/disable", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, false, body["enabled"])
	status, body = w.admin.do("POST", "/api/v1/trust-anchors/"+id+"/enable", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, body["enabled"])
	status, _ = w.admin.do("DELETE", "/api/v1/trust-anchors/"+id, nil)
	assert.Equal(t, http.StatusOK, status)
	status, _ = w.admin.do("DELETE", "/api/v1/trust-anchors/"+id, nil)
	assert.Equal(t, http.StatusNotFound, status)
}
