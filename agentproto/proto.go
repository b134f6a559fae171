// Package agentproto is the device agent protocol (docs/agent-protocol.md):
// HTTPS with JSON and PEM, a bearer credential on every call, and three
// operations: make a CSR, install a chain, read the current certificate. It
// holds the wire types and the server side, which the Linux agent
// (deviceagent) and the simulated fleet (devicesim) share; certfleet's client
// is drivers/device/agent.
package agentproto

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"

	"github.com/certfleet/certfleet/pki"
)

// Operation paths, below a device's base URL.
const (
	PathCSR     = "/v1/csr"
	PathInstall = "/v1/install"
	PathCurrent = "/v1/current"
)

// CSRResponse carries the CSR in PEM.
type CSRResponse struct {
	CSR string `json:"csr"`
}

// InstallRequest carries the chain to install, leaf first, in PEM, and the
// CA certificates the device must trust for the certificate's use (the
// RADIUS server's CA for 802.1X, say), in PEM, when its profile names any.
type InstallRequest struct {
	CertType string `json:"cert_type"`
	Chain    string `json:"chain"`
	Trust    string `json:"trust,omitempty"`
}

// InstallResponse confirms an install.
type InstallResponse struct {
	SHA256   string `json:"sha256"`
	Reloaded bool   `json:"reloaded"`
}

// CurrentResponse carries the installed chain, leaf first, in PEM.
type CurrentResponse struct {
	Chain string `json:"chain"`
}

// ErrorResponse is the body of every refusal.
type ErrorResponse struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Error codes. The driver maps them to transient or permanent errors.
const (
	CodeUnauthorized    = "unauthorized"     // 401: missing or wrong credential (permanent)
	CodeBadRequest      = "bad_request"      // 400: malformed JSON or PEM (permanent)
	CodeUnsupportedKey  = "unsupported_key"  // 422: the device cannot make such a key (permanent)
	CodeCSRFailed       = "csr_failed"       // 422: the device failed to make a CSR (permanent)
	CodeNoPendingKey    = "no_pending_key"   // 409: install without a CSR first (permanent)
	CodeKeyMismatch     = "key_mismatch"     // 422: the certificate is not for the pending key (permanent)
	CodeInstallRejected = "install_rejected" // 422: the device refused the certificate, e.g. its reload failed (permanent)
	CodeNotFound        = "not_found"        // 404: no such device, or no certificate
	CodeBusy            = "busy"             // 503: try again later (transient)
)

// Error is a refusal, with the HTTP status it is sent with.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.Status, e.Message) }

// Refuse builds an Error.
func Refuse(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Backend is a device, or a fleet of them, behind the protocol. deviceID is
// empty for an agent that is one device.
type Backend interface {
	GenerateCSR(ctx context.Context, deviceID string, req pki.CSRRequest) ([]byte, error)
	Install(ctx context.Context, deviceID, certType string, chain, trust []*x509.Certificate) (reloaded bool, err error)
	// Current returns the installed chain, leaf first, or nil.
	Current(ctx context.Context, deviceID, certType string) ([]*x509.Certificate, error)
}

// Authenticator reports whether credential is deviceID's.
type Authenticator func(deviceID, credential string) bool

// Register serves the protocol on mux below prefix: "" for an agent,
// "/devices/{id}" for a fleet, where {id} is the device ID.
func Register(mux *http.ServeMux, prefix string, backend Backend, auth Authenticator) {
	s := server{backend: backend, auth: auth}
	mux.HandleFunc("POST "+prefix+PathCSR, s.authenticated(s.csr))
	mux.HandleFunc("POST "+prefix+PathInstall, s.authenticated(s.install))
	mux.HandleFunc("GET "+prefix+PathCurrent, s.authenticated(s.current))
}
