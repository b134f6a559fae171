package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/certfleet/certfleet/errkind"
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
			fail(c, errkind.NotFound("no such CRL"))
			return
		}
		der, found, err := source.CRLByName(c.Request.Context(), name)
		switch {
		case err != nil:
			fail(c, errkind.Unavailable(err, "the CRL cannot be produced right now"))
		case !found:
			fail(c, errkind.NotFound("no such CRL"))
		default:
			c.Header("Cache-Control", "public, max-age=300")
			c.Data(http.StatusOK, "application/pkix-crl", der)
		}
	}
}
