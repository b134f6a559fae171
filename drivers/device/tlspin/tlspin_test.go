package tlspin_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/device/tlspin"
	"github.com/certfleet/certfleet/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestDBRepin: a pin moves only to a valid TLS certificate certfleet issued
// to the device (not one discovery recorded, not another device's, not a
// revoked one); a pin moved already counts as moved.
func TestDBRepin(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	q := store.New(pool)
	pins := tlspin.DBPins{Pool: pool}
	for _, id := range []string{"cam-1", "cam-2"} {
		_, err := q.CreateDevice(ctx, store.CreateDeviceParams{ID: id, Name: id, DeviceType: "camera", Mode: "OPERATIONAL", Driver: "axis"})
		require.NoError(t, err)
	}
	old := bytes.Repeat([]byte{1}, 32)
	require.NoError(t, pins.SavePin(ctx, "cam-1", old))
	profile, err := q.CreateProfile(ctx, store.CreateProfileParams{
		Name: "cameras", CertType: "tls", DeviceType: "camera",
		SubjectRules: json.RawMessage(`[{"attr":"CN","rule":"from_csr"}]`), SanRules: json.RawMessage(`[]`), ExtraAttributes: json.RawMessage(`[]`),
		KeyAlgorithms: json.RawMessage(`[{"algorithm":"ecdsa","sizes":[256]}]`), Validity: time.Hour, RenewBefore: time.Minute,
		CaDriver: "local", CaSettings: json.RawMessage(`{}`), MaxCaWait: time.Hour,
	})
	require.NoError(t, err)
	certificate := func(device string, der byte, issued bool) []byte {
		sum := sha256.Sum256([]byte{der})
		_, err := q.InsertCertificate(ctx, store.InsertCertificateParams{
			ProfileID: pgtype.Int8{Int64: profile.ID, Valid: issued},
			DeviceID:  pgtype.Text{String: device, Valid: true}, CertType: "tls", Issuer: "CN=test", SerialHex: string("0123456789abcdef"[der]),
			Subject: "CN=" + device, Sha256: sum[:], NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), Der: []byte{der},
		})
		require.NoError(t, err)
		return sum[:]
	}
	unknown := bytes.Repeat([]byte{2}, 32)
	others := certificate("cam-2", 3, true)
	discovered := certificate("cam-1", 5, false)
	own := certificate("cam-1", 4, true)

	for name, seen := range map[string][]byte{"unknown": unknown, "another device's": others, "discovered": discovered} {
		moved, err := pins.Repin(ctx, "cam-1", old, seen)
		require.NoError(t, err)
		assert.False(t, moved, name)
	}
	moved, err := pins.Repin(ctx, "cam-1", bytes.Repeat([]byte{9}, 32), own)
	require.NoError(t, err)
	assert.False(t, moved, "not from a pin the device does not have")

	for range 2 {
		moved, err = pins.Repin(ctx, "cam-1", old, own)
		require.NoError(t, err)
		assert.True(t, moved, "to its own certificate, and again once moved")
	}
	row, err := q.GetDevice(ctx, "cam-1")
	require.NoError(t, err)
	assert.Equal(t, own, row.TlsPin)

	_, err = pool.Exec(ctx, `UPDATE certificates SET status = 'revoked', revoked_at = now(), revocation_reason = 1 WHERE sha256 = $1`, own)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE devices SET tls_pin = $1 WHERE id = 'cam-1'`, old)
	require.NoError(t, err)
	moved, err = pins.Repin(ctx, "cam-1", old, own)
	require.NoError(t, err)
	assert.False(t, moved, "never to a revoked certificate")
}

// TestDBSavePin: a device pinned by another contact keeps its pin, and a
// different one is refused.
func TestDBSavePin(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	_, err := store.New(pool).CreateDevice(ctx, store.CreateDeviceParams{ID: "cam-1", Name: "cam", DeviceType: "camera", Mode: "OPERATIONAL", Driver: "axis"})
	require.NoError(t, err)
	pins := tlspin.DBPins{Pool: pool}
	first, second := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	require.NoError(t, pins.SavePin(ctx, "cam-1", first))
	require.NoError(t, pins.SavePin(ctx, "cam-1", first), "the same pin again")
	assert.ErrorIs(t, pins.SavePin(ctx, "cam-1", second), tlspin.ErrMismatch)
	row, err := store.New(pool).GetDevice(ctx, "cam-1")
	require.NoError(t, err)
	assert.Equal(t, first, row.TlsPin)
}
