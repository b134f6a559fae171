// Package onvifwire is the wire format shared by the ONVIF device driver
// (drivers/device/onvif) and the simulated ONVIF cameras (devicesim/onvif):
// the SOAP 1.2 envelope, the WS-Security UsernameToken with a password digest,
// SOAP 1.2 faults with ONVIF subcodes, and the request and response elements
// of the device management and Advanced Security operations certfleet uses.
package onvifwire

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Namespaces.
const (
	NSEnv  = "http://www.w3.org/2003/05/soap-envelope"
	NSTds  = "http://www.onvif.org/ver10/device/wsdl"
	NSTas  = "http://www.onvif.org/ver10/advancedsecurity/wsdl"
	NSTt   = "http://www.onvif.org/ver10/schema"
	NSTer  = "http://www.onvif.org/ver10/error"
	NSWsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	NSWsu  = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"

	// PasswordDigestType is the UsernameToken password type of a digest.
	PasswordDigestType = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
	// Base64EncodingType is the nonce's encoding.
	Base64EncodingType = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"

	// ContentType is SOAP 1.2's media type.
	ContentType = "application/soap+xml"
	// MaxMessage bounds every message read, request or answer.
	MaxMessage = 4 << 20
)

// Action is the SOAP action URI of operation op of the service in namespace ns.
func Action(ns, op string) string { return ns + "/" + op }

// ContentTypeFor is the Content-Type of a request carrying action.
func ContentTypeFor(action string) string {
	return ContentType + `; charset=utf-8; action="` + action + `"`
}

// Security is the WS-Security header with a UsernameToken.
type Security struct {
	XMLName       xml.Name      `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd Security"`
	UsernameToken UsernameToken `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd UsernameToken"`
}

// UsernameToken carries a username and a password digest, never the password.
type UsernameToken struct {
	Username string   `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd Username"`
	Password Password `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd Password"`
	Nonce    Nonce    `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd Nonce"`
	Created  string   `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Created"`
}

// Password is the digest and its type.
type Password struct {
	Type  string `xml:"Type,attr"`
	Value string `xml:",chardata"`
}

// Nonce is the base64 nonce.
type Nonce struct {
	EncodingType string `xml:"EncodingType,attr,omitempty"`
	Value        string `xml:",chardata"`
}

// Digest is Base64(SHA1(nonce + created + password)).
func Digest(nonce []byte, created, password string) string {
	h := sha1.New()
	h.Write(nonce)
	h.Write([]byte(created))
	h.Write([]byte(password))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// NewSecurity makes a UsernameToken with a fresh nonce, created now.
func NewSecurity(username, password string, now time.Time) (*Security, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	created := now.UTC().Format("2006-01-02T15:04:05.000Z")
	return &Security{UsernameToken: UsernameToken{
		Username: username,
		Password: Password{Type: PasswordDigestType, Value: Digest(nonce, created, password)},
		Nonce:    Nonce{EncodingType: Base64EncodingType, Value: base64.StdEncoding.EncodeToString(nonce)},
		Created:  created,
	}}, nil
}

// ErrNotAuthorized is a UsernameToken that does not prove the account's password.
var ErrNotAuthorized = errors.New("the UsernameToken is missing or does not match the account")

// Verify checks the token against the account: a password digest of the
// password, with a creation time within maxSkew of now.
func (s *Security) Verify(username, password string, now time.Time, maxSkew time.Duration) error {
	if s == nil {
		return ErrNotAuthorized
	}
	t := s.UsernameToken
	if t.Password.Type != PasswordDigestType {
		return ErrNotAuthorized
	}
	nonce, err := base64.StdEncoding.DecodeString(strings.TrimSpace(t.Nonce.Value))
	if err != nil || len(nonce) == 0 {
		return ErrNotAuthorized
	}
	created, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(t.Created))
	if err != nil || created.Sub(now) > maxSkew || now.Sub(created) > maxSkew {
		return ErrNotAuthorized
	}
	want := Digest(nonce, t.Created, password)
	userOK := subtle.ConstantTimeCompare([]byte(t.Username), []byte(username))
	digestOK := subtle.ConstantTimeCompare([]byte(strings.TrimSpace(t.Password.Value)), []byte(want))
	if userOK&digestOK != 1 {
		return ErrNotAuthorized
	}
	return nil
}

// Fault is a SOAP 1.2 fault: a code (Sender or Receiver), ONVIF subcodes
// from the most general to the most specific, and a reason.
type Fault struct {
	Code     string   // "Sender", "Receiver", "VersionMismatch", "MustUnderstand"
	Subcodes []string // local names in the ter namespace, e.g. "InvalidArgVal", "KeyID"
	Reason   string
}

// Fault codes.
const (
	Sender   = "Sender"
	Receiver = "Receiver"
)

func (f *Fault) Error() string {
	s := "SOAP fault env:" + f.Code
	for _, sc := range f.Subcodes {
		s += "/ter:" + sc
	}
	if f.Reason != "" {
		s += ": " + f.Reason
	}
	return s
}

// Has reports whether subcode is among the fault's subcodes.
func (f *Fault) Has(subcode string) bool {
	for _, sc := range f.Subcodes {
		if sc == subcode {
			return true
		}
	}
	return false
}

// Faults the ONVIF core specification names.
func NotAuthorized() *Fault {
	return &Fault{Code: Sender, Subcodes: []string{"NotAuthorized"}, Reason: "Sender not Authorized"}
}

// InvalidArgVal is a request argument the device refuses.
func InvalidArgVal(detail, reason string, args ...any) *Fault {
	subcodes := []string{"InvalidArgVal"}
	if detail != "" {
		subcodes = append(subcodes, detail)
	}
	return &Fault{Code: Sender, Subcodes: subcodes, Reason: fmt.Sprintf(reason, args...)}
}

// Marshal writes an envelope with an optional security header around body,
// which is an operation element or a *Fault.
func Marshal(security *Security, body any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	buf.WriteString(`<env:Envelope xmlns:env="` + NSEnv + `" xmlns:ter="` + NSTer + `">`)
	if security != nil {
		buf.WriteString(`<env:Header>`)
		data, err := xml.Marshal(security)
		if err != nil {
			return nil, err
		}
		buf.Write(data)
		buf.WriteString(`</env:Header>`)
	}
	buf.WriteString(`<env:Body>`)
	if f, ok := body.(*Fault); ok {
		writeFault(&buf, f)
	} else {
		data, err := xml.Marshal(body)
		if err != nil {
			return nil, err
		}
		buf.Write(data)
	}
	buf.WriteString(`</env:Body></env:Envelope>`)
	return buf.Bytes(), nil
}

func writeFault(buf *bytes.Buffer, f *Fault) {
	buf.WriteString(`<env:Fault><env:Code><env:Value>env:` + f.Code + `</env:Value>`)
	for _, sc := range f.Subcodes {
		buf.WriteString(`<env:Subcode><env:Value>ter:` + sc + `</env:Value>`)
	}
	for range f.Subcodes {
		buf.WriteString(`</env:Subcode>`)
	}
	buf.WriteString(`</env:Code><env:Reason><env:Text xml:lang="en">`)
	_ = xml.EscapeText(buf, []byte(f.Reason))
	buf.WriteString(`</env:Text></env:Reason></env:Fault>`)
}

// faultXML is a fault as read.
type faultXML struct {
	Code   codeXML `xml:"http://www.w3.org/2003/05/soap-envelope Code"`
	Reason struct {
		Text []string `xml:"http://www.w3.org/2003/05/soap-envelope Text"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Reason"`
}

type codeXML struct {
	Value   string   `xml:"http://www.w3.org/2003/05/soap-envelope Value"`
	Subcode *codeXML `xml:"http://www.w3.org/2003/05/soap-envelope Subcode"`
}

// localName strips a QName's prefix.
func localName(qname string) string {
	qname = strings.TrimSpace(qname)
	if i := strings.LastIndexByte(qname, ':'); i >= 0 {
		return qname[i+1:]
	}
	return qname
}

// FaultName is the element of a fault in a body.
var FaultName = xml.Name{Space: NSEnv, Local: "Fault"}

// ErrVersionMismatch is an envelope that is not SOAP 1.2's.
var ErrVersionMismatch = errors.New("not a SOAP 1.2 envelope")

// Envelope is what Unmarshal read: the security header if any, the name of
// the body's element, and the fault when the body is one.
type Envelope struct {
	Security *Security
	Op       xml.Name
	Fault    *Fault
}

// Unmarshal reads a SOAP 1.2 envelope. pick returns where to decode the body
// element of the name given (nil to refuse it with an error); a fault is
// decoded into Envelope.Fault without asking. The body must hold exactly one
// element.
func Unmarshal(data []byte, pick func(op xml.Name) (any, error)) (*Envelope, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	start, err := nextStart(dec)
	if err != nil {
		return nil, err
	}
	if start.Name.Local != "Envelope" {
		return nil, fmt.Errorf("root element is %s, want Envelope", start.Name.Local)
	}
	if start.Name.Space != NSEnv {
		return nil, ErrVersionMismatch
	}
	env := &Envelope{}
	sawBody := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("malformed envelope: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Space == NSEnv && t.Name.Local == "Header" && !sawBody && env.Security == nil:
				var header struct {
					Security *Security `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd Security"`
				}
				if err := dec.DecodeElement(&header, &t); err != nil {
					return nil, fmt.Errorf("malformed header: %w", err)
				}
				env.Security = header.Security
			case t.Name.Space == NSEnv && t.Name.Local == "Body" && !sawBody:
				sawBody = true
				if err := readBody(dec, env, pick); err != nil {
					return nil, err
				}
			default:
				return nil, fmt.Errorf("unexpected element %s in envelope", t.Name.Local)
			}
		case xml.EndElement:
			if !sawBody {
				return nil, errors.New("envelope has no body")
			}
			// Nothing but whitespace, comments and processing instructions may follow.
			for {
				tok, err := dec.Token()
				if err == io.EOF {
					return env, nil
				}
				if err != nil {
					return nil, fmt.Errorf("malformed envelope: %w", err)
				}
				if cd, ok := tok.(xml.CharData); ok && len(bytes.TrimSpace(cd)) == 0 {
					continue
				}
				if _, ok := tok.(xml.StartElement); ok {
					return nil, errors.New("data after the envelope")
				}
				if _, ok := tok.(xml.CharData); ok {
					return nil, errors.New("data after the envelope")
				}
			}
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return nil, errors.New("text in envelope")
			}
		}
	}
}

func readBody(dec *xml.Decoder, env *Envelope, pick func(xml.Name) (any, error)) error {
	seen := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("malformed body: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if seen {
				return errors.New("body holds more than one element")
			}
			seen = true
			env.Op = t.Name
			if t.Name == FaultName {
				var f faultXML
				if err := dec.DecodeElement(&f, &t); err != nil {
					return fmt.Errorf("malformed fault: %w", err)
				}
				env.Fault = f.fault()
				continue
			}
			into, err := pick(t.Name)
			if err != nil {
				return err
			}
			if into == nil {
				return fmt.Errorf("unexpected element {%s}%s in body", t.Name.Space, t.Name.Local)
			}
			if err := dec.DecodeElement(into, &t); err != nil {
				return &ArgsError{Op: t.Name.Local, Err: err}
			}
		case xml.EndElement:
			if !seen {
				return errors.New("empty body")
			}
			return nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return errors.New("text in body")
			}
		}
	}
}

// ArgsError is a body element of a known operation whose content does not parse.
type ArgsError struct {
	Op  string
	Err error
}

func (e *ArgsError) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *ArgsError) Unwrap() error { return e.Err }

func (f faultXML) fault() *Fault {
	out := &Fault{Code: localName(f.Code.Value)}
	depth := 0
	for sc := f.Code.Subcode; sc != nil && depth < 16; sc = sc.Subcode {
		out.Subcodes = append(out.Subcodes, localName(sc.Value))
		depth++
	}
	if len(f.Reason.Text) > 0 {
		out.Reason = strings.TrimSpace(f.Reason.Text[0])
	}
	return out
}

func nextStart(dec *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := dec.Token()
		if err != nil {
			return xml.StartElement{}, fmt.Errorf("malformed envelope: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return xml.StartElement{}, errors.New("text before the envelope")
			}
		case xml.Directive:
			return xml.StartElement{}, errors.New("document type declarations are refused")
		}
	}
}
