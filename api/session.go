package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
)

// The web console's sign-in: an API token exchanged once for a session
// cookie (see auth.StartSession). A request carrying a session cookie and no
// Authorization header is the console's; its changes need csrfHeader.
const (
	sessionCookie = "certfleet_session"
	csrfHeader    = "X-CSRF-Token"
	sessionKey    = "session"
)

// sessionView is what the console learns of its session.
type sessionView struct {
	Name      string     `json:"name"`
	Role      auth.Role  `json:"role"`
	CSRFToken string     `json:"csrf_token,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// IdleTimeoutSeconds is how long the session lasts without a request.
	IdleTimeoutSeconds int `json:"idle_timeout_seconds,omitempty"`
	// WorkflowLinks is where the console links a workflow ID in the Temporal UI.
	WorkflowLinks string `json:"workflow_links,omitempty"`
	GrafanaURL    string `json:"grafana_url,omitempty"`
}

// startSession signs in with an API token in the body (never in a URL) and
// sets the session cookie: HttpOnly, SameSite=Strict, Secure over TLS.
func (s *server) startSession(c *gin.Context) {
	var body struct {
		Token string `json:"token"`
	}
	if !decode(c, &body) {
		return
	}
	q := store.New(s.pool)
	cookie, session, err := auth.StartSession(c.Request.Context(), q, body.Token)
	if err != nil {
		fail(c, tokenCheckError(err))
		return
	}
	p := session.Principal
	if err := record(c.Request.Context(), q, p.Actor(), "session.start", "api_token", []string{strconv.FormatInt(p.TokenID, 10)}, nil); err != nil {
		fail(c, err)
		return
	}
	setSessionCookie(c, cookie, session.ExpiresAt)
	c.JSON(http.StatusCreated, sessionView{Name: p.Name, Role: p.Role, CSRFToken: auth.CSRFToken(cookie), ExpiresAt: &session.ExpiresAt,
		IdleTimeoutSeconds: int(auth.IdleTimeout / time.Second), WorkflowLinks: s.workflowLinks, GrafanaURL: s.grafanaURL})
}

// getSession says who is signed in, and, to a console that was reloaded,
// its CSRF token again.
func (s *server) getSession(c *gin.Context) {
	p := principal(c)
	view := sessionView{Name: p.Name, Role: p.Role, WorkflowLinks: s.workflowLinks, GrafanaURL: s.grafanaURL}
	if cookie := c.GetString(sessionKey); cookie != "" {
		view.CSRFToken, view.IdleTimeoutSeconds = auth.CSRFToken(cookie), int(auth.IdleTimeout/time.Second)
	}
	c.JSON(http.StatusOK, view)
}

// endSession signs the console out: the session ends and the cookie goes.
func (s *server) endSession(c *gin.Context) {
	cookie := c.GetString(sessionKey)
	if cookie == "" {
		fail(c, errkind.Invalid("", "this request carries an API token, not a console session; revoke the token to end its use"))
		return
	}
	q := store.New(s.pool)
	if err := auth.EndSession(c.Request.Context(), q, cookie); err != nil {
		fail(c, err)
		return
	}
	p := principal(c)
	if err := record(c.Request.Context(), q, p.Actor(), "session.end", "api_token", []string{strconv.FormatInt(p.TokenID, 10)}, nil); err != nil {
		fail(c, err)
		return
	}
	setSessionCookie(c, "", time.Time{})
	c.JSON(http.StatusOK, gin.H{"ended": true})
}

// authenticateSession admits a request by its session cookie; a change must
// also carry the session's CSRF token.
func (s *server) authenticateSession(c *gin.Context, cookie string) {
	session, err := auth.ResumeSession(c.Request.Context(), store.New(s.pool), cookie)
	if err != nil {
		if errors.Is(err, auth.ErrNoSession) {
			setSessionCookie(c, "", time.Time{})
		}
		fail(c, tokenCheckError(err))
		return
	}
	if !safeMethod(c.Request.Method) && !auth.ValidCSRF(cookie, c.GetHeader(csrfHeader)) {
		fail(c, errkind.Forbidden("a change from the console needs its session's %s header", csrfHeader))
		return
	}
	c.Set(principalKey, session.Principal)
	c.Set(sessionKey, cookie)
	c.Next()
}

// setSessionCookie sets the session cookie, or clears it when value is "".
func setSessionCookie(c *gin.Context, value string, expires time.Time) {
	cookie := &http.Cookie{Name: sessionCookie, Value: value, Path: "/", HttpOnly: true, Secure: c.Request.TLS != nil,
		SameSite: http.SameSiteStrictMode, Expires: expires}
	if value == "" {
		cookie.MaxAge = -1
	}
	http.SetCookie(c.Writer, cookie)
}

func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}
