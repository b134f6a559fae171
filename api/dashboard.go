package api

import (
	"crypto/x509"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/certfleet/certfleet/db/store"
)

// caWarning is how long before a built-in CA certificate expires the
// dashboard starts to name it: renewing a CA takes planning (#19).
const caWarning = 2 * 365 * 24 * time.Hour

// maxAttention bounds each list of the dashboard's attention block; each
// links to its full, paginated view.
const maxAttention = 10

type caCertificateView struct {
	CA       string    `json:"ca"`
	Role     string    `json:"role"`
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"not_after"`
}

// summary is the console's dashboard in one call: the fleet's headline
// counts, and what needs a person (pending CA requests, recently failed job
// items, built-in CA certificates nearing their end). Lists stay in their
// own paginated routes; this returns only counts and the first few.
func (s *server) summary(c *gin.Context) {
	ctx, q := c.Request.Context(), store.New(s.pool)
	counts, err := q.FleetSummary(ctx)
	if err != nil {
		fail(c, err)
		return
	}
	failed, err := q.RecentFailedItems(ctx, maxAttention)
	if err != nil {
		fail(c, err)
		return
	}
	cas, err := q.ListLocalCACertificates(ctx)
	if err != nil {
		fail(c, err)
		return
	}
	expiring := []caCertificateView{}
	for _, ca := range cas {
		for _, held := range []struct {
			role string
			der  []byte
		}{{"root", ca.RootDer}, {"issuing", ca.IssuingDer}} {
			cert, err := x509.ParseCertificate(held.der)
			if err != nil || time.Until(cert.NotAfter) > caWarning {
				continue
			}
			expiring = append(expiring, caCertificateView{CA: ca.Name, Role: held.role, Subject: cert.Subject.String(), NotAfter: cert.NotAfter})
		}
	}
	c.JSON(http.StatusOK, gin.H{"counts": counts, "failed_items": failed, "expiring_ca_certificates": expiring})
}
