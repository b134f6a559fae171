// Package est is certfleet's EST server (RFC 7030). Devices fetch the CA
// certificates, enroll, re-enroll and have keys generated over HTTPS,
// authenticating with an OTP or device password (HTTP Basic), a factory
// certificate (zero-touch provisioning) or the certificate they are renewing.
// Labels (/.well-known/est/<label>/…) choose the profile and the modes
// allowed. Every enrollment runs as an Enrollment workflow, started eagerly on
// this process's worker and awaited briefly; see Temporal.
package est

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/pki/trust"
)

// EST operations that issue certificates.
const (
	opEnroll       = "simpleenroll"
	opReenroll     = "simplereenroll"
	opServerKeyGen = "serverkeygen"
)

// CAs finds the CA driver of a profile (drivers/registry does).
type CAs interface {
	CA(ctx context.Context, profile store.Profile) (ca.Driver, error)
}

// Enroller runs an enrollment and reports where it stands after a brief wait:
// issued, rejected or failed, or pending with the CA's Retry-After.
type Enroller interface {
	Enroll(ctx context.Context, e activities.Enrollment, run RunInfo) (activities.Submission, error)
	// Discard gives up an enrollment whose certificate will not reach the
	// device (a serverkeygen answer that could not be given): afterwards no
	// certificate is issued for it, and one issued already is revoked, in
	// the background if the CA has yet to decide.
	Discard(ctx context.Context, e activities.Enrollment, run RunInfo) error
}

// RunInfo is what makes an enrollment's run easy to find in the Temporal UI.
type RunInfo struct {
	Operation, Label, Profile string
	// ExpectPending says the CA will hold the request for approval, so waiting
	// long for it is pointless.
	ExpectPending bool
}

// Server serves EST. Build its handler with Handler.
type Server struct {
	Pool *pgxpool.Pool
	CAs  CAs
	// Fallback answers /cacerts on the unlabelled path when no label is the default.
	Fallback ca.Driver
	Trust    *trust.Store
	Enroller Enroller
	Logger   *slog.Logger
	Limits   Limits
	// SecretChecks bounds the argon2id verifications of Basic credentials;
	// Handler makes it from Limits when it is nil.
	SecretChecks *auth.SecretChecks
}

// Limits protect the server from clients.
type Limits struct {
	// MaxBody caps a request body; a CSR is a few kilobytes.
	MaxBody int64
	// Rate and Burst limit requests per client (an IPv4 address or an IPv6
	// /64); Rate 0 turns it off.
	Rate  float64
	Burst int
	// PasswordChecks is how many argon2id verifications of Basic credentials
	// run at once (0: GOMAXPROCS, as each is single-threaded and CPU-bound:
	// more at once add memory, 19 MiB each, not throughput). A request finding
	// them all busy waits up to PasswordWait (0: 2 s) in a queue of 16 per
	// check, then gets 503 with Retry-After.
	PasswordChecks int
	PasswordWait   time.Duration
}

// DefaultLimits suit a device fleet behind one server.
var DefaultLimits = Limits{MaxBody: 64 << 10, Rate: 20, Burst: 40}

// secretChecks makes the bound on password verifications the limits ask for.
func (l Limits) secretChecks() *auth.SecretChecks {
	n := cmp.Or(l.PasswordChecks, runtime.GOMAXPROCS(0))
	return auth.NewSecretChecks(n, 16*n, cmp.Or(l.PasswordWait, 2*time.Second))
}

// Handler routes EST requests, unlabelled and labelled, behind the per-client
// rate limit and a guard that turns any panic into a 500.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.SecretChecks == nil {
		s.SecretChecks = s.Limits.secretChecks()
	}
	mux := http.NewServeMux()
	for _, prefix := range []string{"/.well-known/est/", "/.well-known/est/{label}/"} {
		mux.HandleFunc("GET "+prefix+"cacerts", s.serve(s.cacerts))
		mux.HandleFunc("GET "+prefix+"csrattrs", s.serve(s.csrattrs))
		for _, op := range []string{opEnroll, opReenroll, opServerKeyGen} {
			mux.HandleFunc("POST "+prefix+op, s.serve(s.enroll(op)))
		}
	}
	return newRateLimit(s.Limits.Rate, s.Limits.Burst).wrap(s.recoverPanics(mux))
}

// httpError is a refusal with the status and text the client gets.
type httpError struct {
	status     int
	message    string
	retryAfter time.Duration
	challenge  bool // ask for HTTP Basic credentials
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
	kinded, _ := errkind.As(err)
	kind := kinded.Kind()
	if kind == 0 || kind == errkind.KindUnavailable {
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
	if kind == errkind.KindUnavailable {
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
		writeText(w, refusal.status, refusal.message)
	}
}

// retrySeconds rounds up to whole seconds, at least one.
func retrySeconds(d time.Duration) int { return max(1, int((d+time.Second-1)/time.Second)) }

func writeText(w http.ResponseWriter, status int, message string) {
	body := []byte(message + "\n")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body) //nolint:errcheck // the client has gone
}

// writeBase64 writes an EST body: base64 with CRLF lines, the transfer
// encoding named and the length explicit, as every client needs.
func writeBase64(w http.ResponseWriter, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Transfer-Encoding", "base64")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body) //nolint:errcheck // the client has gone
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.Error("EST handler panicked", "path", r.URL.Path, "panic", v)
				writeText(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
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
