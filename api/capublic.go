package api

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/certfleet/certfleet/errkind"
)

// CAIssuerSource finds a CA's certificate chain, itself first, by the name
// in the CA Issuers URL of the certificates it signs.
type CAIssuerSource interface {
	CAChainByName(name string) ([]*x509.Certificate, bool)
}

// caIssuers serves GET /ca/<name>.crt (the CA certificate, DER, as RFC 5280
// §4.2.2.1 asks of a CA Issuers URL) and /ca/<name>.pem (the chain up to
// the root, PEM), unauthenticated: relying parties fetch them to build paths.
func caIssuers(source CAIssuerSource) gin.HandlerFunc {
	return func(c *gin.Context) {
		file := c.Param("file")
		name, ext, _ := strings.Cut(file, ".")
		var chain []*x509.Certificate
		found := source != nil
		if found {
			chain, found = source.CAChainByName(name)
		}
		switch {
		case !found:
			fail(c, errkind.NotFound("no such CA certificate"))
		case ext == "crt":
			c.Header("Cache-Control", "public, max-age=3600")
			c.Data(http.StatusOK, "application/pkix-cert", chain[0].Raw)
		case ext == "pem":
			c.Header("Cache-Control", "public, max-age=3600")
			c.Data(http.StatusOK, "application/pem-certificate-chain", pemChain(chain))
		default:
			fail(c, errkind.NotFound("no such CA certificate: want <name>.crt or <name>.pem"))
		}
	}
}

func pemChain(chain []*x509.Certificate) []byte {
	var out []byte
	for _, cert := range chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})...)
	}
	return out
}

// ocsp hands OCSP requests to the responder, unauthenticated: relying
// parties ask the URL in every certificate's AIA.
func ocsp(responder http.Handler) gin.HandlerFunc {
	return func(c *gin.Context) {
		if responder == nil {
			fail(c, errkind.NotFound("no OCSP responder here"))
			return
		}
		responder.ServeHTTP(c.Writer, c.Request)
	}
}
