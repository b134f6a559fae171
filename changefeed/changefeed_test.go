package changefeed_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/changefeed"
	"github.com/certfleet/certfleet/internal/testenv"
)

// counter loads a value and counts how often it was asked to.
type counter struct{ loads int }

func (c *counter) load(context.Context) (int, error) {
	c.loads++
	return c.loads, nil
}

// listeningCache is a cache on a fresh database whose feed listens (until
// the test ends), with the feed's generation.
func listeningCache(t *testing.T) (context.Context, *pgxpool.Pool, *changefeed.Feed, *changefeed.Cache[string, int], uint64) {
	t.Helper()
	pool, _ := testenv.Database(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	feed := changefeed.New(pool, slog.New(slog.DiscardHandler))
	go feed.Run(ctx)
	var generation uint64
	require.Eventually(t, func() bool {
		g, ok := feed.Generation()
		generation = g
		return ok
	}, 10*time.Second, 5*time.Millisecond, "the feed never listened")
	return ctx, pool, feed, changefeed.NewCache[string, int](feed), generation
}

// movesOn waits until feed listens at a generation past from.
func movesOn(t *testing.T, feed *changefeed.Feed, from uint64) {
	t.Helper()
	require.Eventually(t, func() bool {
		g, ok := feed.Generation()
		return ok && g > from
	}, 10*time.Second, 5*time.Millisecond, "the feed did not see the change")
}

func TestCacheLoadsEveryTimeUntilTheFeedListens(t *testing.T) {
	pool, _ := testenv.Database(t)
	cache := changefeed.NewCache[string, int](changefeed.New(pool, slog.New(slog.DiscardHandler)))
	var c counter
	for range 3 {
		_, err := cache.Get(context.Background(), "k", c.load)
		require.NoError(t, err)
	}
	assert.Equal(t, 3, c.loads)

	var none *changefeed.Cache[string, int]
	v, err := none.Get(context.Background(), "k", c.load)
	require.NoError(t, err)
	assert.Equal(t, 4, v, "a nil cache loads")
}

func TestCacheDropsWhatChangesInAnyCachedTable(t *testing.T) {
	ctx, pool, feed, cache, generation := listeningCache(t)

	var c counter
	get := func() int {
		v, err := cache.Get(ctx, "k", c.load)
		require.NoError(t, err)
		return v
	}
	assert.Equal(t, 1, get())
	assert.Equal(t, 1, get(), "the second read is served from the cache")

	for _, change := range []string{
		"UPDATE profiles SET name = name",
		"UPDATE est_labels SET label = label",
		"UPDATE trust_anchors SET enabled = enabled",
	} {
		before := c.loads
		_, err := pool.Exec(ctx, change)
		require.NoError(t, err)
		movesOn(t, feed, generation)
		generation, _ = feed.Generation()
		assert.Equal(t, before+1, get(), "after %q the value is loaded again", change)
		assert.Equal(t, before+1, get())
	}

	// A change in another table is not this cache's business: notifications
	// arrive in commit order, so a devices one would come before this one.
	_, err := pool.Exec(ctx, "UPDATE devices SET name = name")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "UPDATE profiles SET name = name")
	require.NoError(t, err)
	movesOn(t, feed, generation)
	now, _ := feed.Generation()
	assert.Equal(t, generation+1, now)
}

func TestCacheStartsAfreshAfterTheFeedReconnects(t *testing.T) {
	ctx, pool, feed, cache, generation := listeningCache(t)
	var c counter
	_, err := cache.Get(ctx, "k", c.load)
	require.NoError(t, err)

	// Changes made while it was disconnected are not heard, so reconnecting
	// drops everything.
	var killed int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN certfleet_changes'`).Scan(&killed))
	require.Equal(t, 1, killed)
	movesOn(t, feed, generation+1) // +1: the disconnection itself moves it on
	v, err := cache.Get(ctx, "k", c.load)
	require.NoError(t, err)
	assert.Equal(t, 2, v)
}

func TestCacheKeepsNoErrors(t *testing.T) {
	ctx, _, _, cache, _ := listeningCache(t)
	loads := 0
	failing := func(context.Context) (int, error) { loads++; return 0, context.DeadlineExceeded }
	for range 2 {
		_, err := cache.Get(ctx, "missing", failing)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	assert.Equal(t, 2, loads)
}
