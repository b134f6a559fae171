package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/db/store"
)

const principalKey = "principal"

// authenticate admits requests with a valid bearer token.
func (s *server) authenticate(c *gin.Context) {
	token, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !ok {
		c.Header("WWW-Authenticate", `Bearer realm="certfleet"`)
		abort(c, http.StatusUnauthorized, "unauthorized", "an API token is required: Authorization: Bearer <token>", nil)
		return
	}
	p, err := auth.Authenticate(c.Request.Context(), store.New(s.pool), token)
	switch {
	case errors.Is(err, auth.ErrUnknownToken):
		c.Header("WWW-Authenticate", `Bearer realm="certfleet", error="invalid_token"`)
		abort(c, http.StatusUnauthorized, "unauthorized", err.Error(), nil)
		return
	case err != nil: // the database, not the token: a 401 would send the client looking for a new token
		fail(c, err)
		return
	}
	c.Set(principalKey, p)
	c.Next()
}

// require admits principals whose role includes need.
func require(need auth.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		if p := principal(c); !p.Role.Allows(need) {
			abort(c, http.StatusForbidden, "forbidden", "this needs the "+string(need)+" role; the token has "+string(p.Role), nil)
			return
		}
		c.Next()
	}
}

func principal(c *gin.Context) auth.Principal {
	p, _ := c.Get(principalKey)
	principal, _ := p.(auth.Principal)
	return principal
}
