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

// authenticate admits requests with a valid bearer token, or, without an
// Authorization header, the console's session cookie.
func (s *server) authenticate(c *gin.Context) {
	if cookie, err := c.Cookie(sessionCookie); err == nil && c.GetHeader("Authorization") == "" {
		s.authenticateSession(c, cookie)
		return
	}
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
		}
		fail(c, tokenCheckError(err))
		return
	}
	c.Set(principalKey, p)
	c.Next()
}

// tokenCheckError is the refusal of a credential check: the check's own, or,
// when the database did not answer, 503 with Retry-After, so that the client
// keeps its token or session and tries again rather than looking for a new one.
func tokenCheckError(err error) error {
	if errkind.KindOf(err) == 0 {
		return errkind.Unavailable(err, "the credential could not be checked: the database did not answer; try again")
	}
	return err
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
