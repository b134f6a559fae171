package api

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
)

// TestPanicBecomesOpaque500: the client gets the error shape, the log gets the
// cause, and nothing internal leaks into the response.
func TestPanicBecomesOpaque500(t *testing.T) {
	var logs bytes.Buffer
	r := gin.New()
	r.Use(recoverJSON(slog.New(slog.NewTextHandler(&logs, nil))))
	r.GET("/boom", func(*gin.Context) { panic("pq: relation \"secret_table\" at /srv/certfleet/db.go:42") })

	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/boom", nil))

	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.JSONEq(t, `{"error":{"code":"internal","message":"internal error"}}`, rec.Body.String())
	assert.Contains(t, logs.String(), "secret_table", "the cause is logged for operators")
}
