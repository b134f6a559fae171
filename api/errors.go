package api

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/certfleet/certfleet/metrics"
	"github.com/certfleet/certfleet/tracing"
)

// errorBody is the one shape of every error the API returns.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

// abort ends the request with an error in the API's error shape.
func abort(c *gin.Context, status int, code, message string, details any) {
	c.AbortWithStatusJSON(status, errorBody{errorDetail{Code: code, Message: message, Details: details}})
}

// recoverJSON turns a panic into a 500 in the error shape. The panic value and
// stack go to the log only: they may hold SQL, paths or data.
func recoverJSON(logger *slog.Logger) gin.HandlerFunc {
	return gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, recovered any) {
		logger.Error("panic serving request", "method", c.Request.Method, "path", c.FullPath(), "panic", recovered,
			"stack", string(debug.Stack()))
		abort(c, http.StatusInternalServerError, "internal", "internal error", nil)
	})
}

// observe logs every request, one line each, counts and times it by route
// (see metrics) and names its span (see tracing); requests no route matches, the console's pages among
// them, share the route "unmatched".
func observe(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		metrics.Request("api", route, c.Request.Method, c.Writer.Status(), time.Since(start))
		tracing.Rename(c.Request.Context(), c.Request.Method, route)
		if len(c.Errors) > 0 {
			logger.Warn("request failed", "route", c.FullPath(), "error", c.Errors.String())
		}
		level := slog.LevelInfo
		if c.FullPath() == "/healthz" || c.FullPath() == "/readyz" {
			level = slog.LevelDebug // probes run every few seconds
		}
		logger.Log(c.Request.Context(), level, "http request",
			"method", c.Request.Method, "route", c.FullPath(), "status", c.Writer.Status(),
			"duration_ms", time.Since(start).Milliseconds())
	}
}
