// Package auth checks who is calling: the API's bearer tokens and the roles
// they carry, and the enrollment secrets (device passwords, OTPs) devices
// present over EST. A token is shown once, when it is made; certfleet keeps only
// its SHA-256, which is enough for a 256-bit random secret. A token lives until
// it is revoked or its optional expiry passes, and records when it was last used.
package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
)

// Role is what a token may do.
type Role string

const (
	Admin    Role = "admin"    // everything
	Operator Role = "operator" // devices, profile assignments, jobs, approvals, and reading
	Auditor  Role = "auditor"  // reading only
)

var rank = map[Role]int{Auditor: 1, Operator: 2, Admin: 3}

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	if _, ok := rank[Role(s)]; !ok {
		return "", fmt.Errorf("role %q: want admin, operator or auditor", s)
	}
	return Role(s), nil
}

// Allows reports whether r includes need.
func (r Role) Allows(need Role) bool { return rank[r] >= rank[need] }

// prefix marks certfleet tokens, so that secret scanners and people can tell them.
const prefix = "cft_"

// Principal is who made a request.
type Principal struct {
	TokenID int64
	Name    string
	Role    Role
}

// Actor is how the audit log names the principal.
func (p Principal) Actor() string { return fmt.Sprintf("token:%s#%d", p.Name, p.TokenID) }

// ErrUnknownToken is a token that is malformed, unknown, expired or revoked.
// The caller is not told which: a stolen token's holder learns nothing.
var ErrUnknownToken = errkind.Unauthenticated("unknown, expired or revoked API token")

// Create makes a token that never expires and stores its hash; the returned
// token is the only copy.
func Create(ctx context.Context, q *store.Queries, name string, role Role, createdBy string) (string, error) {
	token, _, err := Issue(ctx, q, NewToken{Name: name, Role: role, CreatedBy: createdBy})
	return token, err
}

// Authenticate finds the principal of a live bearer token and records its use
// (at most once a minute, see UseAPIToken). Errors other than ErrUnknownToken
// mean the database did not answer, which is not the caller's fault.
func Authenticate(ctx context.Context, q *store.Queries, token string) (Principal, error) {
	if !strings.HasPrefix(token, prefix) || len(token) > 100 {
		return Principal{}, ErrUnknownToken
	}
	row, err := q.UseAPIToken(ctx, hash(token))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Principal{}, ErrUnknownToken
	case err != nil:
		return Principal{}, fmt.Errorf("look up API token: %w", err)
	}
	return Principal{TokenID: row.ID, Name: row.Name, Role: Role(row.Role)}, nil
}

func hash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}
