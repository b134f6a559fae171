package api

import (
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"

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
	var views []trustAnchorView
	err := s.changeTx(c, "trust_anchor.create", "trust_anchor", func(tx pgx.Tx) ([]string, any, error) {
		rows, err := s.trust.In(tx).Add(c.Request.Context(), trust.Upload{Name: body.Name, PEM: []byte(body.PEM), AutoRegister: body.AutoRegister, NameMapping: body.NameMapping})
		ids := make([]string, len(rows))
		views = make([]trustAnchorView, len(rows))
		for i, r := range rows {
			ids[i], views[i] = strconv.FormatInt(r.ID, 10), viewAnchor(r)
		}
		return ids, gin.H{"name": body.Name}, err
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"items": views})
}

// anchorAction is a change to the anchor in the path: fn gets the trust store
// bound to the change's transaction, so that the change and its audit row
// commit together or not at all. Routes with a body read it first, outside
// the transaction.
func (s *server) anchorAction(action string, fn func(c *gin.Context, anchors *trust.Store, id int64) (any, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		var out any
		err := s.changeTx(c, action, "trust_anchor", func(tx pgx.Tx) ([]string, any, error) {
			var err error
			out, err = fn(c, s.trust.In(tx), id)
			return []string{strconv.FormatInt(id, 10)}, nil, err
		})
		if err != nil {
			fail(c, err)
			return
		}
		c.JSON(http.StatusOK, out)
	}
}

func (s *server) trustAnchorRoutes(g *gin.RouterGroup, admin gin.HandlerFunc) {
	g.GET("/trust-anchors", s.listTrustAnchors)
	g.POST("/trust-anchors", admin, s.addTrustAnchors)
	g.POST("/trust-anchors/:id/enable", admin, s.anchorAction("trust_anchor.enable", func(c *gin.Context, anchors *trust.Store, id int64) (any, error) {
		return gin.H{"id": id, "enabled": true}, anchors.SetEnabled(c.Request.Context(), id, true)
	}))
	g.POST("/trust-anchors/:id/disable", admin, s.anchorAction("trust_anchor.disable", func(c *gin.Context, anchors *trust.Store, id int64) (any, error) {
		return gin.H{"id": id, "enabled": false}, anchors.SetEnabled(c.Request.Context(), id, false)
	}))
	g.POST("/trust-anchors/:id/confirm", admin, s.anchorAction("trust_anchor.confirm", func(c *gin.Context, anchors *trust.Store, id int64) (any, error) {
		return gin.H{"id": id, "enabled": true}, anchors.Confirm(c.Request.Context(), id, principal(c).Actor())
	}))
	g.DELETE("/trust-anchors/:id", admin, s.anchorAction("trust_anchor.delete", func(c *gin.Context, anchors *trust.Store, id int64) (any, error) {
		return gin.H{"id": id, "deleted": true}, anchors.Delete(c.Request.Context(), id)
	}))
	// The code is returned once; only its hash is kept.
	g.POST("/trust-anchors/:id/verification-code", admin, s.anchorAction("trust_anchor.challenge", func(c *gin.Context, anchors *trust.Store, id int64) (any, error) {
		code, err := anchors.Challenge(c.Request.Context(), id)
		return gin.H{"id": id, "code": code, "sign_with": "openssl dgst -sha256 -sign ca.key code.txt | openssl base64 -A"}, err
	}))
	g.POST("/trust-anchors/:id/proof", admin, func(c *gin.Context) {
		var body struct {
			Code      string `json:"code"`
			Signature string `json:"signature"`
		}
		if decode(c, &body) {
			s.anchorAction("trust_anchor.verify", func(c *gin.Context, anchors *trust.Store, id int64) (any, error) {
				return gin.H{"id": id, "verified": true}, anchors.Prove(c.Request.Context(), id, body.Code, body.Signature)
			})(c)
		}
	})
	g.POST("/trust-anchors/:id/revocations", admin, func(c *gin.Context) {
		var body struct {
			Serial string `json:"serial"`
			Date   string `json:"date"`
		}
		if decode(c, &body) {
			s.anchorAction("trust_anchor.revoke_serial", func(c *gin.Context, anchors *trust.Store, id int64) (any, error) {
				added, err := anchors.AddRevocation(c.Request.Context(), id, body.Serial, body.Date)
				return gin.H{"added": added}, err
			})(c)
		}
	})
	// A CSV of serial[,date], up to 5,000 rows; every bad row is reported.
	g.POST("/trust-anchors/:id/revocations.csv", admin, func(c *gin.Context) {
		entries, err := trust.ParseRevocationCSV(io.LimitReader(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody), maxBody), time.Now())
		if err != nil {
			fail(c, err)
			return
		}
		s.anchorAction("trust_anchor.revoke_serials", func(c *gin.Context, anchors *trust.Store, id int64) (any, error) {
			added, kept, err := anchors.AddRevocations(c.Request.Context(), id, entries)
			return gin.H{"added": added, "kept": kept}, err
		})(c)
	})
}
