// Package est is certfleet's EST server (RFC 7030). Devices fetch the CA
// certificates, enroll, re-enroll and have keys generated over HTTPS,
// authenticating with an OTP or device password (HTTP Basic), a factory
// certificate (zero-touch provisioning) or the certificate they are renewing.
// Labels (/.well-known/est/<label>/…) choose the profile and the modes
// allowed. Every enrollment runs as an Enrollment workflow, started eagerly on
// this process's worker and awaited briefly; what EST shares with SCEP lives
// in package enroll.
package est

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/db"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/enroll"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/metrics"
	"github.com/certfleet/certfleet/tracing"
)

// EST operations that issue certificates.
const (
	opEnroll       = "simpleenroll"
	opReenroll     = "simplereenroll"
	opServerKeyGen = "serverkeygen"
)

// Server serves EST. Build its handler with Handler.
type Server struct {
	enroll.Service
	// Fallback answers /cacerts on the unlabelled path when no label is the default.
	Fallback ca.Publisher
}

// protocol names EST in refusals and logs.
const protocol = "EST"

// Handler routes EST requests, unlabelled and labelled, behind the per-client
// rate limit and a guard that turns any panic into a 500, counted and timed
// by route (see metrics) and traced (see tracing).
func (s *Server) Handler() http.Handler {
	s.Init()
	mux := http.NewServeMux()
	for _, prefix := range []string{"/.well-known/est/", "/.well-known/est/{label}/"} {
		mux.HandleFunc("GET "+prefix+"cacerts", s.serve(s.cacerts))
		mux.HandleFunc("GET "+prefix+"csrattrs", s.serve(s.csrattrs))
		for _, op := range []string{opEnroll, opReenroll, opServerKeyGen} {
			mux.HandleFunc("POST "+prefix+op, s.serve(s.enroll(op)))
		}
	}
	return tracing.HTTP(metrics.HTTP(runProtocol, nil, s.Logger, enroll.NewRateLimit(s.Limits.Rate, s.Limits.Burst).Wrap(enroll.RecoverPanics(s.Logger, protocol, mux))))
}

// httpError is a refusal with the status and text the client gets.
type httpError struct {
	status     int
	message    string
	retryAfter time.Duration
	challenge  bool // ask for HTTP Basic credentials
	byCA       bool // the CA refused the request, not certfleet
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.status, e.message) }

func refuse(status int, format string, args ...any) *httpError {
	return &httpError{status: status, message: fmt.Sprintf(format, args...)}
}

// domainRefusal is what the client is told of an error that is no
// httpError: a domain refusal (see errkind) by its kind's status and its
// message, anything else as an opaque 500. An internal error, and an
// unavailable dependency's cause, go to the log.
func (s *Server) domainRefusal(r *http.Request, err error) *httpError {
	if unavailable := db.Unavailable(err); unavailable != nil {
		err = unavailable
	}
	kinded, _ := errkind.As(err)
	kind := kinded.Kind()
	busy := errors.Is(err, auth.ErrBusy)
	if kind == 0 || kind == errkind.KindUnavailable && !busy {
		s.Logger.Error("EST request failed", "path", r.URL.Path, "error", err)
	}
	if kind == 0 {
		return refuse(http.StatusInternalServerError, "internal error")
	}
	refusal := refuse(kind.Status(), "%s", kinded.Message())
	if kinded.Field() != "" {
		refusal.message = kinded.Field() + ": " + refusal.message
	}
	refusal.challenge = kind == errkind.KindUnauthenticated
	switch {
	case busy: // a slot for a password check frees up within a second or two
		refusal.retryAfter = time.Second
	case kind == errkind.KindUnavailable:
		refusal.retryAfter = time.Minute
	}
	return refusal
}

// realm is the Basic realm certfleet asks for.
const realm = `Basic realm="certfleet EST", charset="UTF-8"`

// serve runs h and writes its error, if any, as text: the refusal's own
// status and message; a domain refusal's (see errkind) by its kind; or an
// opaque 500 with the cause logged.
func (s *Server) serve(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var refusal *httpError
		if !errors.As(err, &refusal) {
			refusal = s.domainRefusal(r, err)
		}
		if refusal.challenge {
			// Set directly: Header().Set would write "Www-Authenticate", and
			// some clients match the name byte for byte.
			w.Header()["WWW-Authenticate"] = []string{realm}
		}
		if refusal.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(refusal.retryAfter)))
		}
		enroll.WriteText(w, refusal.status, refusal.message)
	}
}

// retrySeconds rounds up to whole seconds, at least one.
func retrySeconds(d time.Duration) int { return max(1, int((d+time.Second-1)/time.Second)) }

// writeBase64 writes an EST body: base64 with CRLF lines, the transfer
// encoding named and the length explicit, as every client needs.
func writeBase64(w http.ResponseWriter, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Transfer-Encoding", "base64")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body) //nolint:errcheck // the client has gone
}

// TLSConfig is the EST listener's TLS: 1.2 and 1.3 (libest speaks only 1.2),
// and client certificates requested but verified by the handlers, because
// what they must chain to (trust anchors, the label's CA) is data, not
// configuration.
func TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		ClientAuth:   tls.RequestClientCert,
	}
}
