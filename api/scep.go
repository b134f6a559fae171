package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"

	"github.com/certfleet/certfleet/db/store"
)

// Bounds of a SCEP challenge's life: long enough to hand it to a device or
// an MDM profile, short enough that a leaked one soon stops working.
const (
	defaultChallengeLifetime = time.Hour
	minChallengeLifetime     = time.Minute
	maxChallengeLifetime     = 7 * 24 * time.Hour
)

// challengeBytes is the secret's entropy: 128 bits, out of reach of guessing.
const challengeBytes = 16

// challengeBody asks for a one-time SCEP challenge password, optionally for
// one device and one label.
type challengeBody struct {
	DeviceID string `json:"device_id"`
	Label    string `json:"label"`
	Lifetime string `json:"lifetime"`
}

// createdChallenge is the answer to a new challenge: the only time the
// secret is shown.
type createdChallenge struct {
	ID        int64     `json:"id"`
	Challenge string    `json:"challenge"`
	DeviceID  *string   `json:"device_id"`
	Label     *string   `json:"label"`
	ExpiresAt time.Time `json:"expires_at"`
}

// lifetime reads the body's lifetime, a Go duration such as "1h".
func (b challengeBody) lifetime() (time.Duration, error) {
	if b.Lifetime == "" {
		return defaultChallengeLifetime, nil
	}
	d, err := time.ParseDuration(b.Lifetime)
	if err != nil || d < minChallengeLifetime || d > maxChallengeLifetime {
		return 0, fieldError("lifetime", "a duration from %s to %s, such as \"1h\"", minChallengeLifetime, maxChallengeLifetime)
	}
	return d, nil
}

// newChallenge makes a random secret and its digest, the only form stored.
// Hex keeps it a PrintableString in a CSR's challengePassword attribute.
func newChallenge() (secret string, digest []byte, err error) {
	raw := make([]byte, challengeBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", nil, fmt.Errorf("make a SCEP challenge: %w", err)
	}
	secret = hex.EncodeToString(raw)
	sum := sha256.Sum256([]byte(secret))
	return secret, sum[:], nil
}

// createSCEPChallenge issues a one-time challenge password, as NDES does for
// an MDM: a device presents it in its SCEP request. Only its SHA-256 is kept,
// and neither the audit row nor the log sees it.
func (s *server) createSCEPChallenge(c *gin.Context) {
	var body challengeBody
	if !decode(c, &body) {
		return
	}
	lifetime, err := body.lifetime()
	if err == nil {
		err = s.checkChallengeTargets(c, body)
	}
	if err != nil {
		fail(c, err)
		return
	}
	secret, digest, err := newChallenge()
	if err != nil {
		fail(c, err)
		return
	}
	var row store.CreateSCEPChallengeRow
	err = s.change(c, "scep_challenge.create", "scep_challenge", func(q *store.Queries) ([]string, any, error) {
		var err error
		row, err = q.CreateSCEPChallenge(c.Request.Context(), store.CreateSCEPChallengeParams{
			SecretSha256: digest, Label: optional(body.Label), DeviceID: optional(body.DeviceID),
			ExpiresAt: time.Now().Add(lifetime), CreatedBy: principal(c).Actor(),
		})
		details := gin.H{"device_id": row.DeviceID, "label": row.Label, "expires_at": row.ExpiresAt}
		return []string{strconv.FormatInt(row.ID, 10)}, details, err
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, createdChallenge{ID: row.ID, Challenge: secret, DeviceID: textPointer(row.DeviceID.String, row.DeviceID.Valid),
		Label: textPointer(row.Label.String, row.Label.Valid), ExpiresAt: row.ExpiresAt})
}

// checkChallengeTargets refuses a challenge for a device that does not exist,
// or for a label that does not exist or does not serve SCEP: the challenge
// could never be spent.
func (s *server) checkChallengeTargets(c *gin.Context, body challengeBody) error {
	q := store.New(s.pool)
	if body.DeviceID != "" {
		if _, err := q.GetDevice(c.Request.Context(), body.DeviceID); errors.Is(err, pgx.ErrNoRows) {
			return fieldError("device_id", "no such device %q", body.DeviceID)
		} else if err != nil {
			return fmt.Errorf("read device %s: %w", body.DeviceID, err)
		}
	}
	if body.Label != "" {
		label, err := q.GetESTLabel(c.Request.Context(), body.Label)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return fieldError("label", "no such label %q", body.Label)
		case err != nil:
			return fmt.Errorf("read label %s: %w", body.Label, err)
		case !label.ScepEnabled:
			return fieldError("label", "label %q does not serve SCEP (set scep_enabled)", body.Label)
		}
	}
	return nil
}

// textPointer is a nullable text as JSON: null when not valid.
func textPointer(s string, valid bool) *string {
	if !valid {
		return nil
	}
	return &s
}
