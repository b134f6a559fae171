// Package api is certfleet's operations API: JSON over HTTP, served by gin.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/credentials"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/inventory"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/pki/trust"
	"github.com/certfleet/certfleet/renewal"
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
	// OCSP answers OCSP requests at /ocsp (POST) and /ocsp/<request> (GET).
	OCSP http.Handler
	// CAIssuers serves the CA certificates named in certificates' AIA.
	CAIssuers CAIssuerSource
	// CAs lists the built-in CAs and adds issuing CAs under outside roots.
	CAs CAs
	// Pool is the inventory; without it only health and CRLs are served.
	Pool *pgxpool.Pool
	// Jobs creates, halts and reads certificate jobs.
	Jobs *jobs.Service
	// Approver decides the built-in CA's pending requests.
	Approver Approver
	// Trust manages trust anchors and offline revocations.
	Trust *trust.Store
	// Revoker revokes certificates of the built-in CA.
	Revoker Revoker
	// Renewals manages renewal policies and their schedules.
	Renewals *renewal.Service
	// Credentials seals the secrets devices and CAs are reached with.
	Credentials *credentials.Store
	// Drivers lists the drivers and checks their settings.
	Drivers Drivers
	// Inventory reads what devices hold.
	Inventory *inventory.Service
	// Console, when set, serves the web console at every GET outside /api/.
	Console http.Handler
	// WorkflowLinks is the Temporal UI's page of a namespace's workflows
	// (".../namespaces/default/workflows"), where the console links runs.
	WorkflowLinks string
	// GrafanaURL is certfleet's Grafana dashboard, which the console's
	// dashboard links to when set.
	GrafanaURL string
}

// server holds what the /api/v1 handlers need.
type server struct {
	pool        *pgxpool.Pool
	jobs        *jobs.Service
	approver    Approver
	trust       *trust.Store
	revoker     Revoker
	renewals    *renewal.Service
	inventory   *inventory.Service
	credentials *credentials.Store
	drivers     Drivers
	// workflowLinks and grafanaURL are Deps', told to the console.
	workflowLinks, grafanaURL string
	// caIssuers completes downloaded certificates with their chains.
	caIssuers CAIssuerSource
	cas       CAs
	logger    *slog.Logger
}

// readyTimeout bounds /readyz so that a hung dependency makes the probe fail
// rather than hang.
const readyTimeout = 2 * time.Second

// New returns the API's HTTP handler.
func New(deps Deps) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(observe(deps.Logger), recoverJSON(deps.Logger), checkInput)
	r.NoRoute(func(c *gin.Context) {
		if deps.Console != nil && (c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead) && !strings.HasPrefix(c.Request.URL.Path, "/api/") {
			deps.Console.ServeHTTP(c.Writer, c.Request)
			return
		}
		fail(c, errkind.NotFound("no such route"))
	})
	r.NoMethod(func(c *gin.Context) {
		abort(c, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route", nil)
	})

	h := health{checks: deps.Checks, logger: deps.Logger}
	r.GET("/healthz", h.live)
	r.GET("/readyz", h.ready)
	r.GET("/crl/:file", crl(deps.CRLs))
	r.GET("/ca/:file", caIssuers(deps.CAIssuers))
	r.POST("/ocsp", ocsp(deps.OCSP))
	r.GET("/ocsp/*request", ocsp(deps.OCSP))
	r.GET("/api/v1/openapi.json", serveOpenAPI)
	if deps.Pool != nil {
		s := &server{pool: deps.Pool, jobs: deps.Jobs, approver: deps.Approver, trust: deps.Trust, revoker: deps.Revoker, renewals: deps.Renewals, credentials: deps.Credentials, drivers: deps.Drivers, inventory: deps.Inventory, workflowLinks: deps.WorkflowLinks, grafanaURL: deps.GrafanaURL, caIssuers: deps.CAIssuers, cas: deps.CAs, logger: deps.Logger}
		r.POST("/api/v1/session", s.startSession)
		s.routes(r.Group("/api/v1", s.authenticate))
	}
	return r
}

// routes registers the operations API. Reading needs any role; each change
// names the role it needs.
func (s *server) routes(v1 *gin.RouterGroup) {
	admin, operator := require(auth.Admin), require(auth.Operator)

	v1.GET("/profiles", s.listProfiles)
	v1.POST("/profiles", admin, s.createProfile)
	v1.GET("/profiles/:id", s.getProfile)
	v1.PUT("/profiles/:id", admin, s.updateProfile)
	v1.POST("/profiles/:id/archive", admin, s.archiveProfile(true))
	v1.POST("/profiles/:id/unarchive", admin, s.archiveProfile(false))

	v1.GET("/devices", s.listDevices)
	v1.POST("/devices", operator, s.createDevice)
	v1.POST("/devices/import", operator, s.importDevices)
	v1.GET("/devices/:id", s.getDevice)
	v1.GET("/devices/:id/jobs", s.deviceJobs)
	v1.PUT("/devices/:id", operator, s.updateDevice)
	v1.POST("/devices/:id/disable", operator, s.setDeviceEnabled(false))
	v1.POST("/devices/:id/enable", operator, s.setDeviceEnabled(true))
	v1.DELETE("/devices/:id/tls-pin", admin, s.clearTLSPin)
	v1.POST("/devices/:id/inventory", operator, s.discoverDevice)
	s.credentialRoutes(v1, admin)
	s.caRoutes(v1, admin)
	s.deviceTypeRoutes(v1, admin)
	s.stationRoutes(v1, admin)
	s.webhookRoutes(v1, admin)

	v1.POST("/profile-assignments", operator, s.assignProfile)

	v1.GET("/jobs", s.listJobs)
	v1.GET("/jobs.csv", s.exportJobs)
	v1.POST("/jobs", operator, s.createJob)
	v1.GET("/jobs/:id", s.getJob)
	v1.GET("/jobs/:id/items", s.listJobItems)
	v1.POST("/jobs/:id/halt", operator, s.haltJob)
	v1.POST("/jobs/:id/retry", operator, s.retryJob)

	v1.GET("/certificates", s.listCertificates)
	v1.GET("/certificates.csv", s.exportCertificates)
	v1.GET("/certificates/missing", s.devicesWithoutCertificate)
	v1.GET("/certificates/timeline", s.expiryTimeline)
	v1.GET("/summary", s.summary)
	v1.GET("/certificates/:id", s.getCertificate)
	v1.GET("/certificates/:id/pem", s.certificatePEM)
	v1.POST("/certificates/:id/revoke", admin, s.revokeCertificate)

	v1.GET("/ca-requests", s.listCARequests)
	v1.POST("/ca-requests/:id/approve", operator, s.decideCARequest(true))
	v1.POST("/ca-requests/:id/reject", operator, s.decideCARequest(false))

	s.trustAnchorRoutes(v1, admin)

	v1.GET("/est-labels", s.listESTLabels)
	v1.POST("/est-labels", admin, s.saveESTLabel)
	v1.GET("/est-labels/:label", s.getESTLabel)
	v1.PUT("/est-labels/:label", admin, s.saveESTLabel)
	v1.DELETE("/est-labels/:label", admin, s.deleteESTLabel)
	v1.POST("/est-labels/:label/default", admin, s.makeDefaultESTLabel)
	v1.PUT("/devices/:id/enrollment-password", operator, s.setEnrollmentPassword)
	v1.POST("/scep/challenges", operator, s.createSCEPChallenge)

	s.renewalRoutes(v1, admin, operator)

	s.tokenRoutes(v1, admin)

	v1.GET("/audit", s.listAudit)

	v1.GET("/session", s.getSession)
	v1.DELETE("/session", s.endSession)
}
