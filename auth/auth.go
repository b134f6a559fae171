// Package auth checks who is calling: the API's bearer tokens and the roles
// they carry, and the enrollment secrets (device passwords, OTPs) devices
// present over EST. A token is shown once, when it is made; certfleet keeps only
// its SHA-256, which is enough for a 256-bit random secret.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/certfleet/certfleet/db/store"
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

// ErrUnknownToken is a token that is malformed, unknown or revoked.
var ErrUnknownToken = errors.New("unknown or revoked API token")

// Create makes a token and stores its hash; the returned token is the only copy.
func Create(ctx context.Context, q *store.Queries, name string, role Role, createdBy string) (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	token := prefix + base64.RawURLEncoding.EncodeToString(raw)
	if _, err := q.CreateAPIToken(ctx, store.CreateAPITokenParams{Name: name, Role: string(role), TokenHash: hash(token), CreatedBy: createdBy}); err != nil {
		return "", fmt.Errorf("store API token: %w", err)
	}
	return token, nil
}

// Authenticate finds the principal of a bearer token.
func Authenticate(ctx context.Context, q *store.Queries, token string) (Principal, error) {
	if !strings.HasPrefix(token, prefix) || len(token) > 100 {
		return Principal{}, ErrUnknownToken
	}
	row, err := q.TokenByHash(ctx, hash(token))
	if err != nil {
		return Principal{}, ErrUnknownToken
	}
	return Principal{TokenID: row.ID, Name: row.Name, Role: Role(row.Role)}, nil
}

func hash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}
