package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
)

// tokenRoutes manages API tokens. Reading is admin-only too: the list says
// who holds which role and which tokens are idle.
func (s *server) tokenRoutes(g *gin.RouterGroup, admin gin.HandlerFunc) {
	g.GET("/tokens", admin, s.listTokens)
	g.POST("/tokens", admin, s.createToken)
	g.POST("/tokens/:id/revoke", admin, s.revokeToken)
}

// listTokens shows every token, oldest first, without the token or its hash.
func (s *server) listTokens(c *gin.Context) {
	limit, after, ok := page(c)
	if !ok {
		return
	}
	params := store.ListAPITokensParams{PageSize: limit}
	if params.AfterID, ok = idCursor(c, after); !ok {
		return
	}
	rows, err := store.New(s.pool).ListAPITokens(c.Request.Context(), params)
	if err != nil {
		fail(c, err)
		return
	}
	next := nextCursor(rows, limit, func(r auth.Token) string { return strconv.FormatInt(r.ID, 10) })
	c.JSON(http.StatusOK, gin.H{"items": rows, "next": next})
}

// createdToken is the answer to a new token: the only time the token is shown.
type createdToken struct {
	auth.Token
	Secret string `json:"token"`
}

func (s *server) createToken(c *gin.Context) {
	var body struct {
		Name      string `json:"name"`
		Role      string `json:"role"`
		ExpiresAt string `json:"expires_at"`
	}
	if !decode(c, &body) {
		return
	}
	n := auth.NewToken{Name: body.Name, Role: auth.Role(body.Role), CreatedBy: principal(c).Actor()}
	if body.ExpiresAt != "" {
		at, err := time.Parse(time.RFC3339, body.ExpiresAt)
		if err != nil {
			fail(c, fieldError("expires_at", "want an RFC 3339 time such as %s", exampleTime))
			return
		}
		n.ExpiresAt = &at
	}
	if err := n.Validate(time.Now()); err != nil {
		fail(c, err)
		return
	}
	var out createdToken
	err := s.change(c, "api_token.create", "api_token", func(q *store.Queries) ([]string, any, error) {
		var err error
		if out.Secret, out.Token, err = auth.Issue(c.Request.Context(), q, n); err != nil {
			return nil, nil, err
		}
		details := gin.H{"name": n.Name, "role": n.Role, "expires_at": n.ExpiresAt}
		return []string{strconv.FormatInt(out.ID, 10)}, details, nil
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, out)
}

// revokeToken ends a token's life. A token cannot revoke itself: an admin
// who mistypes an ID would otherwise cut off their own access mid-task, and
// the last admin token could leave the API with no admin at all. Another
// admin token, or `certfleet token revoke` with database access, revokes it.
func (s *server) revokeToken(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	if id == principal(c).TokenID {
		fail(c, errkind.Conflict("a token cannot revoke itself: use another admin token or `certfleet token revoke`"))
		return
	}
	var revoked auth.Token
	err := s.change(c, "api_token.revoke", "api_token", func(q *store.Queries) ([]string, any, error) {
		var err error
		revoked, err = auth.Revoke(c.Request.Context(), q, id)
		return []string{strconv.FormatInt(id, 10)}, gin.H{"name": revoked.Name}, err
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, revoked)
}
