package activities_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/vocab"
)

// TestARegisteringEnrollmentWritesInOneTransaction: a device enrolling on
// first contact is registered, with its audit row, in the transaction that
// records its CA request and its certificate; a repeat registers nothing
// more; and a device of the same ID registered to another credential since
// the request was admitted refuses the enrollment, non-retryably, leaving
// no trace.
func TestARegisteringEnrollmentWritesInOneTransaction(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 1)
	acts := f.activities()
	var anchor int64
	require.NoError(t, f.pool.QueryRow(ctx, `INSERT INTO trust_anchors (name, subject, der, sha256, not_after, auto_register)
		VALUES ('factory', 'CN=factory', '\x00', $1, now() + interval '1 year', true) RETURNING id`, fingerprint("anchor")).Scan(&anchor))
	enrollment := func(key, device, credential string) activities.Enrollment {
		return activities.Enrollment{Key: key, DeviceID: device, ProfileID: f.normal, CertType: "tls", CSR: newCSR(t, device),
			Register: &activities.Registration{DeviceType: "camera", FactoryCertSHA256: fingerprint(credential), FactoryAnchorID: anchor}}
	}

	first := enrollment("est/sim-90001/first", "sim-90001", "factory certificate 1")
	sub, err := acts.SubmitEnrollment(ctx, first)
	require.NoError(t, err)
	require.Equal(t, vocab.RequestIssued, sub.Status)
	var together bool
	// The device row itself was updated by the booking since; the audit row
	// of its registration tells which transaction created it.
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT a.xmin = r.xmin
		FROM devices d JOIN ca_requests r ON r.device_id = d.id
		JOIN audit_log a ON a.action = 'device.auto_register' AND d.id = ANY(a.object_ids)
		WHERE d.id = 'sim-90001' AND d.mode = 'OPERATIONAL' AND d.factory_anchor_id = $1`, anchor).Scan(&together))
	assert.True(t, together, "the device was registered in the transaction that recorded its CA request")

	again, err := acts.SubmitEnrollment(ctx, first)
	require.NoError(t, err, "a repeat")
	assert.Equal(t, sub.CertificateID, again.CertificateID)
	assert.Equal(t, 1, count(t, f, `SELECT count(*) FROM audit_log WHERE action = 'device.auto_register'`), "registered once")

	for _, taken := range []activities.Enrollment{
		enrollment("est/sim-90001/other", "sim-90001", "factory certificate 2"), // registered meanwhile by another certificate
		enrollment("est/sim-00001/other", "sim-00001", "factory certificate 3"), // added by an operator
	} {
		_, err := acts.SubmitEnrollment(ctx, taken)
		var refused *temporal.ApplicationError
		require.True(t, errors.As(err, &refused), "%v", err)
		assert.Equal(t, activities.ErrDeviceTaken, refused.Type())
		assert.True(t, refused.NonRetryable())
		assert.Contains(t, refused.Message(), "a device "+taken.DeviceID+" exists already")
		assert.Zero(t, count(t, f, `SELECT count(*) FROM ca_requests WHERE idempotency_key = $1`, taken.Key), "nothing recorded")
	}
	assert.Equal(t, 1, count(t, f, `SELECT count(*) FROM audit_log WHERE action = 'device.auto_register'`))
}

func fingerprint(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

func count(t *testing.T, f *fleet, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, f.pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}
