package tlspin_test

import (
	"bytes"
	"context"
	"crypto/sha256"
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

// TestDBRepin: a pin moves only to a certificate the inventory holds, not
// revoked, as the device's own; a pin moved already counts as moved.
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
	certificate := func(device string, der byte) []byte {
		sum := sha256.Sum256([]byte{der})
		_, err := q.InsertCertificate(ctx, store.InsertCertificateParams{
			DeviceID: pgtype.Text{String: device, Valid: true}, CertType: "tls", Issuer: "CN=test", SerialHex: string("0123456789abcdef"[der]),
			Subject: "CN=" + device, Sha256: sum[:], NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), Der: []byte{der},
		})
		require.NoError(t, err)
		return sum[:]
	}
	unknown := bytes.Repeat([]byte{2}, 32)
	others := certificate("cam-2", 3)
	own := certificate("cam-1", 4)

	for name, seen := range map[string][]byte{"unknown": unknown, "another device's": others} {
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
