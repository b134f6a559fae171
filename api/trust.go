package api

import (
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/pki/trust"
)

// trustAnchorView shows an anchor without its verification code hash.
type trustAnchorView struct {
	ID           int64      `json:"id"`
	Name         string     `json:"name"`
	Subject      string     `json:"subject"`
	SHA256       string     `json:"sha256"`
	NotAfter     time.Time  `json:"not_after"`
	Enabled      bool       `json:"enabled"`
	Verified     bool       `json:"verified"`
	VerifiedAt   *time.Time `json:"verified_at"`
	AutoRegister bool       `json:"auto_register"`
	NameMapping  string     `json:"name_mapping"`
	CreatedAt    time.Time  `json:"created_at"`
	// LegacyUnproven marks an anchor uploaded before proofs were enforced;
	// ConfirmedBy is the admin who vouched for it instead of a proof.
	LegacyUnproven bool   `json:"legacy_unproven"`
	ConfirmedBy    string `json:"confirmed_by,omitempty"`
}

func viewAnchor(a store.TrustAnchor) trustAnchorView {
	return trustAnchorView{ID: a.ID, Name: a.Name, Subject: a.Subject, SHA256: hex.EncodeToString(a.Sha256), NotAfter: a.NotAfter,
		Enabled: a.Enabled, Verified: a.VerifiedAt != nil, VerifiedAt: a.VerifiedAt, AutoRegister: a.AutoRegister,
		NameMapping: a.NameMapping, CreatedAt: a.CreatedAt, LegacyUnproven: a.LegacyUnproven, ConfirmedBy: a.ConfirmedBy.String}
}

// trustFail maps trust store errors to statuses.
func trustFail(c *gin.Context, err error) {
	switch {
	case errors.Is(err, trust.ErrNotFound):
		abort(c, http.StatusNotFound, "not_found", "no such trust anchor", nil)
	case errors.Is(err, trust.ErrDuplicate), errors.Is(err, trust.ErrUnproven), errors.Is(err, trust.ErrNotLegacy):
		abort(c, http.StatusConflict, "conflict", err.Error(), nil)
	case errors.Is(err, trust.ErrInvalid), errors.Is(err, trust.ErrProof), errors.Is(err, trust.ErrNoChallenge):
		abort(c, http.StatusBadRequest, "invalid", err.Error(), nil)
	default:
		fail(c, err)
	}
}

func (s *server) listTrustAnchors(c *gin.Context) {
	rows, err := store.New(s.pool).ListTrustAnchors(c.Request.Context())
	if err != nil {
		fail(c, err)
		return
	}
	views := make([]trustAnchorView, len(rows))
	for i, r := range rows {
		views[i] = viewAnchor(r)
	}
	c.JSON(http.StatusOK, gin.H{"items": views})
}

// addTrustAnchors uploads a CA certificate or a chain in PEM.
func (s *server) addTrustAnchors(c *gin.Context) {
	var body struct {
		Name         string `json:"name"`
		PEM          string `json:"pem"`
		AutoRegister bool   `json:"auto_register"`
		NameMapping  string `json:"name_mapping"`
	}
	if !decode(c, &body) {
		return
	}
	if l := len(body.Name); l == 0 || l > 180 {
		fail(c, fieldError("name", "1 to 180 characters"))
		return
	}
	rows, err := s.trust.Add(c.Request.Context(), trust.Upload{Name: body.Name, PEM: []byte(body.PEM), AutoRegister: body.AutoRegister, NameMapping: body.NameMapping})
	if err != nil {
		trustFail(c, err)
		return
	}
	ids, views := make([]string, len(rows)), make([]trustAnchorView, len(rows))
	for i, r := range rows {
		ids[i], views[i] = strconv.FormatInt(r.ID, 10), viewAnchor(r)
	}
	if err := record(c.Request.Context(), store.New(s.pool), principal(c).Actor(), "trust_anchor.create", "trust_anchor", ids, nil); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"items": views})
}

// anchorAction runs fn on the anchor in the path and records action.
func (s *server) anchorAction(action string, status int, fn func(c *gin.Context, id int64) (any, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		out, err := fn(c, id)
		if err != nil {
			trustFail(c, err)
			return
		}
		if c.IsAborted() {
			return
		}
		if err := record(c.Request.Context(), store.New(s.pool), principal(c).Actor(), action, "trust_anchor", []string{strconv.FormatInt(id, 10)}, nil); err != nil {
			fail(c, err)
			return
		}
		c.JSON(status, out)
	}
}

func (s *server) trustAnchorRoutes(g *gin.RouterGroup, admin gin.HandlerFunc) {
	g.GET("/trust-anchors", s.listTrustAnchors)
	g.POST("/trust-anchors", admin, s.addTrustAnchors)
	g.POST("/trust-anchors/:id/enable", admin, s.anchorAction("trust_anchor.enable", http.StatusOK, func(c *gin.Context, id int64) (any, error) {
		return gin.H{"id": id, "enabled": true}, s.trust.SetEnabled(c.Request.Context(), id, true)
	}))
	g.POST("/trust-anchors/:id/disable", admin, s.anchorAction("trust_anchor.disable", http.StatusOK, func(c *gin.Context, id int64) (any, error) {
		return gin.H{"id": id, "enabled": false}, s.trust.SetEnabled(c.Request.Context(), id, false)
	}))
	g.POST("/trust-anchors/:id/confirm", admin, s.anchorAction("trust_anchor.confirm", http.StatusOK, func(c *gin.Context, id int64) (any, error) {
		return gin.H{"id": id, "enabled": true}, s.trust.Confirm(c.Request.Context(), id, principal(c).Actor())
	}))
	g.DELETE("/trust-anchors/:id", admin, s.anchorAction("trust_anchor.delete", http.StatusOK, func(c *gin.Context, id int64) (any, error) {
		return gin.H{"id": id, "deleted": true}, s.trust.Delete(c.Request.Context(), id)
	}))
	// The code is returned once; only its hash is kept.
	g.POST("/trust-anchors/:id/verification-code", admin, s.anchorAction("trust_anchor.challenge", http.StatusOK, func(c *gin.Context, id int64) (any, error) {
		code, err := s.trust.Challenge(c.Request.Context(), id)
		return gin.H{"id": id, "code": code, "sign_with": "openssl dgst -sha256 -sign ca.key code.txt | openssl base64 -A"}, err
	}))
	g.POST("/trust-anchors/:id/proof", admin, s.anchorAction("trust_anchor.verify", http.StatusOK, func(c *gin.Context, id int64) (any, error) {
		var body struct {
			Code      string `json:"code"`
			Signature string `json:"signature"`
		}
		if !decode(c, &body) {
			return nil, nil
		}
		return gin.H{"id": id, "verified": true}, s.trust.Prove(c.Request.Context(), id, body.Code, body.Signature)
	}))
	g.POST("/trust-anchors/:id/revocations", admin, s.anchorAction("trust_anchor.revoke_serial", http.StatusOK, func(c *gin.Context, id int64) (any, error) {
		var body struct {
			Serial string `json:"serial"`
			Date   string `json:"date"`
		}
		if !decode(c, &body) {
			return nil, nil
		}
		added, err := s.trust.AddRevocation(c.Request.Context(), id, body.Serial, body.Date)
		return gin.H{"added": added}, err
	}))
	// A CSV of serial[,date], up to 5,000 rows; every bad row is reported.
	g.POST("/trust-anchors/:id/revocations.csv", admin, s.anchorAction("trust_anchor.revoke_serials", http.StatusOK, func(c *gin.Context, id int64) (any, error) {
		entries, err := trust.ParseRevocationCSV(io.LimitReader(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody), maxBody), time.Now())
		if err != nil {
			return nil, err
		}
		added, kept, err := s.trust.AddRevocations(c.Request.Context(), id, entries)
		return gin.H{"added": added, "kept": kept}, err
	}))
}
