package api_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/drivers/registry"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/pki/trust"
)

// TestStationsThroughTheAPI: an admin creates a provisioning station and
// gets its secret once (only an argon2id hash is kept, and the audit log
// never holds it); bad scopes are refused beside their field and create
// nothing; the scope can be edited, the secret replaced, a TLS client
// certificate issued for a CSR, and the station disabled and enabled; other
// roles may read it but change nothing.
func TestStationsThroughTheAPI(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	set, err := local.OpenSet(ctx, pool, testenv.KEK(t), local.Options{})
	require.NoError(t, err)
	w := newAPIWorldWith(t, pool, api.Deps{Logger: quiet, Pool: pool, CAs: set, Trust: trust.New(pool), Drivers: registry.New(pool, set, nil, time.Second)})
	status, profile := w.admin.do("POST", "/api/v1/profiles", cameraProfile)
	require.Equal(t, http.StatusCreated, status, profile)
	status, body := w.admin.do("POST", "/api/v1/est-labels", map[string]any{"label": "cams", "profile_id": profile["id"]})
	require.Equal(t, http.StatusCreated, status, body)

	station := map[string]any{"name": "line-3", "labels": []string{"cams"}, "device_id_pattern": "cam-[0-9]{4}", "max_enrollments": 100}
	for field, bad := range map[string]map[string]any{
		"name":              {"name": "Line 3"},
		"labels":            {"labels": []string{"nope"}},
		"device_id_pattern": {"device_id_pattern": "cam-[0-9"},
		"device_ids":        {"device_ids": []string{"has space"}},
		"register_mode":     {"register_mode": "OPERATIONAL"},
		"max_enrollments":   {"max_enrollments": 0},
		"expires_at":        {"expires_at": time.Now().Add(-time.Hour).Format(time.RFC3339)},
	} {
		b := map[string]any{}
		for k, v := range station {
			b[k] = v
		}
		for k, v := range bad {
			b[k] = v
		}
		status, body := w.admin.do("POST", "/api/v1/stations", b)
		assert.Equal(t, http.StatusBadRequest, status, "%s: %v", field, body)
		assert.Equal(t, field, refusedField(body), body)
	}
	status, body = w.admin.do("POST", "/api/v1/stations", map[string]any{"name": "line-0", "labels": []string{"cams"}})
	assert.Equal(t, http.StatusBadRequest, status, "a station that may enroll nothing: %v", body)
	status, body = w.operator.do("POST", "/api/v1/stations", station)
	assert.Equal(t, http.StatusForbidden, status, body)
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM provisioning_stations`).Scan(&n))
	require.Zero(t, n, "refused requests create nothing")

	status, body = w.admin.do("POST", "/api/v1/stations", station)
	require.Equal(t, http.StatusCreated, status, body)
	secret, _ := body["secret"].(string)
	require.Len(t, secret, 26, "128 random bits, base32")
	assert.Equal(t, "line-3@station", body["client_id"])
	assert.Equal(t, "active", body["state"])
	assert.Equal(t, "FACTORY", body["register_mode"])
	status, body = w.admin.do("POST", "/api/v1/stations", station)
	assert.Equal(t, http.StatusConflict, status, body)

	status, body = w.auditor.do("GET", "/api/v1/stations/line-3", nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.NotContains(t, body, "secret", "shown once")
	assert.Equal(t, true, body["basic"])
	var hash string
	require.NoError(t, pool.QueryRow(ctx, `SELECT secret_hash FROM provisioning_stations WHERE name = 'line-3'`).Scan(&hash))
	match, err := auth.VerifySecret(hash, secret)
	require.NoError(t, err)
	assert.True(t, match)
	assert.True(t, strings.HasPrefix(hash, "$argon2id$"))

	status, body = w.admin.do("PUT", "/api/v1/stations/line-3", map[string]any{"labels": []string{"cams"}, "device_ids": []string{"cam-x"}, "register_mode": "NEW"})
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "", body["device_id_pattern"])
	assert.Nil(t, body["max_enrollments"])
	status, body = w.admin.do("POST", "/api/v1/stations/line-3/secret", nil)
	require.Equal(t, http.StatusOK, status, body)
	newSecret := body["secret"].(string)
	assert.NotEqual(t, secret, newSecret)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "anything"}}, key)
	require.NoError(t, err)
	csrPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}))
	status, body = w.admin.do("PUT", "/api/v1/stations/line-3/certificate", map[string]any{"csr": csrPEM, "certificate": "x"})
	assert.Equal(t, http.StatusBadRequest, status, "one or the other: %v", body)
	status, body = w.admin.do("PUT", "/api/v1/stations/line-3/certificate", map[string]any{"csr": csrPEM})
	require.Equal(t, http.StatusOK, status, body)
	chain, err := pki.ParseCertificatesPEM([]byte(body["certificate_pem"].(string)))
	require.NoError(t, err)
	require.Len(t, chain, 3, "the certificate, the servers CA and the root")
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, chain[0].ExtKeyUsage)
	assert.Equal(t, "issued", body["certificate"].(map[string]any)["source"])
	roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(chain[2])
	intermediates.AddCert(chain[1])
	_, err = chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	assert.NoError(t, err)
	status, body = w.admin.do("PUT", "/api/v1/stations/line-3/certificate", map[string]any{"certificate": string(pki.EncodeCertificatesPEM(chain[0]))})
	assert.Equal(t, http.StatusBadRequest, status, "an uploaded certificate must chain to a trust anchor: %v", body)
	assert.Equal(t, "certificate", refusedField(body))

	status, body = w.admin.do("POST", "/api/v1/stations/line-3/disable", nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "disabled", body["state"])
	status, body = w.admin.do("POST", "/api/v1/stations/line-3/enable", nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "active", body["state"])
	status, body = w.auditor.do("GET", "/api/v1/stations/line-3/enrollments", nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Empty(t, body["items"])
	status, body = w.auditor.do("GET", "/api/v1/stations/nope", nil)
	assert.Equal(t, http.StatusNotFound, status, body)

	var actions []string
	rows, err := pool.Query(ctx, `SELECT action FROM audit_log WHERE object_type = 'station' ORDER BY id`)
	require.NoError(t, err)
	for rows.Next() {
		var a string
		require.NoError(t, rows.Scan(&a))
		actions = append(actions, a)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{"station.create", "station.update", "station.secret", "station.certificate", "station.disable", "station.enable"}, actions)
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE strpos(details::text, $1) > 0 OR strpos(details::text, $2) > 0`, secret, newSecret).Scan(&n))
	assert.Zero(t, n, "no secret in the audit log")
}
