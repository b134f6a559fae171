package api

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/stations"
)

// Provisioning stations enroll many devices over EST under one credential
// of their own (see stations/). Admins create them, edit their scope, give
// them a new secret or a TLS client certificate, and disable them; anyone
// may read them and what they enrolled. A secret is answered once, when it
// is made, and kept only as its hash.

type stationBody struct {
	Name            string     `json:"name"`
	Description     string     `json:"description"`
	Labels          []string   `json:"labels"`
	DeviceIDPattern string     `json:"device_id_pattern"`
	DeviceIDs       []string   `json:"device_ids"`
	RegisterMode    string     `json:"register_mode"`
	MaxEnrollments  *int32     `json:"max_enrollments"`
	ExpiresAt       *time.Time `json:"expires_at"`
	// Basic, on creation, says whether the station gets a secret for HTTP
	// Basic (the default) or will use only a TLS client certificate.
	Basic *bool `json:"basic,omitempty"`
}

type stationView struct {
	Name            string           `json:"name"`
	Description     string           `json:"description"`
	ClientID        string           `json:"client_id"`
	Basic           bool             `json:"basic"`
	Certificate     *stationCertView `json:"certificate"`
	Labels          []string         `json:"labels"`
	DeviceIDPattern string           `json:"device_id_pattern"`
	DeviceIDs       []string         `json:"device_ids"`
	RegisterMode    string           `json:"register_mode"`
	MaxEnrollments  *int32           `json:"max_enrollments"`
	Enrollments     int32            `json:"enrollments"`
	ExpiresAt       *time.Time       `json:"expires_at"`
	DisabledAt      *time.Time       `json:"disabled_at"`
	State           string           `json:"state"`
	CreatedAt       time.Time        `json:"created_at"`
	CreatedBy       string           `json:"created_by"`
	// Secret is answered once, when it is made.
	Secret string `json:"secret,omitempty"`
	// CertificatePEM is the chain of a certificate certfleet just issued.
	CertificatePEM string `json:"certificate_pem,omitempty"`
}

type stationCertView struct {
	SHA256   string    `json:"sha256"`
	Subject  string    `json:"subject"`
	Issuer   string    `json:"issuer"`
	NotAfter time.Time `json:"not_after"`
	// Source is "issued" (by certfleet) or "anchor" (chains to a trust anchor).
	Source string `json:"source"`
}

func (s *server) stationRoutes(v1 *gin.RouterGroup, admin gin.HandlerFunc) {
	v1.GET("/stations", s.listStations)
	v1.POST("/stations", admin, s.createStation)
	v1.GET("/stations/:name", s.getStation)
	v1.PUT("/stations/:name", admin, s.updateStation)
	v1.GET("/stations/:name/enrollments", s.stationEnrollments)
	v1.POST("/stations/:name/disable", admin, s.setStationDisabled(true))
	v1.POST("/stations/:name/enable", admin, s.setStationDisabled(false))
	v1.POST("/stations/:name/secret", admin, s.newStationSecret)
	v1.PUT("/stations/:name/certificate", admin, s.setStationCertificate)
}

func viewStation(st store.ProvisioningStation) stationView {
	v := stationView{
		Name: st.Name, Description: st.Description, ClientID: stations.ClientID(st.Name), Basic: st.SecretHash.Valid,
		Labels: st.Labels, DeviceIDPattern: st.DeviceIDPattern, DeviceIDs: st.DeviceIds, RegisterMode: st.RegisterMode,
		Enrollments: st.Enrollments, ExpiresAt: st.ExpiresAt, DisabledAt: st.DisabledAt,
		State: stations.State(st, time.Now()), CreatedAt: st.CreatedAt, CreatedBy: st.CreatedBy,
	}
	if st.MaxEnrollments.Valid {
		v.MaxEnrollments = &st.MaxEnrollments.Int32
	}
	if cert, err := x509.ParseCertificate(st.CertDer); err == nil {
		v.Certificate = &stationCertView{
			SHA256: hex.EncodeToString(st.CertSha256), Subject: cert.Subject.String(), Issuer: cert.Issuer.String(),
			NotAfter: cert.NotAfter, Source: st.CertSource.String,
		}
	}
	return v
}

func (s *server) listStations(c *gin.Context) {
	rows, err := store.New(s.pool).ListStations(c.Request.Context())
	if err != nil {
		fail(c, err)
		return
	}
	views := make([]stationView, 0, len(rows))
	for _, r := range rows {
		views = append(views, viewStation(r))
	}
	c.JSON(http.StatusOK, gin.H{"items": views})
}

func (s *server) getStation(c *gin.Context) {
	st, err := s.station(c.Request.Context(), store.New(s.pool), c.Param("name"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewStation(st))
}

func (s *server) station(ctx context.Context, q *store.Queries, name string) (store.ProvisioningStation, error) {
	st, err := q.GetStation(ctx, name)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, errkind.NotFound("no provisioning station %q", name)
	}
	return st, err
}

// createStation creates a station and answers its secret, this once.
func (s *server) createStation(c *gin.Context) {
	var body stationBody
	if !decode(c, &body) {
		return
	}
	if !stations.NamePattern.MatchString(body.Name) {
		fail(c, fieldError("name", "lowercase letters, digits, _ and -, starting with a letter or digit, at most 63"))
		return
	}
	secret, hash := "", pgtype.Text{}
	if body.Basic == nil || *body.Basic {
		var err error
		if secret, hash, err = newStationSecret(); err != nil {
			fail(c, err)
			return
		}
	}
	var row store.ProvisioningStation
	err := s.change(c, "station.create", "station", func(q *store.Queries) ([]string, any, error) {
		scope, err := s.stationScope(c.Request.Context(), q, body)
		if err != nil {
			return nil, nil, err
		}
		row, err = q.CreateStation(c.Request.Context(), store.CreateStationParams{
			Name: body.Name, Description: scope.Description, SecretHash: hash, Labels: scope.Labels,
			DeviceIDPattern: scope.DeviceIDPattern, DeviceIds: scope.DeviceIds, RegisterMode: scope.RegisterMode,
			MaxEnrollments: scope.MaxEnrollments, ExpiresAt: scope.ExpiresAt, CreatedBy: principal(c).Actor(),
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil, errkind.Conflict("provisioning station %q exists", body.Name)
		}
		body.Basic = &hash.Valid
		return []string{body.Name}, body, err
	})
	if err != nil {
		fail(c, err)
		return
	}
	v := viewStation(row)
	v.Secret = secret
	c.JSON(http.StatusCreated, v)
}

// updateStation replaces a station's scope; what it enrolled stays counted.
func (s *server) updateStation(c *gin.Context) {
	var body stationBody
	if !decode(c, &body) {
		return
	}
	name := c.Param("name")
	if body.Name != "" && body.Name != name {
		fail(c, fieldError("name", "a station cannot be renamed; create another"))
		return
	}
	if body.Basic != nil {
		fail(c, fieldError("basic", "set on creation; POST …/secret gives a station a new secret"))
		return
	}
	body.Name = name
	v, ok := s.changeStation(c, "station.update", body, func(q *store.Queries) (store.ProvisioningStation, error) {
		scope, err := s.stationScope(c.Request.Context(), q, body)
		if err != nil {
			return store.ProvisioningStation{}, err
		}
		return q.UpdateStationScope(c.Request.Context(), scope)
	})
	if ok {
		c.JSON(http.StatusOK, v)
	}
}

// changeStation runs fn, a change of the station the path names, audited as
// action with details, and makes the view of the station after it.
func (s *server) changeStation(c *gin.Context, action string, details any, fn func(q *store.Queries) (store.ProvisioningStation, error)) (stationView, bool) {
	row, ok := changeNamed(s, c, action, "station", "provisioning station", details, fn)
	return viewStation(row), ok
}

// stationScope checks a body's scope: labels that exist, a pattern that
// compiles and/or valid device IDs, a known registration mode, a positive
// limit, an expiry to come.
func (s *server) stationScope(ctx context.Context, q *store.Queries, b stationBody) (store.UpdateStationScopeParams, error) {
	p := store.UpdateStationScopeParams{
		Name: b.Name, Description: strings.TrimSpace(b.Description), Labels: b.Labels, DeviceIDPattern: b.DeviceIDPattern,
		DeviceIds: b.DeviceIDs, RegisterMode: b.RegisterMode, ExpiresAt: b.ExpiresAt,
	}
	if problem := textProblem(p.Description); problem != "" || len(p.Description) > 500 {
		return p, fieldError("description", "at most 500 characters of text")
	}
	if len(p.Labels) == 0 || len(p.Labels) > 50 {
		return p, fieldError("labels", "1 to 50 EST labels the station may enroll through")
	}
	for _, label := range p.Labels {
		if _, err := q.GetESTLabel(ctx, label); errors.Is(err, pgx.ErrNoRows) || textProblem(label) != "" {
			return p, fieldError("labels", "no EST label %q", label)
		} else if err != nil {
			return p, err
		}
	}
	if _, err := stations.CompilePattern(p.DeviceIDPattern); err != nil {
		return p, fieldError("device_id_pattern", "not a regular expression: %v", err)
	}
	if p.DeviceIds == nil {
		p.DeviceIds = []string{}
	}
	if len(p.DeviceIds) > 10000 {
		return p, fieldError("device_ids", "at most 10,000; use device_id_pattern for more")
	}
	for _, id := range p.DeviceIds {
		if !device.ValidID(id) {
			return p, fieldError("device_ids", "%q is not a device ID", id)
		}
	}
	if p.DeviceIDPattern == "" && len(p.DeviceIds) == 0 {
		return p, fieldError("device_id_pattern", "a pattern, device_ids, or both: what the station may enroll")
	}
	switch p.RegisterMode {
	case "":
		p.RegisterMode = "FACTORY"
	case "FACTORY", "NEW":
	default:
		return p, fieldError("register_mode", "FACTORY or NEW: the mode of the devices the station creates")
	}
	if b.MaxEnrollments != nil {
		if *b.MaxEnrollments <= 0 {
			return p, fieldError("max_enrollments", "a positive number, or null for no limit")
		}
		p.MaxEnrollments = pgtype.Int4{Int32: *b.MaxEnrollments, Valid: true}
	}
	if p.ExpiresAt != nil && !p.ExpiresAt.After(time.Now()) {
		return p, fieldError("expires_at", "a time to come, or null for no expiry")
	}
	return p, nil
}

// setStationDisabled disables a station, at once: its next request is
// refused, whatever it holds; or enables it again.
func (s *server) setStationDisabled(disabled bool) gin.HandlerFunc {
	action := map[bool]string{true: "station.disable", false: "station.enable"}[disabled]
	return func(c *gin.Context) {
		v, ok := s.changeStation(c, action, nil, func(q *store.Queries) (store.ProvisioningStation, error) {
			return q.SetStationDisabled(c.Request.Context(), store.SetStationDisabledParams{Name: c.Param("name"), Disabled: disabled})
		})
		if ok {
			c.JSON(http.StatusOK, v)
		}
	}
}

// newStationSecret gives a station a new secret, answered this once; the
// old one stops working.
func (s *server) newStationSecret(c *gin.Context) {
	secret, hash, err := newStationSecret()
	if err != nil {
		fail(c, err)
		return
	}
	v, ok := s.changeStation(c, "station.secret", nil, func(q *store.Queries) (store.ProvisioningStation, error) {
		return q.SetStationSecret(c.Request.Context(), store.SetStationSecretParams{Name: c.Param("name"), SecretHash: hash})
	})
	if ok {
		v.Secret = secret
		c.JSON(http.StatusOK, v)
	}
}

// newStationSecret makes a secret of 128 random bits and its argon2id hash.
func newStationSecret() (string, pgtype.Text, error) {
	secret := rand.Text()
	hash, err := auth.HashSecret(secret)
	return secret, pgtype.Text{String: hash, Valid: err == nil}, err
}

// setStationCertificate gives a station its TLS client certificate: with
// "csr", one certfleet issues for the CSR's key (answered with its chain);
// with "certificate" (and "chain"), one that chains to an enabled trust
// anchor and is fit for client authentication.
func (s *server) setStationCertificate(c *gin.Context) {
	var body struct {
		CSR         string `json:"csr"`
		Certificate string `json:"certificate"`
		Chain       string `json:"chain"`
	}
	if !decode(c, &body) {
		return
	}
	ctx, name := c.Request.Context(), c.Param("name")
	if _, err := s.station(ctx, store.New(s.pool), name); err != nil {
		fail(c, err)
		return
	}
	chain, source, err := s.stationCertificate(ctx, name, body.CSR, body.Certificate, body.Chain)
	if err != nil {
		fail(c, err)
		return
	}
	leaf, fingerprint := chain[0], pki.Fingerprint(chain[0])
	details := gin.H{"sha256": hex.EncodeToString(fingerprint), "subject": leaf.Subject.String(), "source": source}
	v, ok := s.changeStation(c, "station.certificate", details, func(q *store.Queries) (store.ProvisioningStation, error) {
		if other, err := q.GetStationByCertificate(ctx, fingerprint); err == nil && other.Name != name {
			return other, errkind.Conflict("this certificate is station %q's", other.Name)
		}
		return q.SetStationCertificate(ctx, store.SetStationCertificateParams{
			Name: name, CertSha256: fingerprint, CertDer: leaf.Raw, CertSource: pgtype.Text{String: source, Valid: true},
		})
	})
	if !ok {
		return
	}
	if source == "issued" {
		v.CertificatePEM = string(pki.EncodeCertificatesPEM(chain...))
	}
	c.JSON(http.StatusOK, v)
}

// stationCertificate is the chain of the certificate a request gives a
// station, leaf first, and where it comes from.
func (s *server) stationCertificate(ctx context.Context, name, csrPEM, certPEM, chainPEM string) ([]*x509.Certificate, string, error) {
	switch {
	case (csrPEM == "") == (certPEM == ""):
		return nil, "", fieldError("csr", "either csr (certfleet issues the certificate) or certificate (one chaining to a trust anchor)")
	case csrPEM != "":
		csr, err := pki.ParseCSR([]byte(csrPEM))
		if err != nil {
			return nil, "", fieldError("csr", "%v", err)
		}
		if s.cas == nil {
			return nil, "", errkind.NotFound("this process has no built-in CA")
		}
		chain, err := s.cas.IssueStationCertificate(ctx, csr, name)
		return chain, "issued", err
	}
	certs, err := pki.ParseCertificatesPEM([]byte(certPEM))
	if err != nil || len(certs) != 1 {
		return nil, "", fieldError("certificate", "one PEM certificate, the station's; intermediates go in chain")
	}
	intermediates, err := pki.ParseCertificatesPEM([]byte(chainPEM))
	if chainPEM != "" && err != nil {
		return nil, "", fieldError("chain", "%v", err)
	}
	if _, err := s.trust.Verify(ctx, certs[0], intermediates, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, "", fieldError("certificate", "does not chain to an enabled trust anchor for client authentication: %v", err)
	}
	return certs, "anchor", nil
}

// stationEnrollments lists what a station enrolled, newest first, a page
// at a time (?before=<created_at of the last row>).
func (s *server) stationEnrollments(c *gin.Context) {
	ctx, q := c.Request.Context(), store.New(s.pool)
	if _, err := s.station(ctx, q, c.Param("name")); err != nil {
		fail(c, err)
		return
	}
	var before *time.Time
	if raw := c.Query("before"); raw != "" {
		at, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			fail(c, fieldError("before", "an RFC 3339 time, the created_at of the last row of the page before"))
			return
		}
		before = &at
	}
	rows, err := q.StationEnrollments(ctx, store.StationEnrollmentsParams{Station: c.Param("name"), Before: before, MaxRows: 100})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": rows})
}
