package api

import (
	"context"
	"crypto/x509"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/pki"
)

// CAs are the built-in CAs: listed, and issuing CAs added under an outside
// root in two steps (a CSR, then the certificate the root signed).
type CAs interface {
	List(ctx context.Context) ([]ca.Info, error)
	RequestIssuingCA(ctx context.Context, req ca.IssuingCARequest, createdBy string, audit func(*store.Queries) error) (ca.Info, error)
	CompleteIssuingCA(ctx context.Context, name string, cert *x509.Certificate, chain []*x509.Certificate, audit func(*store.Queries) error) (ca.Info, error)
	PendingCSR(ctx context.Context, name string) ([]byte, error)
	Renew(ctx context.Context, name string, overlap time.Duration, audit func(*store.Queries) error) (ca.Info, error)
	// IssueStationCertificate issues a provisioning station's TLS client
	// certificate for the key of csr: the chain, the station's first.
	IssueStationCertificate(ctx context.Context, csr *x509.CertificateRequest, name string) ([]*x509.Certificate, error)
}

// defaultCAOverlap is how long a renewed CA is published before it issues,
// unless the request says.
const defaultCAOverlap = 7 * 24 * time.Hour

func (s *server) caRoutes(v1 *gin.RouterGroup, admin gin.HandlerFunc) {
	v1.GET("/cas", s.listCAs)
	v1.POST("/cas", admin, s.requestIssuingCA)
	v1.GET("/cas/:name/csr", s.pendingCSR)
	v1.POST("/cas/:name/certificate", admin, s.completeIssuingCA)
	v1.POST("/cas/:name/renew", admin, s.renewCA)
}

// renewCA makes a CA's next issuing CA, published at once and issuing once
// the overlap ({"overlap": "168h"}, a week unless given) has passed.
func (s *server) renewCA(c *gin.Context) {
	var body struct {
		Overlap string `json:"overlap"`
	}
	if !s.haveCAs(c) || !decode(c, &body) {
		return
	}
	overlap := defaultCAOverlap
	if body.Overlap != "" {
		var err error
		if overlap, err = time.ParseDuration(body.Overlap); err != nil {
			fail(c, errkind.Invalid("overlap", "a duration such as 168h"))
			return
		}
	}
	name, actor := c.Param("name"), principal(c).Actor()
	info, err := s.cas.Renew(c.Request.Context(), name, overlap, func(q *store.Queries) error {
		return record(c.Request.Context(), q, actor, "ca.renew", "ca", []string{name}, gin.H{"overlap": overlap.String()})
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, info)
}

// listCAs lists the built-in CAs with their chains, addresses, profiles and
// labels, and those awaiting an outside root's signature.
func (s *server) listCAs(c *gin.Context) {
	if s.cas == nil {
		c.JSON(http.StatusOK, gin.H{"items": []ca.Info{}})
		return
	}
	infos, err := s.cas.List(c.Request.Context())
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": infos})
}

// requestIssuingCA makes the key of a new issuing CA, sealed, and answers
// its CSR for the outside root to sign.
func (s *server) requestIssuingCA(c *gin.Context) {
	var body ca.IssuingCARequest
	if !s.haveCAs(c) || !decode(c, &body) {
		return
	}
	actor := principal(c).Actor()
	info, err := s.cas.RequestIssuingCA(c.Request.Context(), body, actor, func(q *store.Queries) error {
		return record(c.Request.Context(), q, actor, "ca.request", "ca", []string{body.Name}, gin.H{"common_name": body.CommonName, "key": body.Key})
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, info)
}

// pendingCSR answers the CSR of a CA awaiting its certificate, PEM, for
// `curl -o`.
func (s *server) pendingCSR(c *gin.Context) {
	if !s.haveCAs(c) {
		return
	}
	csr, err := s.cas.PendingCSR(c.Request.Context(), c.Param("name"))
	if err != nil {
		fail(c, err)
		return
	}
	c.Data(http.StatusOK, "application/pkcs10", csr)
}

// completeIssuingCA accepts the certificate the outside root signed, with
// the chain above it up to that root, and puts the CA to work.
func (s *server) completeIssuingCA(c *gin.Context) {
	var body struct {
		Certificate string `json:"certificate"`
		Chain       string `json:"chain"`
	}
	if !s.haveCAs(c) || !decode(c, &body) {
		return
	}
	certs, err := pki.ParseCertificatesPEM([]byte(body.Certificate))
	switch {
	case err != nil:
		fail(c, errkind.Invalid("certificate", "%v", err))
		return
	case len(certs) != 1:
		fail(c, errkind.Invalid("certificate", "one certificate, the issuing CA's; the rest goes in chain"))
		return
	}
	chain, err := pki.ParseCertificatesPEM([]byte(body.Chain))
	if err != nil {
		fail(c, errkind.Invalid("chain", "%v", err))
		return
	}
	name, actor := c.Param("name"), principal(c).Actor()
	info, err := s.cas.CompleteIssuingCA(c.Request.Context(), name, certs[0], pki.OrderChain(chain), func(q *store.Queries) error {
		return record(c.Request.Context(), q, actor, "ca.activate", "ca", []string{name}, gin.H{"subject": certs[0].Subject.String(), "root": chain[len(chain)-1].Subject.String()})
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, info)
}

func (s *server) haveCAs(c *gin.Context) bool {
	if s.cas == nil {
		fail(c, errkind.NotFound("this process has no built-in CA"))
		return false
	}
	return true
}
