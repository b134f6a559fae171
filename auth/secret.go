package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
)

// Enrollment secrets (device passwords and OTPs) are short enough to be
// guessed offline from a fast hash, so they are stored as argon2id hashes in
// the PHC string format, with OWASP's minimum parameters: 19 MiB, 2 passes.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	saltLen        = 16
)

var b64 = base64.RawStdEncoding

// HashSecret returns the PHC string of secret under a fresh salt.
func HashSecret(secret string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	sum := argon2.IDKey([]byte(secret), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemoryKiB, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(sum)), nil
}

var errBadHash = errors.New("not an argon2id PHC string")

// VerifySecret reports whether secret matches the PHC string phc, in constant
// time; the parameters are read from phc, so they can be raised later.
func VerifySecret(phc, secret string) (bool, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	var memory, passes uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &passes, &threads); err != nil || threads == 0 || passes == 0 {
		return false, errBadHash
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(secret), salt, passes, memory, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// ErrBusy is a secret check that found no free slot in time. The caller
// answers "busy, retry later" rather than queueing without bound.
var ErrBusy = errors.New("too many secret checks under way")

// SecretChecks bounds the argon2id verifications that run at once. Each one
// holds argonMemoryKiB (19 MiB) while it runs, so a flood of concurrent
// Basic-auth attempts, each cheap to send, could otherwise exhaust memory. A
// check that finds every slot taken waits in a queue, but only so many may
// wait, and only for so long.
type SecretChecks struct {
	slots   chan struct{}
	waiting chan struct{}
	maxWait time.Duration
}

// NewSecretChecks allows slots verifications at once (at least one), and up
// to queue more to wait at most maxWait each for a slot.
func NewSecretChecks(slots, queue int, maxWait time.Duration) *SecretChecks {
	return &SecretChecks{slots: make(chan struct{}, max(slots, 1)), waiting: make(chan struct{}, max(queue, 0)), maxWait: maxWait}
}

// Acquire takes a slot, to be given back by calling release once the
// verifications are done. It fails with ErrBusy when the queue is full or no
// slot frees up within the wait, and with ctx's error when ctx ends first.
func (c *SecretChecks) Acquire(ctx context.Context) (release func(), err error) {
	select {
	case c.slots <- struct{}{}:
		return c.releaser(), nil
	default:
	}
	select {
	case c.waiting <- struct{}{}:
		defer func() { <-c.waiting }()
	default:
		return nil, fmt.Errorf("%w: %d running, %d waiting", ErrBusy, cap(c.slots), cap(c.waiting))
	}
	timer := time.NewTimer(c.maxWait)
	defer timer.Stop()
	select {
	case c.slots <- struct{}{}:
		return c.releaser(), nil
	case <-timer.C:
		return nil, fmt.Errorf("%w: no slot freed up within %s", ErrBusy, c.maxWait)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// releaser gives the slot back once, however often it is called.
func (c *SecretChecks) releaser() func() { return sync.OnceFunc(func() { <-c.slots }) }
