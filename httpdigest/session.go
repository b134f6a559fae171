package httpdigest

import (
	"errors"
	"net/http"
)

// Session is the client side of Digest across the requests of one
// operation: once the server challenged, every request answers that
// challenge with a fresh cnonce and a counting nc, and a 401 to an answer
// means the credential was refused, unless the server only says the nonce
// went stale.
type Session struct {
	challenge *Challenge
	nc        uint32
}

// ErrRefused is a 401 to a Digest answer whose nonce was not stale.
var ErrRefused = errors.New("the server refused the credential (HTTP 401 to an HTTP Digest answer)")

// ErrStaleLoop is a server that keeps calling fresh nonces stale.
var ErrStaleLoop = errors.New("the server keeps answering HTTP 401 with a stale HTTP Digest nonce")

// maxRounds bounds the 401s one request is answered after: the first
// challenge, then stale nonces.
const maxRounds = 3

// Authorize sets req's Authorization header once the server has challenged
// the session; before that the request goes without one.
func (s *Session) Authorize(req *http.Request, user, password string) error {
	if s.challenge == nil {
		return nil
	}
	s.nc++
	auth, err := s.challenge.Authorize(req.Method, req.URL.RequestURI(), user, password, s.nc, NewCnonce())
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", auth)
	return nil
}

// Challenged takes the challenges of a 401 to the round-th try (from 0) of
// one request: nil means the request should be sent again, answered.
// ErrRefused and ErrStaleLoop end the request; any other error means the
// server offers no usable Digest challenge (only Basic, say).
func (s *Session) Challenged(h http.Header, round int) error {
	challenge, err := Choose(ChallengeValues(h))
	switch {
	case err != nil:
		return err
	case round > 0 && !challenge.Stale:
		return ErrRefused
	case round >= maxRounds:
		return ErrStaleLoop
	}
	s.challenge, s.nc = challenge, 0
	return nil
}
