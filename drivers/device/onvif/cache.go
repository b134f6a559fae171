package onvif

import (
	"sync"
	"time"
)

// Defaults of the Advanced Security address cache (WithServiceCache).
const (
	defaultServiceTTL = 5 * time.Minute
	defaultServiceMax = 4096
)

// serviceCache remembers, per device and device address, the Advanced
// Security XAddr that GetServices named, for ttl, and at most max of them:
// each operation then does not ask GetServices again. A zero cache (ttl 0)
// remembers nothing.
type serviceCache struct {
	ttl time.Duration
	max int

	mu      sync.Mutex
	entries map[string]serviceEntry
}

type serviceEntry struct {
	xaddr string
	until time.Time
}

func newServiceCache(ttl time.Duration, max int) *serviceCache {
	return &serviceCache{ttl: ttl, max: max, entries: map[string]serviceEntry{}}
}

func (c *serviceCache) get(key string, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.until) {
		delete(c.entries, key)
		return "", false
	}
	return e.xaddr, true
}

// put remembers xaddr for key. When full, expired entries go first, then
// the one closest to expiry.
func (c *serviceCache) put(key, xaddr string, now time.Time) {
	if c.ttl <= 0 || c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		c.evict(now)
	}
	c.entries[key] = serviceEntry{xaddr: xaddr, until: now.Add(c.ttl)}
}

func (c *serviceCache) evict(now time.Time) {
	oldest := ""
	for k, e := range c.entries {
		if !now.Before(e.until) {
			delete(c.entries, k)
			continue
		}
		if oldest == "" || e.until.Before(c.entries[oldest].until) {
			oldest = k
		}
	}
	if len(c.entries) >= c.max && oldest != "" {
		delete(c.entries, oldest)
	}
}

func (c *serviceCache) drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
}

func (c *serviceCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
