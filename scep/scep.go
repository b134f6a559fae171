// Package scep is certfleet's SCEP server (RFC 8894), for devices that enroll
// themselves but do not speak EST: phones, printers, routers, cameras and
// MDM-managed devices. It serves GetCACaps, GetCACert and PKIOperation
// (PKCSReq, RenewalReq, CertPoll) under /scep/<label>, /scep for the default
// label, and the customary /cgi-bin/pkiclient.exe, from the same labels,
// credentials, admission rules and Enrollment workflows as EST (package
// enroll). Messages are read and written with smallstep/pkcs7 and
// smallstep/scep; requests are encrypted to an RSA RA certificate (see RAs).
package scep

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/smallstep/pkcs7"

	"github.com/certfleet/certfleet/db"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/enroll"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/metrics"
	"github.com/certfleet/certfleet/tracing"
)

// Server serves SCEP. Build its handler with Handler.
type Server struct {
	enroll.Service
	RAs *RAs
}

// protocol names SCEP in refusals and logs.
const protocol = "SCEP"

// caps is GetCACaps' answer: what the server really does. SCEPStandard
// stands for AES, POSTPKIOperation and SHA-256 together (RFC 8894 §3.5.2).
// GetNextCACert is added while the label's CA rolls over.
const caps = "POSTPKIOperation\nRenewal\nSHA-256\nSHA-512\nAES\nSCEPStandard\n"

// Content types of SCEP's answers (RFC 8894 §4).
const (
	typeCACerts    = "application/x-x509-ca-ra-cert"
	typeNextCACert = "application/x-x509-next-ca-cert"
	typePKIMessage = "application/x-pki-message"
)

// Paths are the path patterns SCEP is served under, for a listener shared
// with other protocols.
var Paths = []string{"/scep", "/scep/", "/cgi-bin/pkiclient.exe"}

// Handler routes SCEP requests behind the per-client rate limit and a guard
// that turns a panic into a 500. Clients given a base URL often append
// /pkiclient.exe or /cgi-bin/pkiclient.exe, which are served alike.
func (s *Server) Handler() http.Handler {
	s.Init()
	mux := http.NewServeMux()
	for _, path := range []string{"/scep", "/scep/{label}", "/cgi-bin/pkiclient.exe", "/scep/pkiclient.exe", "/scep/cgi-bin/pkiclient.exe",
		"/scep/{label}/pkiclient.exe", "/scep/{label}/cgi-bin/pkiclient.exe"} {
		mux.HandleFunc("GET "+path, s.serve)
		mux.HandleFunc("POST "+path, s.serve)
	}
	return tracing.HTTP(metrics.HTTP(runProtocol, route, s.Logger, enroll.NewRateLimit(s.Limits.Rate, s.Limits.Burst).Wrap(enroll.RecoverPanics(s.Logger, protocol, mux))))
}

// operations are SCEP's operations, as its requests' routes name them.
var operations = map[string]bool{"GetCACaps": true, "GetCACert": true, "GetNextCACert": true, "PKIOperation": true}

// route names a request for metrics by its path pattern and operation.
func route(r *http.Request) string {
	op := r.URL.Query().Get("operation")
	if !operations[op] {
		op = "other"
	}
	return r.Pattern + "?operation=" + op
}

// serve dispatches on the operation parameter, and answers an error that
// is no CertRep as text: a refusal by its kind, anything else as an opaque
// 500 with the cause logged.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	err := s.operation(w, r)
	if err == nil {
		return
	}
	if unavailable := db.Unavailable(err); unavailable != nil {
		err = unavailable
	}
	var bad malformed
	kinded, _ := errkind.As(err)
	switch {
	case errors.As(err, &bad):
		s.Logger.Info("SCEP: malformed request", "path", r.URL.Path, "client", enroll.ClientIP(r), "error", err)
		enroll.WriteText(w, http.StatusBadRequest, bad.Error())
	case kinded.Kind() != 0 && kinded.Kind() != errkind.KindUnavailable:
		enroll.WriteText(w, kinded.Kind().Status(), kinded.Message())
	case kinded.Kind() == errkind.KindUnavailable:
		s.Logger.Warn("SCEP: a dependency is unavailable", "path", r.URL.Path, "error", err)
		w.Header().Set("Retry-After", "60")
		enroll.WriteText(w, http.StatusServiceUnavailable, kinded.Message())
	default:
		s.Logger.Error("SCEP request failed", "path", r.URL.Path, "error", err)
		enroll.WriteText(w, http.StatusInternalServerError, "internal error")
	}
}

func (s *Server) operation(w http.ResponseWriter, r *http.Request) error {
	op := r.URL.Query().Get("operation")
	if r.Method == http.MethodPost && op != "PKIOperation" {
		return errkind.Invalid("operation", "POST is for operation=PKIOperation, not %q", op)
	}
	switch op {
	case "GetCACaps":
		l, err := s.label(r)
		if err != nil {
			return err
		}
		answer := caps
		if next, err := nextCA(r.Context(), l); err == nil && len(next) > 0 {
			answer += "GetNextCACert\n"
		}
		write(w, "text/plain", []byte(answer))
		return nil
	case "GetCACert":
		return s.caCert(w, r)
	case "PKIOperation":
		return s.pkiOperation(w, r)
	case "GetNextCACert":
		return s.nextCACert(w, r)
	}
	return errkind.Invalid("operation", "unknown SCEP operation %q; want GetCACaps, GetCACert or PKIOperation", op)
}

// label resolves the request's label and checks that it serves SCEP.
func (s *Server) label(r *http.Request) (enroll.Label, error) {
	l, err := s.Label(r.Context(), protocol, r.PathValue("label"), enroll.ClientIP(r))
	if err != nil {
		return l, err
	}
	if !l.Row.ScepEnabled {
		return l, errkind.NotFound("label %q does not serve SCEP", l.Row.Label)
	}
	return l, nil
}

// caCert answers the RA certificate first, then the CA chain: the built-in
// CA's, which issues the RA, and the label's CA's when that is another.
func (s *Server) caCert(w http.ResponseWriter, r *http.Request) error {
	l, err := s.label(r)
	if err != nil {
		return err
	}
	ras, err := s.RAs.Current(r.Context())
	if err != nil {
		return err
	}
	raChain, err := s.RAs.Issuer.CACertificates(r.Context())
	if err != nil {
		return err
	}
	labelChain, err := ca.Published(r.Context(), l.CA)
	if err != nil {
		return err
	}
	var der []byte
	seen := map[string]bool{}
	for _, c := range append(append(raChain[:0:0], ras[0].cert), append(raChain, labelChain...)...) {
		if !seen[string(c.Raw)] {
			seen[string(c.Raw)] = true
			der = append(der, c.Raw...)
		}
	}
	body, err := pkcs7.DegenerateCertificate(der)
	if err != nil {
		return err
	}
	write(w, typeCACerts, body)
	return nil
}

// nextCA is the CA taking over from the label's, with its chain, during a
// rollover; none otherwise.
func nextCA(ctx context.Context, l enroll.Label) ([]*x509.Certificate, error) {
	driver, ok := l.CA.(ca.NextCA)
	if !ok {
		return nil, nil
	}
	return driver.NextCACertificates(ctx)
}

// nextCACert answers GetNextCACert (RFC 8894 §4.7): the next CA's
// certificates in a SignedData signed by the RA, so that a client that
// trusts the current chain can trust the next one before it issues.
func (s *Server) nextCACert(w http.ResponseWriter, r *http.Request) error {
	l, err := s.label(r)
	if err != nil {
		return err
	}
	next, err := nextCA(r.Context(), l)
	if err != nil {
		return err
	}
	if len(next) == 0 {
		return errkind.NotFound("there is no next CA certificate: no CA rollover is under way")
	}
	ras, err := s.RAs.Current(r.Context())
	if err != nil {
		return err
	}
	signed, err := pkcs7.NewSignedData(nil)
	if err != nil {
		return err
	}
	if err := signed.AddSigner(ras[0].cert, ras[0].key, pkcs7.SignerInfoConfig{}); err != nil {
		return fmt.Errorf("sign GetNextCACert: %w", err)
	}
	for _, c := range next {
		signed.AddCertificate(c)
	}
	body, err := signed.Finish()
	if err != nil {
		return fmt.Errorf("sign GetNextCACert: %w", err)
	}
	write(w, typeNextCACert, body)
	return nil
}

// message reads a PKIOperation's pkiMessage: the body of a POST, or the
// base64 message parameter of a GET.
func (s *Server) message(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Method == http.MethodGet {
		param := r.URL.Query().Get("message")
		if int64(len(param)) > s.Limits.MaxBody*4/3+4 {
			return nil, errkind.TooLarge("the message is over %d bytes", s.Limits.MaxBody)
		}
		// Clients differ: standard base64 URL-escaped (a '+' may arrive as
		// a space), or URL-safe base64, padded or not.
		param = strings.NewReplacer(" ", "+", "-", "+", "_", "/", "\r", "", "\n", "").Replace(param)
		der, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(param, "="))
		if err != nil {
			return nil, malformed{fmt.Errorf("the message parameter is not base64: %w", err)}
		}
		return der, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.Limits.MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, errkind.TooLarge("the message is over %d bytes", s.Limits.MaxBody)
	}
	if err != nil {
		return nil, malformed{fmt.Errorf("read the body: %w", err)}
	}
	return body, nil
}

func write(w http.ResponseWriter, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body) //nolint:errcheck // the client has gone
}
