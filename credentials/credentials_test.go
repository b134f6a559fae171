package credentials_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/credentials"
	"github.com/certfleet/certfleet/credentials/secret"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/pki/kek"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newStore(t *testing.T) *credentials.Store {
	t.Helper()
	pool, _ := testenv.Database(t)
	return &credentials.Store{Pool: pool, KEK: testenv.KEK(t)}
}

// TestSealedSecretsAreBoundToTheirRow: a sealed secret copied onto another
// credential's row does not open there, so write access to the table does
// not let one credential's secret be sent under another's name.
func TestSealedSecretsAreBoundToTheirRow(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	q := store.New(s.Pool)
	a, err := s.Create(ctx, q, credentials.Spec{Name: "a", Kind: secret.Bearer, Secret: "secret-of-a-0123456789"}, "test")
	require.NoError(t, err)
	b, err := s.Create(ctx, q, credentials.Spec{Name: "b", Kind: secret.Bearer, Secret: "secret-of-b-0123456789"}, "test")
	require.NoError(t, err)

	got, err := s.ForDevice(ctx, a.ID, "cam-1", "https://10.0.0.1")
	require.NoError(t, err)
	assert.Equal(t, "secret-of-a-0123456789", got.Value)
	assert.NotContains(t, got.String()+got.GoString(), "secret-of-a", "printing a secret shows only its kind")

	_, err = s.Pool.Exec(ctx, `UPDATE credentials SET secret_sealed = (SELECT secret_sealed FROM credentials WHERE id = $1) WHERE id = $2`, a.ID, b.ID)
	require.NoError(t, err)
	_, err = s.ForDevice(ctx, b.ID, "cam-1", "https://10.0.0.1")
	assert.Error(t, err)

	wrong, err := kek.New(append(make([]byte, 31), 1))
	require.NoError(t, err)
	_, err = (&credentials.Store{Pool: s.Pool, KEK: wrong}).ByName(ctx, "a")
	assert.Error(t, err, "another KEK opens nothing")
}

// TestDerivedCredentialsAndAddressPatterns: a derived credential yields each
// device's own secret, and a credential with address patterns is never
// opened for a device outside them.
func TestDerivedCredentialsAndAddressPatterns(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	row, err := s.Create(ctx, store.New(s.Pool), credentials.Spec{Name: "fleet", Kind: secret.Derived, Secret: "fleet-master-secret-0123",
		AllowedAddresses: []string{"https://sim.example:9444/devices/*"}}, "test")
	require.NoError(t, err)
	one, err := s.ForDevice(ctx, row.ID, "sim-1", "https://sim.example:9444/devices/sim-1")
	require.NoError(t, err)
	assert.Equal(t, secret.Bearer, one.Kind)
	assert.Equal(t, secret.Derive("fleet-master-secret-0123", "sim-1"), one.Value)
	_, err = s.ForDevice(ctx, row.ID, "sim-1", "https://evil.example/devices/sim-1")
	assert.ErrorIs(t, err, credentials.ErrAddressNotAllowed)

	var lastUsed *string
	require.NoError(t, s.Pool.QueryRow(ctx, `SELECT last_used_at::text FROM credentials WHERE id = $1`, row.ID).Scan(&lastUsed))
	assert.NotNil(t, lastUsed, "a use is recorded")
}

func TestSpecsAreChecked(t *testing.T) {
	for field, spec := range map[string]credentials.Spec{
		"name":                 {Name: "has space", Kind: secret.Bearer, Secret: "x"},
		"kind":                 {Name: "a", Kind: "magic", Secret: "x"},
		"username":             {Name: "a", Kind: secret.Password, Secret: "x"},
		"secret":               {Name: "a", Kind: secret.TLSClient, Secret: "not PEM"},
		"allowed_addresses[0]": {Name: "a", Kind: secret.Bearer, Secret: "x", AllowedAddresses: []string{"[unclosed"}},
	} {
		invalid, ok := errkind.As(spec.Check())
		require.True(t, ok, field)
		assert.Equal(t, errkind.KindInvalid, invalid.Kind(), field)
		assert.Equal(t, field, invalid.Field())
	}
	assert.Error(t, credentials.Spec{Name: "a", Kind: secret.Bearer, Secret: "x", Username: "u"}.Check(), "a bearer token has no username")
	assert.NoError(t, credentials.Spec{Name: "cam-vapix", Kind: secret.Password, Username: "root", Secret: "pass"}.Check())
}
