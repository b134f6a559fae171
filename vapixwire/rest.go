// Package vapixwire is the wire format of the Axis VAPIX calls certfleet
// makes, shared by the axis device driver and the simulated Axis cameras:
// the Certificate Management API (Device Configuration REST, cert.v1) for
// keys, CSRs, certificates and CA certificates, and the SOAP web services at
// /vapix/services that bind a certificate to HTTPS (Axis web server
// service) and to IEEE 802.1X (ONVIF device service), and the MQTT client API
// (mqtt.go) that binds one to the MQTT client. docs/vapix.md lists the
// calls in the order the driver makes them, and where they are documented.
package vapixwire

import (
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/certfleet/certfleet/pki"
)

// Paths below the camera's base URL.
const (
	CertAPI               = "/config/rest/cert/v1"
	PathCertificates      = CertAPI + "/certificates"       // GET: list certificates with private keys
	PathCreateCertificate = CertAPI + "/create_certificate" // POST: new key on the device and a self-signed certificate for it
	PathCACertificates    = CertAPI + "/ca_certificates"    // GET: list; POST: add a CA certificate
	PathServices          = "/vapix/services"               // SOAP 1.2 web services
)

// PathCertificate is one certificate with private key: GET reads it, PATCH
// replaces its certificate (same key), DELETE removes it and its key.
func PathCertificate(alias string) string { return PathCertificates + "/" + url.PathEscape(alias) }

// PathGetCSR is the CSR of the key of a certificate (POST).
func PathGetCSR(alias string) string { return PathCertificate(alias) + "/get_csr" }

// PathCACertificate is one CA certificate (GET, DELETE).
func PathCACertificate(alias string) string { return PathCACertificates + "/" + url.PathEscape(alias) }

// Status values of a REST answer.
const (
	StatusSuccess = "success"
	StatusError   = "error"
)

// Request is the envelope of a REST request body.
type Request[T any] struct {
	Data T `json:"data"`
}

// Response is the envelope of a REST answer: status, then data on success
// or error on failure.
type Response[T any] struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Status     string `json:"status"`
	Data       T      `json:"data,omitempty"`
	Error      *Error `json:"error,omitempty"`
}

// Error is a REST error.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("VAPIX error %d: %s", e.Code, e.Message) }

// Error codes the simulator answers with (the HTTP status of the answer is
// the code's class: 4xx refusals, 503 busy).
const (
	CodeInvalidParameter = 2100 // malformed request or parameter
	CodeNotFound         = 2104 // no such certificate or CA certificate
	CodeAlreadyExists    = 2105 // alias taken
	CodeKeyMismatch      = 2106 // the certificate is not for the key of the alias
	CodeRefused          = 2107 // the device refuses the operation
	CodeBusy             = 2200 // try again later
)

// Certificate is a certificate with private key on the device.
type Certificate struct {
	Alias       string `json:"alias"`
	Certificate string `json:"certificate"` // PEM
	Keystore    string `json:"keystore,omitempty"`
}

// CACertificate is a CA certificate on the device (never with a key).
type CACertificate struct {
	Alias       string `json:"alias"`
	Certificate string `json:"certificate"` // PEM
}

// CreateCertificate asks for a new key pair, made and kept on the device,
// with a self-signed certificate for it. The CSR of that key is then read
// with get_csr, and the CA's certificate replaces the self-signed one.
type CreateCertificate struct {
	Alias           string   `json:"alias"`
	KeyType         string   `json:"key_type"`
	Keystore        string   `json:"keystore,omitempty"`          // empty: the device's default
	Subject         string   `json:"subject"`                     // RFC 4514 string, e.g. "CN=cam-1,O=Example"
	SubjectAltNames []string `json:"subject_alt_names,omitempty"` // "DNS:name" or "IP:address"
	ValidFrom       int64    `json:"valid_from,omitempty"`        // Unix seconds, of the self-signed certificate
	ValidTo         int64    `json:"valid_to,omitempty"`
}

// GetCSR is the body of get_csr: empty, the CSR takes the subject and SANs
// of the self-signed certificate.
type GetCSR struct{}

// ReplaceCertificate is the body of PATCH certificates/{alias}: a
// certificate for the alias's key.
type ReplaceCertificate struct {
	Certificate string `json:"certificate"` // PEM
}

// Key types of create_certificate.
const (
	KeyRSA2048 = "RSA-2048"
	KeyRSA3072 = "RSA-3072"
	KeyRSA4096 = "RSA-4096"
	KeyECP256  = "EC-P256"
	KeyECP384  = "EC-P384"
)

// KeyType is the key_type of a key spec, or false for one Axis cameras do not make.
func KeyType(spec pki.KeySpec) (string, bool) {
	switch spec {
	case pki.KeySpec{Algorithm: "rsa", Size: 2048}:
		return KeyRSA2048, true
	case pki.KeySpec{Algorithm: "rsa", Size: 3072}:
		return KeyRSA3072, true
	case pki.KeySpec{Algorithm: "rsa", Size: 4096}:
		return KeyRSA4096, true
	case pki.KeySpec{Algorithm: "ecdsa", Size: 256}:
		return KeyECP256, true
	case pki.KeySpec{Algorithm: "ecdsa", Size: 384}:
		return KeyECP384, true
	}
	return "", false
}

// KeySpecOf is the key spec of a key_type.
func KeySpecOf(keyType string) (pki.KeySpec, bool) {
	for _, spec := range []pki.KeySpec{{Algorithm: "rsa", Size: 2048}, {Algorithm: "rsa", Size: 3072}, {Algorithm: "rsa", Size: 4096}, {Algorithm: "ecdsa", Size: 256}, {Algorithm: "ecdsa", Size: 384}} {
		if kt, _ := KeyType(spec); kt == keyType {
			return spec, true
		}
	}
	return pki.KeySpec{}, false
}

// FormatSubject writes a CSR subject as the subject string of create_certificate.
func FormatSubject(s pki.CSRSubject) string {
	name := pkix.Name{CommonName: s.CommonName, SerialNumber: s.SerialNumber}
	if s.Organization != "" {
		name.Organization = []string{s.Organization}
	}
	if s.OrganizationalUnit != "" {
		name.OrganizationalUnit = []string{s.OrganizationalUnit}
	}
	if s.Country != "" {
		name.Country = []string{s.Country}
	}
	return name.String()
}

// ParseSubject reads a subject string: comma-separated TYPE=value with
// backslash escapes, of the types C, O, OU, CN, SERIALNUMBER, L, ST.
func ParseSubject(s string) (pkix.Name, error) {
	var name pkix.Name
	if strings.TrimSpace(s) == "" {
		return name, errors.New("empty subject")
	}
	for _, rdn := range splitUnescaped(s, ',') {
		typ, value, ok := strings.Cut(rdn, "=")
		if !ok {
			return name, fmt.Errorf("subject part %q is not TYPE=value", rdn)
		}
		value, err := unescape(value)
		if err != nil {
			return name, err
		}
		if value == "" || len(value) > 256 {
			return name, fmt.Errorf("subject %s: empty or longer than 256 bytes", typ)
		}
		switch strings.ToUpper(strings.TrimSpace(typ)) {
		case "CN":
			name.CommonName = value
		case "O":
			name.Organization = append(name.Organization, value)
		case "OU":
			name.OrganizationalUnit = append(name.OrganizationalUnit, value)
		case "C":
			name.Country = append(name.Country, value)
		case "L":
			name.Locality = append(name.Locality, value)
		case "ST":
			name.Province = append(name.Province, value)
		case "SERIALNUMBER":
			name.SerialNumber = value
		default:
			return name, fmt.Errorf("subject attribute %q is not supported", typ)
		}
	}
	return name, nil
}

func splitUnescaped(s string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			if i+1 >= len(s) {
				return "", errors.New("subject ends in a lone backslash")
			}
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String(), nil
}

// FormatSANs writes DNS and IP SANs as subject_alt_names; the API takes no
// other kinds.
func FormatSANs(sans pki.CSRSANs) ([]string, error) {
	if len(sans.Email) > 0 || len(sans.URI) > 0 {
		return nil, errors.New("Axis create_certificate takes DNS and IP subject alternative names only, not email or URI")
	}
	var out []string
	for _, d := range sans.DNS {
		out = append(out, "DNS:"+d)
	}
	for _, ip := range sans.IP {
		out = append(out, "IP:"+ip)
	}
	return out, nil
}

// DecodeResponse reads a REST answer body into a Response; a body that is not
// one is an error.
func DecodeResponse[T any](body []byte) (*Response[T], error) {
	var r Response[T]
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("malformed VAPIX answer: %w", err)
	}
	switch r.Status {
	case StatusSuccess:
		return &r, nil
	case StatusError:
		if r.Error == nil {
			return nil, errors.New("VAPIX error answer without error")
		}
		return &r, nil
	}
	return nil, fmt.Errorf("VAPIX answer with status %q", r.Status)
}
