package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func lastUsed(t *testing.T, pool *pgxpool.Pool, id int64) *time.Time {
	t.Helper()
	var at *time.Time
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT last_used_at FROM api_tokens WHERE id = $1", id).Scan(&at))
	return at
}

// TestLastUsedIsRecordedCheaply: a token's first use is recorded, further
// uses within a minute write nothing, and a use after a minute is recorded.
func TestLastUsedIsRecordedCheaply(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	q := store.New(pool)
	secret, tok, err := auth.Issue(ctx, q, auth.NewToken{Name: "ci", Role: auth.Operator, CreatedBy: "test"})
	require.NoError(t, err)
	assert.Nil(t, lastUsed(t, pool, tok.ID), "never used yet")

	p, err := auth.Authenticate(ctx, q, secret)
	require.NoError(t, err)
	assert.Equal(t, auth.Principal{TokenID: tok.ID, Name: "ci", Role: auth.Operator}, p)
	first := lastUsed(t, pool, tok.ID)
	require.NotNil(t, first, "the first use is recorded")

	var xminBefore, xminAfter string
	require.NoError(t, pool.QueryRow(ctx, "SELECT xmin::text FROM api_tokens WHERE id = $1", tok.ID).Scan(&xminBefore))
	_, err = auth.Authenticate(ctx, q, secret)
	require.NoError(t, err)
	require.NoError(t, pool.QueryRow(ctx, "SELECT xmin::text FROM api_tokens WHERE id = $1", tok.ID).Scan(&xminAfter))
	assert.Equal(t, xminBefore, xminAfter, "a second use within the minute writes no row version")
	assert.True(t, first.Equal(*lastUsed(t, pool, tok.ID)))

	_, err = pool.Exec(ctx, "UPDATE api_tokens SET last_used_at = last_used_at - interval '2 minutes' WHERE id = $1", tok.ID)
	require.NoError(t, err)
	stale := lastUsed(t, pool, tok.ID)
	_, err = auth.Authenticate(ctx, q, secret)
	require.NoError(t, err)
	assert.True(t, lastUsed(t, pool, tok.ID).After(*stale), "a use after a minute is recorded")
}

// TestExpiredAndRevokedTokensAreRefused, and a refused token's use is not
// recorded.
func TestExpiredAndRevokedTokensAreRefused(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	q := store.New(pool)
	soon := time.Now().Add(time.Hour)
	expiring, tok, err := auth.Issue(ctx, q, auth.NewToken{Name: "short", Role: auth.Auditor, CreatedBy: "test", ExpiresAt: &soon})
	require.NoError(t, err)
	require.NotNil(t, tok.ExpiresAt)
	assert.WithinDuration(t, soon, *tok.ExpiresAt, time.Millisecond)
	_, err = auth.Authenticate(ctx, q, expiring)
	require.NoError(t, err, "valid until it expires")

	_, err = pool.Exec(ctx, "UPDATE api_tokens SET expires_at = now() - interval '1 second', last_used_at = NULL WHERE id = $1", tok.ID)
	require.NoError(t, err)
	_, err = auth.Authenticate(ctx, q, expiring)
	assert.ErrorIs(t, err, auth.ErrUnknownToken, "expired")
	assert.Nil(t, lastUsed(t, pool, tok.ID), "a refused token's use is not recorded")

	revoking, tok, err := auth.Issue(ctx, q, auth.NewToken{Name: "leaked", Role: auth.Admin, CreatedBy: "test"})
	require.NoError(t, err)
	revoked, err := auth.Revoke(ctx, q, tok.ID)
	require.NoError(t, err)
	require.NotNil(t, revoked.RevokedAt)
	_, err = auth.Authenticate(ctx, q, revoking)
	assert.ErrorIs(t, err, auth.ErrUnknownToken, "revoked")
	again, err := auth.Revoke(ctx, q, tok.ID)
	require.NoError(t, err)
	assert.True(t, revoked.RevokedAt.Equal(*again.RevokedAt), "revoking twice keeps the first time")

	_, err = auth.Revoke(ctx, q, tok.ID+1000)
	assert.ErrorIs(t, err, pgx.ErrNoRows)
	_, _, err = auth.Issue(ctx, q, auth.NewToken{Name: "late", Role: auth.Admin, CreatedBy: "test", ExpiresAt: &time.Time{}})
	assert.Equal(t, errkind.KindInvalid, errkind.KindOf(err), "an expiry in the past is refused")
}
