package auth

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/errkind"
)

func TestParseExpiry(t *testing.T) {
	now := time.Date(2030, 1, 31, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"90d":                  now.AddDate(0, 0, 90),
		"2160h":                now.Add(2160 * time.Hour),
		"2031-01-01T00:00:00Z": time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		got, err := ParseExpiry(in, now)
		require.NoError(t, err, in)
		assert.True(t, want.Equal(*got), "%s: got %s, want %s", in, got, want)
	}
	never, err := ParseExpiry("", now)
	require.NoError(t, err)
	assert.Nil(t, never, "no expiry")
	for _, bad := range []string{"0d", "-3d", "xd", "-1h", "0s", "soon", "2029-12-31T00:00:00Z", "2031-01-01"} {
		_, err := ParseExpiry(bad, now)
		assert.Error(t, err, bad)
	}
}

func TestNewTokenValidate(t *testing.T) {
	now := time.Now()
	past, future := now.Add(-time.Second), now.Add(time.Hour)
	ok := NewToken{Name: "ci", Role: Operator, ExpiresAt: &future}
	require.NoError(t, ok.Validate(now))
	for field, n := range map[string]NewToken{
		"name":       {Name: "", Role: Operator},
		"role":       {Name: "ci", Role: "root"},
		"expires_at": {Name: "ci", Role: Operator, ExpiresAt: &past},
	} {
		invalid, ok := errkind.As(n.Validate(now))
		require.True(t, ok, field)
		assert.Equal(t, errkind.KindInvalid, invalid.Kind(), field)
		assert.Equal(t, field, invalid.Field())
	}
}

func TestState(t *testing.T) {
	now := time.Now()
	past, future := now.Add(-time.Minute), now.Add(time.Minute)
	assert.Equal(t, "active", State(Token{}, now))
	assert.Equal(t, "active", State(Token{ExpiresAt: &future}, now))
	assert.Equal(t, "expired", State(Token{ExpiresAt: &past}, now))
	assert.Equal(t, "revoked", State(Token{ExpiresAt: &future, RevokedAt: &past}, now))
}
