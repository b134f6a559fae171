// Package changefeed lets a process cache rows it reads on every request
// (labels, profiles, trust anchors) and drop them as soon as they change in
// Postgres, whichever process changed them. Triggers on those tables notify
// the certfleet_changes channel at commit (migration 00026); a Feed listens
// on a connection of its own and moves its generation on at each
// notification. A Cache serves an entry only while the generation it was
// loaded under is current and the Feed is listening: before the first
// LISTEN, and while the connection is down, every read goes to Postgres.
//
// What is cached may be stale for the time a notification takes to arrive
// after its commit, a millisecond or so on one network, never longer.
package changefeed

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// channel is the one the migration's triggers notify.
const channel = "certfleet_changes"

// Feed follows changes to the cached tables.
type Feed struct {
	config *pgx.ConnConfig
	logger *slog.Logger
	// generation moves on at every change, and at every (re)connection,
	// since changes may have been missed meanwhile.
	generation atomic.Uint64
	listening  atomic.Bool
}

// New is a feed on pool's database; Run makes it listen.
func New(pool *pgxpool.Pool, logger *slog.Logger) *Feed {
	return &Feed{config: pool.Config().ConnConfig.Copy(), logger: logger}
}

// Run listens until ctx ends, reconnecting after a lost connection.
func (f *Feed) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := f.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		f.logger.Warn("change feed lost its connection; caches are bypassed until it is back", "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listen follows notifications on one connection until it fails.
func (f *Feed) listen(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, f.config)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return err
	}
	f.generation.Add(1)
	f.listening.Store(true)
	defer func() {
		f.listening.Store(false)
		f.generation.Add(1)
	}()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		f.generation.Add(1)
	}
}

// Generation is the feed's current generation, and whether it is
// listening; while it is not, nothing may be served from a cache.
func (f *Feed) Generation() (uint64, bool) {
	if f == nil || !f.listening.Load() {
		return 0, false
	}
	return f.generation.Load(), true
}

// Cache holds values loaded from the cached tables, each valid while the
// feed's generation has not moved. A nil Cache, or one without a feed,
// loads every time.
type Cache[K comparable, V any] struct {
	feed       *Feed
	mu         sync.Mutex
	generation uint64
	entries    map[K]V
}

// NewCache is a cache kept current by feed.
func NewCache[K comparable, V any](feed *Feed) *Cache[K, V] {
	return &Cache[K, V]{feed: feed}
}

// Get is key's value, from the cache or else from load. Only values that
// loaded without error are kept, so the cache holds only what exists.
func (c *Cache[K, V]) Get(ctx context.Context, key K, load func(context.Context) (V, error)) (V, error) {
	var generation uint64
	live := false
	if c != nil {
		generation, live = c.feed.Generation()
	}
	if !live {
		return load(ctx)
	}
	if v, ok := c.lookup(key, generation); ok {
		return v, nil
	}
	// The generation was read before loading: a change committed while
	// loading moves it on, so the value is dropped at the next Get.
	v, err := load(ctx)
	if err == nil {
		c.keep(key, generation, v)
	}
	return v, err
}

func (c *Cache[K, V]) lookup(key K, generation uint64) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.entries[key]
	return v, ok && c.generation == generation
}

func (c *Cache[K, V]) keep(key K, generation uint64, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case generation < c.generation:
		return // loaded under a generation that has moved on already
	case generation > c.generation || c.entries == nil:
		c.generation, c.entries = generation, map[K]V{}
	}
	c.entries[key] = v
}
