package est_test

import (
	"context"
	"encoding/pem"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/estwire"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/pki/trust"
)

// TestStationsEnrollDevicesNamedInTheirCSRs follows the seed's TC-01 and
// TC-13 with globalsign's estclient: a provisioning station enrolls devices
// named only in their CSRs (EC P-256 and RSA), with its Basic credential and
// with the TLS client certificate certfleet issued it. A device new to
// certfleet is created in the label's type and the station's mode; every
// enrollment records its station. A name outside the scope, a station past
// its limit and a disabled station are refused with 403 and the reason,
// and a refused request leaves nothing behind.
func TestStationsEnrollDevicesNamedInTheirCSRs(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	q := store.New(w.pool)
	const secret = "line-1-secret-0123456789"
	hash, err := auth.HashSecret(secret)
	require.NoError(t, err)
	_, err = q.CreateStation(ctx, store.CreateStationParams{
		Name: "line-1", SecretHash: pgtype.Text{String: hash, Valid: true}, Labels: []string{"cams"},
		DeviceIDPattern: `cam-st-[0-9]+`, DeviceIds: []string{"listed-cam"}, RegisterMode: "FACTORY",
		MaxEnrollments: pgtype.Int4{Int32: 3, Valid: true}, CreatedBy: "test",
	})
	require.NoError(t, err)
	deviceCSR := func(alg, id string) string {
		key, _ := w.key(t, alg, id+".key")
		return testpki.Write(t, w.dir, id+".csr", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr(t, key, id).Raw}))
	}
	basic := func(id, alg string) (string, error) {
		return w.estclient(t, "enroll", "-aps", "cams", "-csr", deviceCSR(alg, id), "-user", "line-1@station", "-pass", secret, "-out", filepath.Join(w.dir, id+".pem"))
	}

	for _, c := range []struct{ id, alg string }{{"cam-st-1", "ec"}, {"cam-st-2", "rsa"}} {
		out, err := basic(c.id, c.alg)
		require.NoError(t, err, out)
		cert := readCert(t, filepath.Join(w.dir, c.id+".pem"))
		assert.Equal(t, c.id, cert.Subject.CommonName)
		w.opensslVerify(t, filepath.Join(w.dir, c.id+".pem"))
		assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM devices WHERE id = $1 AND device_type = 'camera' AND driver = 'est' AND mode = 'OPERATIONAL'`, c.id),
			"created in the label's type, then made operational by its certificate")
		assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM station_enrollments WHERE station = 'line-1' AND device_id = $1 AND registered AND label = 'cams'`, c.id))
		assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM audit_log WHERE actor = 'station:line-1' AND action = 'station.enroll' AND $1 = ANY(object_ids)`, c.id))
		assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM certificates WHERE device_id = $1 AND status = 'active' AND sha256 = $2`, c.id, pki.Fingerprint(cert)))
	}

	out, err := basic("other-9", "ec")
	require.Error(t, err, "a name outside the scope")
	assert.Contains(t, out, `device ID "other-9" is outside station "line-1"'s scope`)
	out, err = w.estclient(t, "enroll", "-aps", "cams", "-csr", deviceCSR("ec", "cam-st-3"), "-user", "line-1@station", "-pass", "wrong", "-out", filepath.Join(w.dir, "x.pem"))
	require.Error(t, err, "a wrong secret")
	assert.Contains(t, out, "the station ID and secret were refused")
	out, err = w.estclient(t, "enroll", "-aps", "approve", "-csr", deviceCSR("ec", "cam-st-4"), "-user", "line-1@station", "-pass", secret, "-out", filepath.Join(w.dir, "x.pem"))
	require.Error(t, err, "a label the station may not use")
	assert.Contains(t, out, `station "line-1" may not use label "approve"`)

	w.device(t, "listed-cam", "password", "listed-cam-password-0123")
	out, err = basic("listed-cam", "ec")
	require.NoError(t, err, "an existing device, listed: %s", out)
	assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM station_enrollments WHERE station = 'line-1' AND device_id = 'listed-cam' AND NOT registered`))
	out, err = basic("cam-st-5", "ec")
	require.Error(t, err, "the fourth enrollment of a station limited to three")
	assert.Contains(t, out, `station "line-1" is past its limit: it made all its 3 enrollments`)
	assert.Zero(t, w.count(t, `SELECT count(*) FROM devices WHERE id IN ('other-9', 'cam-st-3', 'cam-st-4', 'cam-st-5')`), "refused requests create no device")
	assert.Equal(t, 3, w.count(t, `SELECT enrollments FROM provisioning_stations WHERE name = 'line-1'`))

	// A station with only a TLS client certificate, which certfleet issues.
	_, err = q.CreateStation(ctx, store.CreateStationParams{
		Name: "line-2", Labels: []string{"cams"}, DeviceIDPattern: `tls-cam-[0-9]+`, DeviceIds: []string{}, RegisterMode: "NEW", CreatedBy: "test",
	})
	require.NoError(t, err)
	stationKey, stationKeyPath := w.key(t, "ec", "line-2.key")
	set, err := local.OpenSet(ctx, w.pool, w.keys, local.Options{})
	require.NoError(t, err)
	chain, err := set.IssueStationCertificate(ctx, csr(t, stationKey, "anything"), "line-2")
	require.NoError(t, err)
	_, err = q.SetStationCertificate(ctx, store.SetStationCertificateParams{
		Name: "line-2", CertSha256: pki.Fingerprint(chain[0]), CertDer: chain[0].Raw, CertSource: pgtype.Text{String: "issued", Valid: true},
	})
	require.NoError(t, err)
	assert.Equal(t, "certfleet provisioning station line-2", chain[0].Subject.CommonName, "certfleet's subject, not the CSR's")
	stationCert := testpki.Write(t, w.dir, "line-2.pem", testpki.CertPEM(chain[0]))
	viaTLS := func(id, alg string) (string, error) {
		return w.estclient(t, "enroll", "-aps", "cams", "-certs", stationCert, "-key", stationKeyPath, "-csr", deviceCSR(alg, id), "-out", filepath.Join(w.dir, id+".pem"))
	}
	for _, c := range []struct{ id, alg string }{{"tls-cam-1", "ec"}, {"tls-cam-2", "rsa"}} {
		out, err := viaTLS(c.id, c.alg)
		require.NoError(t, err, out)
		assert.Equal(t, c.id, readCert(t, filepath.Join(w.dir, c.id+".pem")).Subject.CommonName)
		assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM station_enrollments WHERE station = 'line-2' AND device_id = $1 AND registered`, c.id))
	}
	out, err = viaTLS("cam-st-6", "ec")
	require.Error(t, err, "line-1's scope is not line-2's")
	assert.Contains(t, out, `outside station "line-2"'s scope`)

	_, err = q.SetStationDisabled(ctx, store.SetStationDisabledParams{Name: "line-2", Disabled: true})
	require.NoError(t, err)
	out, err = viaTLS("tls-cam-3", "ec")
	require.Error(t, err, "a disabled station")
	assert.Contains(t, out, `station "line-2" is disabled since`)
	assert.Zero(t, w.count(t, `SELECT count(*) FROM devices WHERE id IN ('cam-st-6', 'tls-cam-3')`))

	// A station whose certificate chains to a trust anchor: refused once
	// the anchor is disabled.
	integrator := testpki.NewCA(t, "Integrator CA")
	anchor := testenv.ProvenAnchor(t, w.trust, integrator, trust.Upload{Name: "integrator"})
	icert, ikey := integrator.Client(t, "integration-1")
	_, err = q.CreateStation(ctx, store.CreateStationParams{
		Name: "integration-1", Labels: []string{"cams"}, DeviceIDPattern: `int-cam-[0-9]+`, DeviceIds: []string{}, RegisterMode: "NEW", CreatedBy: "test",
	})
	require.NoError(t, err)
	_, err = q.SetStationCertificate(ctx, store.SetStationCertificateParams{
		Name: "integration-1", CertSha256: pki.Fingerprint(icert), CertDer: icert.Raw, CertSource: pgtype.Text{String: "anchor", Valid: true},
	})
	require.NoError(t, err)
	icertPath := testpki.Write(t, w.dir, "integration-1.pem", testpki.CertPEM(icert))
	ikeyPath := testpki.Write(t, w.dir, "integration-1.key", testpki.KeyPEM(t, ikey))
	out, err = w.estclient(t, "enroll", "-aps", "cams", "-certs", icertPath, "-key", ikeyPath, "-csr", deviceCSR("rsa", "int-cam-1"), "-out", filepath.Join(w.dir, "int-cam-1.pem"))
	require.NoError(t, err, out)
	assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM devices WHERE id = 'int-cam-1' AND mode = 'OPERATIONAL'`))
	require.NoError(t, w.trust.SetEnabled(ctx, anchor.ID, false))
	out, err = w.estclient(t, "enroll", "-aps", "cams", "-certs", icertPath, "-key", ikeyPath, "-csr", deviceCSR("ec", "int-cam-2"), "-out", filepath.Join(w.dir, "int-cam-2.pem"))
	require.Error(t, err, "the anchor is disabled")
	assert.Contains(t, out, `station "integration-1"'s client certificate is refused`)
}

// TestStationRetryCountsOnce: a station that sends a request again (as
// after a lost answer) gets the same certificate, counted once against its
// limit, even at its limit; a station that expired is refused.
func TestStationRetryCountsOnce(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	q := store.New(w.pool)
	const secret = "line-9-secret-0123456789"
	hash, err := auth.HashSecret(secret)
	require.NoError(t, err)
	_, err = q.CreateStation(ctx, store.CreateStationParams{
		Name: "line-9", SecretHash: pgtype.Text{String: hash, Valid: true}, Labels: []string{"cams"},
		DeviceIDPattern: `cam-[0-9]+`, DeviceIds: []string{}, RegisterMode: "NEW",
		MaxEnrollments: pgtype.Int4{Int32: 1, Valid: true}, CreatedBy: "test",
	})
	require.NoError(t, err)
	key, _ := w.key(t, "ec", "cam-1.key")
	body := csr(t, key, "cam-1").Raw
	send := func() (int, string) {
		resp, text := w.post(t, "cams/simpleenroll", "line-9@station", secret, estwire.EncodeBase64(body), nil)
		return resp.StatusCode, text
	}
	status, text := send()
	require.Equal(t, 200, status, text)
	status, text = send()
	assert.Equal(t, 200, status, "the same request again, at the limit: %s", text)
	assert.Equal(t, 1, w.count(t, `SELECT enrollments FROM provisioning_stations WHERE name = 'line-9'`))
	assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM devices WHERE id = 'cam-1' AND mode = 'OPERATIONAL'`))

	expired := time.Now().Add(-time.Minute)
	_, err = q.UpdateStationScope(ctx, store.UpdateStationScopeParams{
		Name: "line-9", Labels: []string{"cams"}, DeviceIDPattern: `cam-[0-9]+`, DeviceIds: []string{}, RegisterMode: "NEW", ExpiresAt: &expired,
	})
	require.NoError(t, err)
	status, text = send()
	assert.Equal(t, 403, status)
	assert.Contains(t, text, `station "line-9" is expired since`)
}
