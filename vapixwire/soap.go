package vapixwire

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
)

// XML namespaces of the SOAP calls.
const (
	NSEnvelope  = "http://www.w3.org/2003/05/soap-envelope" // SOAP 1.2
	NSWebServer = "http://www.axis.com/vapix/ws/webserver"  // Axis web server service (aweb)
	NSCert      = "http://www.axis.com/vapix/ws/cert"       // Axis certificate types (acert)
	NSDevice    = "http://www.onvif.org/ver10/device/wsdl"  // ONVIF device service (tds)
	NSSchema    = "http://www.onvif.org/ver10/schema"       // ONVIF types (tt)
)

// SOAPContentType is the content type of SOAP 1.2 requests and answers.
const SOAPContentType = `application/soap+xml; charset=utf-8`

// Dot1XWiredToken is the token of the wired IEEE 802.1X (EAP-TLS)
// configuration of Axis devices.
const Dot1XWiredToken = "EAPTLS_WIRED"

// EAPMethodTLS is the EAP method number of EAP-TLS (RFC 3748).
const EAPMethodTLS = 13

// Envelope is a SOAP 1.2 envelope as read; Body holds the one operation sent.
type Envelope struct {
	XMLName xml.Name `xml:"http://www.w3.org/2003/05/soap-envelope Envelope"`
	Body    Body     `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
}

// Body is the body of an envelope: exactly one field is set.
type Body struct {
	GetWebServerTlsConfiguration         *GetWebServerTlsConfiguration         `xml:"http://www.axis.com/vapix/ws/webserver GetWebServerTlsConfiguration,omitempty"`
	GetWebServerTlsConfigurationResponse *GetWebServerTlsConfigurationResponse `xml:"http://www.axis.com/vapix/ws/webserver GetWebServerTlsConfigurationResponse,omitempty"`
	SetWebServerTlsConfiguration         *SetWebServerTlsConfiguration         `xml:"http://www.axis.com/vapix/ws/webserver SetWebServerTlsConfiguration,omitempty"`
	SetWebServerTlsConfigurationResponse *Empty                                `xml:"http://www.axis.com/vapix/ws/webserver SetWebServerTlsConfigurationResponse,omitempty"`
	GetDot1XConfiguration                *GetDot1XConfiguration                `xml:"http://www.onvif.org/ver10/device/wsdl GetDot1XConfiguration,omitempty"`
	GetDot1XConfigurationResponse        *GetDot1XConfigurationResponse        `xml:"http://www.onvif.org/ver10/device/wsdl GetDot1XConfigurationResponse,omitempty"`
	SetDot1XConfiguration                *SetDot1XConfiguration                `xml:"http://www.onvif.org/ver10/device/wsdl SetDot1XConfiguration,omitempty"`
	SetDot1XConfigurationResponse        *Empty                                `xml:"http://www.onvif.org/ver10/device/wsdl SetDot1XConfigurationResponse,omitempty"`
	Fault                                *Fault                                `xml:"http://www.w3.org/2003/05/soap-envelope Fault,omitempty"`
}

// Empty is an operation or answer without content.
type Empty struct{}

// GetWebServerTlsConfiguration reads the HTTPS configuration.
type GetWebServerTlsConfiguration struct{}

// GetWebServerTlsConfigurationResponse is the HTTPS configuration.
type GetWebServerTlsConfigurationResponse struct {
	Configuration WebServerTlsConfiguration `xml:"http://www.axis.com/vapix/ws/webserver Configuration"`
}

// SetWebServerTlsConfiguration replaces the HTTPS configuration; the driver
// reads it first and changes only the certificate.
type SetWebServerTlsConfiguration struct {
	Configuration WebServerTlsConfiguration `xml:"http://www.axis.com/vapix/ws/webserver Configuration"`
}

// WebServerTlsConfiguration is the web server's TLS setup.
type WebServerTlsConfiguration struct {
	Tls                bool                `xml:"http://www.axis.com/vapix/ws/webserver Tls"`
	ConnectionPolicies *ConnectionPolicies `xml:"http://www.axis.com/vapix/ws/webserver ConnectionPolicies,omitempty"`
	Ciphers            *Ciphers            `xml:"http://www.axis.com/vapix/ws/webserver Ciphers,omitempty"`
	CertificateSet     CertificateSet      `xml:"http://www.axis.com/vapix/ws/webserver CertificateSet"`
}

// ConnectionPolicies say which users must use HTTPS.
type ConnectionPolicies struct {
	Admin    string `xml:"http://www.axis.com/vapix/ws/webserver Admin,omitempty"`
	Operator string `xml:"http://www.axis.com/vapix/ws/webserver Operator,omitempty"`
	Viewer   string `xml:"http://www.axis.com/vapix/ws/webserver Viewer,omitempty"`
}

// Ciphers are the TLS cipher suites enabled.
type Ciphers struct {
	Cipher []string `xml:"http://www.axis.com/vapix/ws/cert Cipher"`
}

// CertificateSet names certificates by ID (the alias of the REST API).
type CertificateSet struct {
	Certificates        IDs `xml:"http://www.axis.com/vapix/ws/cert Certificates"`
	CACertificates      IDs `xml:"http://www.axis.com/vapix/ws/cert CACertificates"`
	TrustedCertificates IDs `xml:"http://www.axis.com/vapix/ws/cert TrustedCertificates"`
}

// IDs is a list of certificate IDs.
type IDs struct {
	ID []string `xml:"http://www.axis.com/vapix/ws/cert Id"`
}

// GetDot1XConfiguration reads an IEEE 802.1X configuration by token.
type GetDot1XConfiguration struct {
	Dot1XConfigurationToken string `xml:"http://www.onvif.org/ver10/device/wsdl Dot1XConfigurationToken"`
}

// GetDot1XConfigurationResponse is an IEEE 802.1X configuration.
type GetDot1XConfigurationResponse struct {
	Dot1XConfiguration Dot1XConfiguration `xml:"http://www.onvif.org/ver10/device/wsdl Dot1XConfiguration"`
}

// SetDot1XConfiguration replaces an IEEE 802.1X configuration.
type SetDot1XConfiguration struct {
	Dot1XConfiguration Dot1XConfiguration `xml:"http://www.onvif.org/ver10/device/wsdl Dot1XConfiguration"`
}

// Dot1XConfiguration is ONVIF's tt:Dot1XConfiguration.
type Dot1XConfiguration struct {
	Dot1XConfigurationToken string                  `xml:"http://www.onvif.org/ver10/schema Dot1XConfigurationToken"`
	Identity                string                  `xml:"http://www.onvif.org/ver10/schema Identity"`
	AnonymousID             string                  `xml:"http://www.onvif.org/ver10/schema AnonymousID,omitempty"`
	EAPMethod               int                     `xml:"http://www.onvif.org/ver10/schema EAPMethod"`
	CACertificateID         []string                `xml:"http://www.onvif.org/ver10/schema CACertificateID,omitempty"`
	EAPMethodConfiguration  *EAPMethodConfiguration `xml:"http://www.onvif.org/ver10/schema EAPMethodConfiguration,omitempty"`
}

// EAPMethodConfiguration holds the EAP-TLS client certificate.
type EAPMethodConfiguration struct {
	TLSConfiguration *TLSConfiguration `xml:"http://www.onvif.org/ver10/schema TLSConfiguration,omitempty"`
}

// TLSConfiguration names the client certificate of EAP-TLS.
type TLSConfiguration struct {
	CertificateID string `xml:"http://www.onvif.org/ver10/schema CertificateID"`
}

// Fault is a SOAP 1.2 fault.
type Fault struct {
	Code   FaultCode   `xml:"http://www.w3.org/2003/05/soap-envelope Code"`
	Reason FaultReason `xml:"http://www.w3.org/2003/05/soap-envelope Reason"`
}

// FaultCode is env:Sender (the request is at fault) or env:Receiver, with
// an optional subcode.
type FaultCode struct {
	Value   string     `xml:"http://www.w3.org/2003/05/soap-envelope Value"`
	Subcode *FaultCode `xml:"http://www.w3.org/2003/05/soap-envelope Subcode,omitempty"`
}

// FaultReason is the human-readable reason.
type FaultReason struct {
	Text string `xml:"http://www.w3.org/2003/05/soap-envelope Text"`
}

func (f *Fault) Error() string {
	code := f.Code.Value
	if f.Code.Subcode != nil {
		code += "/" + f.Code.Subcode.Value
	}
	return fmt.Sprintf("SOAP fault %s: %s", code, f.Reason.Text)
}

// Sender reports whether the fault blames the request (a refusal).
func (f *Fault) Sender() bool { return f.Code.Value == "env:Sender" || f.Code.Value == "Sender" }

// MarshalEnvelope wraps one operation in a SOAP 1.2 envelope. The env
// prefix is declared so that fault codes (QNames) resolve.
func MarshalEnvelope(body Body) ([]byte, error) {
	inner, err := xml.Marshal(body)
	if err != nil {
		return nil, err
	}
	// xml.Marshal(body) writes <Body xmlns="…envelope">…</Body>; keep only its content.
	start := bytes.IndexByte(inner, '>')
	end := bytes.LastIndex(inner, []byte("</Body>"))
	if start < 0 || end < start {
		return nil, errors.New("marshal SOAP body")
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<env:Envelope xmlns:env="` + NSEnvelope + `"><env:Body>`)
	b.Write(inner[start+1 : end])
	b.WriteString(`</env:Body></env:Envelope>`)
	return b.Bytes(), nil
}

// UnmarshalEnvelope reads an envelope. Exactly one operation or a fault must be in its body.
func UnmarshalEnvelope(data []byte) (*Envelope, error) {
	var env Envelope
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("malformed SOAP envelope: %w", err)
	}
	if n := env.Body.count(); n != 1 {
		return nil, fmt.Errorf("SOAP body holds %d known operations, want 1", n)
	}
	return &env, nil
}

func (b Body) count() int {
	n := 0
	for _, set := range []bool{
		b.GetWebServerTlsConfiguration != nil, b.GetWebServerTlsConfigurationResponse != nil,
		b.SetWebServerTlsConfiguration != nil, b.SetWebServerTlsConfigurationResponse != nil,
		b.GetDot1XConfiguration != nil, b.GetDot1XConfigurationResponse != nil,
		b.SetDot1XConfiguration != nil, b.SetDot1XConfigurationResponse != nil,
		b.Fault != nil,
	} {
		if set {
			n++
		}
	}
	return n
}

// SenderFault is a fault blaming the request.
func SenderFault(subcode, reason string) Body {
	return Body{Fault: &Fault{
		Code:   FaultCode{Value: "env:Sender", Subcode: &FaultCode{Value: subcode}},
		Reason: FaultReason{Text: reason},
	}}
}
