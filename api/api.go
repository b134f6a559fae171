// Package api is certfleet's operations API: JSON over HTTP, served by gin.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// HealthCheck reports whether one dependency answers; nil means it does.
type HealthCheck func(ctx context.Context) error

// Deps is what the API needs from the rest of the process.
type Deps struct {
	Logger *slog.Logger
	// Checks maps a dependency's name ("postgres", "temporal") to its check; /readyz
	// runs them all.
	Checks map[string]HealthCheck
	// CRLs serves the built-in CA's revocation lists.
	CRLs CRLSource
}

// readyTimeout bounds /readyz so that a hung dependency makes the probe fail
// rather than hang.
const readyTimeout = 2 * time.Second

// New returns the API's HTTP handler.
func New(deps Deps) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(requestLogger(deps.Logger), recoverJSON(deps.Logger))
	r.NoRoute(func(c *gin.Context) { abort(c, http.StatusNotFound, "not_found", "no such route", nil) })
	r.NoMethod(func(c *gin.Context) {
		abort(c, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route", nil)
	})

	h := health{checks: deps.Checks, logger: deps.Logger}
	r.GET("/healthz", h.live)
	r.GET("/readyz", h.ready)
	r.GET("/crl/:file", crl(deps.CRLs))
	return r
}
