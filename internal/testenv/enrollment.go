package testenv

import (
	"context"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/db/store"
)

// The fixtures of the enrollment protocols' tests (EST, SCEP): a camera
// profile on the built-in CA, labels, and cameras that enroll themselves.

// CameraProfile creates a TLS profile for cameras on the built-in CA: the CN
// from the CSR, O fixed to Acme, ECDSA P-256 or RSA 2048 keys, in approval
// mode if asked.
func CameraProfile(t testing.TB, pool *pgxpool.Pool, name string, approval bool) int64 {
	t.Helper()
	row, err := store.New(pool).CreateProfile(context.Background(), store.CreateProfileParams{
		Name: name, CertType: "tls", DeviceType: "camera",
		SubjectRules: json.RawMessage(`[{"attr":"CN","rule":"from_csr"},{"attr":"O","rule":"fixed","value":"Acme"}]`),
		SanRules:     json.RawMessage(`[]`), ExtraAttributes: json.RawMessage(`[]`),
		KeyAlgorithms: json.RawMessage(`[{"algorithm":"ecdsa","sizes":[256]},{"algorithm":"rsa","sizes":[2048]}]`),
		Validity:      90 * 24 * time.Hour, RenewBefore: 30 * 24 * time.Hour, CaDriver: "local",
		CaSettings: json.RawMessage(`{}`), ApprovalMode: approval, MaxCaWait: 10 * time.Minute,
	})
	require.NoError(t, err)
	return row.ID
}

// Label creates an enrollment label; unset, the identity field is CN and no
// network or SCEP challenge kind is listed.
func Label(t testing.TB, pool *pgxpool.Pool, p store.CreateESTLabelParams) {
	t.Helper()
	if p.IdentityField == "" {
		p.IdentityField = "CN"
	}
	if p.AllowedCidrs == nil {
		p.AllowedCidrs = []netip.Prefix{}
	}
	if p.ScepChallenges == nil {
		p.ScepChallenges = []string{}
	}
	_, err := store.New(pool).CreateESTLabel(context.Background(), p)
	require.NoError(t, err)
}

// SelfEnrollingCamera registers a camera that enrolls itself, with an
// enrollment secret of kind otp or password ("" for none).
func SelfEnrollingCamera(t testing.TB, pool *pgxpool.Pool, id, kind, secret string) {
	t.Helper()
	q := store.New(pool)
	_, err := q.CreateDevice(context.Background(), store.CreateDeviceParams{ID: id, Name: id, DeviceType: "camera", Mode: "NEW", Driver: "est"})
	require.NoError(t, err)
	if kind != "" {
		EnrollmentSecret(t, pool, id, kind, secret)
	}
}

// EnrollmentSecret gives a device an enrollment secret of kind otp or password.
func EnrollmentSecret(t testing.TB, pool *pgxpool.Pool, id, kind, secret string) {
	t.Helper()
	hash, err := auth.HashSecret(secret)
	require.NoError(t, err)
	require.NoError(t, store.New(pool).CreateEnrollmentCredential(context.Background(), store.CreateEnrollmentCredentialParams{DeviceID: id, Kind: kind, SecretHash: hash}))
}
