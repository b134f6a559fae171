package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
)

// Token is what certfleet shows of an API token: never the token or its hash.
type Token = store.ListAPITokensRow

// NewToken is a token to make.
type NewToken struct {
	Name      string
	Role      Role
	CreatedBy string
	// ExpiresAt ends the token's life; nil means it lives until revoked.
	ExpiresAt *time.Time
}

// Validate checks a token to make against the rules the database would
// enforce less readably, and refuses an expiry that has already passed; the
// error is an errkind.Invalid naming the field.
func (n NewToken) Validate(now time.Time) error {
	if l := utf8.RuneCountInString(n.Name); l < 1 || l > 200 {
		return errkind.Invalid("name", "1 to 200 characters")
	}
	if _, err := ParseRole(string(n.Role)); err != nil {
		return errkind.Invalid("role", "want admin, operator or auditor, not %q", n.Role)
	}
	if n.ExpiresAt != nil && !n.ExpiresAt.After(now) {
		return errkind.Invalid("expires_at", "must be in the future")
	}
	return nil
}

// Issue makes a token and stores its hash; the returned token is the only copy.
func Issue(ctx context.Context, q *store.Queries, n NewToken) (string, Token, error) {
	if err := n.Validate(time.Now()); err != nil {
		return "", Token{}, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", Token{}, err
	}
	token := prefix + base64.RawURLEncoding.EncodeToString(raw)
	row, err := q.CreateAPIToken(ctx, store.CreateAPITokenParams{
		Name: n.Name, Role: string(n.Role), TokenHash: hash(token), CreatedBy: n.CreatedBy, ExpiresAt: n.ExpiresAt,
	})
	if err != nil {
		return "", Token{}, fmt.Errorf("store API token: %w", err)
	}
	return token, Token(row), nil
}

// Revoke ends a token's life at once: the next request with it gets 401.
// Revoking a revoked token changes nothing; pgx.ErrNoRows means no such token.
func Revoke(ctx context.Context, q *store.Queries, id int64) (Token, error) {
	row, err := q.RevokeAPIToken(ctx, id)
	if err != nil {
		return Token{}, fmt.Errorf("revoke API token %d: %w", id, err)
	}
	return Token(row), nil
}

// State is "revoked", "expired" or "active" at now.
func State(t Token, now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked"
	case t.ExpiresAt != nil && !t.ExpiresAt.After(now):
		return "expired"
	}
	return "active"
}

// ParseExpiry reads when a token should expire: a lifetime in days ("90d")
// or as a Go duration ("2160h"), counted from now, or an RFC 3339 time. ""
// is no expiry.
func ParseExpiry(s string, now time.Time) (*time.Time, error) {
	var at time.Time
	switch {
	case s == "":
		return nil, nil
	case strings.HasSuffix(s, "d"):
		days, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
		if err != nil || days <= 0 || days > 100*366 {
			return nil, fmt.Errorf("expires %q: want a positive number of days such as 90d", s)
		}
		at = now.AddDate(0, 0, days)
	default:
		if d, err := time.ParseDuration(s); err == nil {
			if d <= 0 {
				return nil, fmt.Errorf("expires %q: want a positive lifetime", s)
			}
			at = now.Add(d)
			break
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return nil, fmt.Errorf("expires %q: want days (90d), a duration (2160h) or an RFC 3339 time", s)
		}
		at = t
	}
	if !at.After(now) {
		return nil, fmt.Errorf("expires %q: the time has passed", s)
	}
	return &at, nil
}
