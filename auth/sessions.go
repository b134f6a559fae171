package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
)

// Browser sessions: the web console signs in once with an API token and then
// carries a session cookie, never the token. The cookie is HttpOnly, so the
// page's script cannot read it; changes also need a CSRF token, derived from
// the cookie, which the page gets from the API and sends back in a header.

// Session limits: a session ends after IdleTimeout without a request, and
// MaxSessionAge after it began, whichever comes first.
const (
	IdleTimeout   = 30 * time.Minute
	MaxSessionAge = 12 * time.Hour
)

// sessionPrefix marks session cookies, as prefix marks tokens.
const sessionPrefix = "cfs_"

// ErrNoSession is a session cookie that is malformed, unknown, idle too long,
// past its end, signed out, or whose token no longer works.
var ErrNoSession = errkind.Unauthenticated("the console session has ended; sign in again")

// Session is a signed-in console: who it stands for, and until when.
type Session struct {
	Principal Principal
	ExpiresAt time.Time
}

// StartSession signs in with token and returns the new session's cookie
// value, the only copy.
func StartSession(ctx context.Context, q *store.Queries, token string) (cookie string, s Session, err error) {
	p, err := Authenticate(ctx, q, token)
	if err != nil {
		return "", Session{}, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", Session{}, fmt.Errorf("make a session: %w", err)
	}
	cookie = sessionPrefix + base64.RawURLEncoding.EncodeToString(raw)
	row, err := q.CreateConsoleSession(ctx, store.CreateConsoleSessionParams{
		SessionHash: hash(cookie), TokenID: p.TokenID, ExpiresAt: time.Now().Add(MaxSessionAge),
	})
	if err != nil {
		return "", Session{}, fmt.Errorf("record the session: %w", err)
	}
	return cookie, Session{Principal: p, ExpiresAt: row.ExpiresAt}, nil
}

// ResumeSession finds the live session of a cookie and records its use.
// Errors other than ErrNoSession mean the database did not answer.
func ResumeSession(ctx context.Context, q *store.Queries, cookie string) (Session, error) {
	if !strings.HasPrefix(cookie, sessionPrefix) || len(cookie) > 100 {
		return Session{}, ErrNoSession
	}
	row, err := q.UseConsoleSession(ctx, store.UseConsoleSessionParams{SessionHash: hash(cookie), Idle: IdleTimeout})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Session{}, ErrNoSession
	case err != nil:
		return Session{}, fmt.Errorf("look up the console session: %w", err)
	}
	return Session{Principal: Principal{TokenID: row.TokenID, Name: row.Name, Role: Role(row.Role)}, ExpiresAt: row.ExpiresAt}, nil
}

// EndSession signs a session out; an ended or unknown one is left as it is.
func EndSession(ctx context.Context, q *store.Queries, cookie string) error {
	if _, err := q.EndConsoleSession(ctx, hash(cookie)); err != nil {
		return fmt.Errorf("end the console session: %w", err)
	}
	return nil
}

// CSRFToken is the token a session's changes must carry: derived from the
// cookie, which only the browser holds and its script cannot read, so a page
// of another site can neither read nor forge it.
func CSRFToken(cookie string) string {
	sum := sha256.Sum256([]byte("certfleet-csrf\x00" + cookie))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ValidCSRF reports, in constant time, whether presented is cookie's CSRF token.
func ValidCSRF(cookie, presented string) bool {
	return subtle.ConstantTimeCompare([]byte(CSRFToken(cookie)), []byte(presented)) == 1
}
