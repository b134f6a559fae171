package onvif

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestServiceCache(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	c := newServiceCache(time.Minute, 3)
	c.put("a", "https://a/sec", now)
	got, ok := c.get("a", now.Add(59*time.Second))
	assert.True(t, ok)
	assert.Equal(t, "https://a/sec", got)
	_, ok = c.get("a", now.Add(time.Minute))
	assert.False(t, ok, "expired")
	assert.Equal(t, 0, c.len(), "an expired entry read is dropped")

	for i := range 10 {
		c.put(fmt.Sprint(i), "x", now.Add(time.Duration(i)*time.Second))
		assert.LessOrEqual(t, c.len(), 3, "bounded")
	}
	for _, k := range []string{"7", "8", "9"} {
		_, ok := c.get(k, now.Add(10*time.Second))
		assert.True(t, ok, "the newest stay: %s", k)
	}
	c.drop("8")
	_, ok = c.get("8", now.Add(10*time.Second))
	assert.False(t, ok)

	off := newServiceCache(0, 3)
	off.put("a", "x", now)
	_, ok = off.get("a", now)
	assert.False(t, ok, "ttl 0 remembers nothing")
}
