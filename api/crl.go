package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// CRLSource finds a CA's current DER CRL by the name in its URL.
type CRLSource interface {
	CRLByName(ctx context.Context, name string) (der []byte, found bool, err error)
}

// crl serves GET /crl/<issuer>.crl, unauthenticated: relying parties and
// devices fetch it from the distribution point in every certificate.
func crl(source CRLSource) gin.HandlerFunc {
	return func(c *gin.Context) {
		name, ok := strings.CutSuffix(c.Param("file"), ".crl")
		if !ok || source == nil {
			abort(c, http.StatusNotFound, "not_found", "no such CRL", nil)
			return
		}
		der, found, err := source.CRLByName(c.Request.Context(), name)
		switch {
		case err != nil:
			_ = c.Error(err)
			abort(c, http.StatusServiceUnavailable, "unavailable", "the CRL cannot be produced right now", nil)
		case !found:
			abort(c, http.StatusNotFound, "not_found", "no such CRL", nil)
		default:
			c.Header("Cache-Control", "public, max-age=300")
			c.Data(http.StatusOK, "application/pkix-crl", der)
		}
	}
}
