package db_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/internal/testenv"
)

// pgCode returns the SQLSTATE of err, or "" if it is not a Postgres error.
func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

const (
	checkViolation      = "23514"
	foreignKeyViolation = "23503"
	uniqueViolation     = "23505"
)

func newProfile(name, certType string) store.CreateProfileParams {
	return store.CreateProfileParams{
		Name:            name,
		CertType:        certType,
		DeviceType:      "camera",
		SubjectRules:    json.RawMessage(`[{"attr":"CN","rule":"from_csr"}]`),
		SanRules:        json.RawMessage(`[]`),
		ExtraAttributes: json.RawMessage(`[]`),
		KeyAlgorithms:   json.RawMessage(`[{"algorithm":"ecdsa","sizes":[256]}]`),
		Validity:        365 * 24 * time.Hour,
		RenewBefore:     30 * 24 * time.Hour,
		CaDriver:        "local",
		CaSettings:      json.RawMessage(`{}`),
		MaxCaWait:       24 * time.Hour,
	}
}

func newDevice(id string) store.CreateDeviceParams {
	return store.CreateDeviceParams{ID: id, Name: "Lobby camera " + id, DeviceType: "camera", Mode: "NEW", Driver: "agent"}
}

// seed gives a test its own database holding one TLS profile and device cam-1.
func seed(t *testing.T, profileName string) (*pgxpool.Pool, *store.Queries, store.Profile) {
	t.Helper()
	pool, _ := testenv.Database(t)
	q := store.New(pool)
	profile, err := q.CreateProfile(context.Background(), newProfile(profileName, "tls"))
	require.NoError(t, err)
	_, err = q.CreateDevice(context.Background(), newDevice("cam-1"))
	require.NoError(t, err)
	return pool, q, profile
}

func TestProfileRoundTripsIntervalsAndJSON(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	q := store.New(pool)

	created, err := q.CreateProfile(ctx, newProfile("cameras-tls", "tls"))
	require.NoError(t, err)
	got, err := q.GetProfile(ctx, created.ID)
	require.NoError(t, err)
	assert.Equal(t, 365*24*time.Hour, got.Validity)
	assert.Equal(t, 30*24*time.Hour, got.RenewBefore)
	assert.JSONEq(t, `[{"algorithm":"ecdsa","sizes":[256]}]`, string(got.KeyAlgorithms))
	assert.Nil(t, got.ArchivedAt)
}

// TestSchemaRefusesBadData checks that the database itself refuses what the
// application must never write, whichever code path tries.
func TestSchemaRefusesBadData(t *testing.T) {
	ctx := context.Background()
	pool, q, profile := seed(t, "base")

	renewTooLate := newProfile("renew-after-expiry", "tls")
	renewTooLate.RenewBefore = renewTooLate.Validity
	noKeys := newProfile("no-keys", "tls")
	noKeys.KeyAlgorithms = json.RawMessage(`[]`)
	badCertType := newProfile("bad-type", "smime")
	unknownDeviceType := newProfile("bad-device-type", "tls")
	unknownDeviceType.DeviceType = "toaster"
	badID := newDevice("cam 1; DROP TABLE devices")
	badMode := newDevice("cam-2")
	badMode.Mode = "BROKEN"

	cases := []struct {
		name string
		code string
		run  func() error
	}{
		{"renew window longer than validity", checkViolation, func() error { _, err := q.CreateProfile(ctx, renewTooLate); return err }},
		{"profile allowing no key algorithm", checkViolation, func() error { _, err := q.CreateProfile(ctx, noKeys); return err }},
		{"unknown certificate type", checkViolation, func() error { _, err := q.CreateProfile(ctx, badCertType); return err }},
		{"unknown device type", foreignKeyViolation, func() error { _, err := q.CreateProfile(ctx, unknownDeviceType); return err }},
		{"duplicate profile name", uniqueViolation, func() error { _, err := q.CreateProfile(ctx, newProfile("base", "tls")); return err }},
		{"device ID unsafe for workflow IDs", checkViolation, func() error { _, err := q.CreateDevice(ctx, badID); return err }},
		{"unknown device mode", checkViolation, func() error { _, err := q.CreateDevice(ctx, badMode); return err }},
		{"duplicate device", uniqueViolation, func() error { _, err := q.CreateDevice(ctx, newDevice("cam-1")); return err }},
		{"profile of another certificate type", foreignKeyViolation, func() error {
			return q.AssignProfile(ctx, store.AssignProfileParams{DeviceID: "cam-1", CertType: "ieee8021x", ProfileID: profile.ID})
		}},
		{"audit row without actor", checkViolation, func() error {
			return q.RecordAudit(ctx, store.RecordAuditParams{Action: "device.create", ObjectType: "device", Details: json.RawMessage(`{}`)})
		}},
		{"audit action outside the noun.verb form", checkViolation, func() error {
			return q.RecordAudit(ctx, store.RecordAuditParams{Actor: "x", Action: "DROP", ObjectType: "device", Details: json.RawMessage(`{}`)})
		}},
		{"revoked certificate without reason", checkViolation, func() error {
			_, err := pool.Exec(ctx, `INSERT INTO certificates (cert_type, issuer, serial_hex, subject, sha256, not_before, not_after, der, status)
				VALUES ('tls', 'CN=CA', '01', 'CN=x', decode(repeat('ab', 32), 'hex'), now(), now() + interval '1 day', '\x00', 'revoked')`)
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run()
			require.Error(t, err)
			assert.Equal(t, c.code, pgCode(err), "error: %v", err)
		})
	}
	require.NoError(t, q.AssignProfile(ctx, store.AssignProfileParams{DeviceID: "cam-1", CertType: "tls", ProfileID: profile.ID}))
}

// TestOneActiveJobPerDeviceAndCertType is the database guard behind "a device
// cannot be in two active jobs for the same certificate type".
func TestOneActiveJobPerDeviceAndCertType(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	q := store.New(pool)
	tlsProfile, err := q.CreateProfile(ctx, newProfile("tls", "tls"))
	require.NoError(t, err)
	dot1xProfile, err := q.CreateProfile(ctx, newProfile("dot1x", "ieee8021x"))
	require.NoError(t, err)
	_, err = q.CreateDevice(ctx, newDevice("cam-1"))
	require.NoError(t, err)

	newJob := func(certType string) store.Job {
		job, err := q.CreateJob(ctx, store.CreateJobParams{Name: "renew", CertType: certType, CreatedBy: "test", ScheduledAt: time.Now()})
		require.NoError(t, err)
		return job
	}
	first, second, dot1x := newJob("tls"), newJob("tls"), newJob("ieee8021x")

	require.NoError(t, q.AddJobItem(ctx, store.AddJobItemParams{JobID: first.ID, DeviceID: "cam-1", CertType: "tls", ProfileID: tlsProfile.ID}))
	err = q.AddJobItem(ctx, store.AddJobItemParams{JobID: second.ID, DeviceID: "cam-1", CertType: "tls", ProfileID: tlsProfile.ID})
	assert.Equal(t, uniqueViolation, pgCode(err), "second active TLS job: %v", err)
	require.NoError(t, q.AddJobItem(ctx, store.AddJobItemParams{JobID: dot1x.ID, DeviceID: "cam-1", CertType: "ieee8021x", ProfileID: dot1xProfile.ID}),
		"another certificate type is another slot")
	_, err = q.CreateDevice(ctx, newDevice("cam-2"))
	require.NoError(t, err)
	err = q.AddJobItem(ctx, store.AddJobItemParams{JobID: first.ID, DeviceID: "cam-2", CertType: "ieee8021x", ProfileID: dot1xProfile.ID})
	assert.Equal(t, foreignKeyViolation, pgCode(err), "an item's certificate type must be its job's: %v", err)

	_, err = pool.Exec(ctx, `UPDATE job_items SET state = 'succeeded', finished_at = now() WHERE job_id = $1`, first.ID)
	require.NoError(t, err)
	require.NoError(t, q.AddJobItem(ctx, store.AddJobItemParams{JobID: second.ID, DeviceID: "cam-1", CertType: "tls", ProfileID: tlsProfile.ID}),
		"a finished item frees the slot")

	counts, err := q.CountJobItemsByState(ctx, second.ID)
	require.NoError(t, err)
	assert.Equal(t, []store.CountJobItemsByStateRow{{State: "pending", Items: 1}}, counts)
}

// TestCARequestIdempotencyKey: a retried submission must find the first request,
// never create a second.
func TestCARequestIdempotencyKey(t *testing.T) {
	ctx := context.Background()
	pool, q, profile := seed(t, "tls")

	params := store.CreateCARequestParams{
		IdempotencyKey: "42/cam-1", ProfileID: profile.ID, CaDriver: "local",
		DeviceID: pgtype.Text{String: "cam-1", Valid: true}, CsrDer: []byte{0x30},
	}
	first, err := q.CreateCARequest(ctx, params)
	require.NoError(t, err)
	params.CsrDer = []byte{0x31}
	_, err = q.CreateCARequest(ctx, params)
	assert.ErrorIs(t, err, pgx.ErrNoRows, "the retry inserts nothing")

	existing, err := q.GetCARequestByKey(ctx, "42/cam-1")
	require.NoError(t, err)
	assert.Equal(t, first.ID, existing.ID)
	assert.Equal(t, []byte{0x30}, existing.CsrDer, "the first CSR is kept")
	assert.Equal(t, "pending", existing.Status)

	_, err = pool.Exec(ctx, `UPDATE ca_requests SET status = 'issued' WHERE id = $1`, first.ID)
	assert.Equal(t, checkViolation, pgCode(err), "issued needs a certificate: %v", err)
}

func TestAuditLogFilterAndPaging(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	q := store.New(pool)
	for i, objectType := range []string{"device", "profile", "device", "device"} {
		require.NoError(t, q.RecordAudit(ctx, store.RecordAuditParams{
			Actor: "token:ops", Action: objectType + ".update", ObjectType: objectType,
			ObjectIds: []string{string(rune('a' + i))}, Details: json.RawMessage(`{}`),
		}))
	}
	page, err := q.ListAudit(ctx, store.ListAuditParams{ObjectType: pgtype.Text{String: "device", Valid: true}, PageSize: 2})
	require.NoError(t, err)
	require.Len(t, page, 2)
	assert.Equal(t, []string{"a"}, page[0].ObjectIds)
	assert.Equal(t, []string{"c"}, page[1].ObjectIds)

	next, err := q.ListAudit(ctx, store.ListAuditParams{
		ObjectType: pgtype.Text{String: "device", Valid: true}, AfterID: pgtype.Int8{Int64: page[1].ID, Valid: true}, PageSize: 2,
	})
	require.NoError(t, err)
	require.Len(t, next, 1)
	assert.Equal(t, []string{"d"}, next[0].ObjectIds)
}
