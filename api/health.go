package api

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"sync"

	"github.com/gin-gonic/gin"
)

type health struct {
	checks map[string]HealthCheck
	logger *slog.Logger
}

// live answers as long as the process serves HTTP.
func (h health) live(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// ready answers 200 only when every dependency answers. Failures are logged with
// their cause but reported only as "unavailable": error texts can carry
// addresses and user names that a probe endpoint must not reveal.
func (h health) ready(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), readyTimeout)
	defer cancel()

	names := make([]string, 0, len(h.checks))
	for name := range h.checks {
		names = append(names, name)
	}
	sort.Strings(names)
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { errs[i] = h.checks[name](ctx) })
	}
	wg.Wait()

	status, results := http.StatusOK, gin.H{}
	for i, name := range names {
		results[name] = "ok"
		if errs[i] != nil {
			status, results[name] = http.StatusServiceUnavailable, "unavailable"
			h.logger.Warn("readiness check failed", "dependency", name, "error", errs[i])
		}
	}
	word := "ready"
	if status != http.StatusOK {
		word = "not ready"
	}
	c.JSON(status, gin.H{"status": word, "checks": results})
}
