package api

import (
	"errors"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
)

const principalKey = "principal"

// authenticate admits requests with a valid bearer token.
func (s *server) authenticate(c *gin.Context) {
	token, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !ok {
		c.Header("WWW-Authenticate", `Bearer realm="certfleet"`)
		fail(c, errkind.Unauthenticated("an API token is required: Authorization: Bearer <token>"))
		return
	}
	// An error of the database rather than the token is no 401, which would
	// send the client looking for a new token.
	p, err := auth.Authenticate(c.Request.Context(), store.New(s.pool), token)
	if err != nil {
		if errors.Is(err, auth.ErrUnknownToken) {
			c.Header("WWW-Authenticate", `Bearer realm="certfleet", error="invalid_token"`)
		} else if errkind.KindOf(err) == 0 {
			// 503 with Retry-After: the client keeps its token and tries again.
			err = errkind.Unavailable(err, "the API token could not be checked: the database did not answer; try again")
		}
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
			fail(c, errkind.Forbidden("this needs the %s role; the token has %s", need, p.Role))
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
