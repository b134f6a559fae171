// Package estwire is the EST (RFC 7030) message format, shared by certfleet's EST
// server and its upstream EST CA driver: base64 bodies, PKCS#7 certs-only
// structures, CSR attributes and the serverkeygen multipart response. It is
// strict in what it sends and lenient in what it accepts, as real clients need
// (notes: ../shared/notes/pki-and-est.md, "EST interop gotchas").
package estwire

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"mime/multipart"
	"net/textproto"

	"github.com/smallstep/pkcs7"
)

// Content types, byte for byte as clients compare them.
const (
	TypePKCS10    = "application/pkcs10"
	TypeCertsOnly = "application/pkcs7-mime; smime-type=certs-only"
	TypeCACerts   = "application/pkcs7-mime"
	TypeCSRAttrs  = "application/csrattrs"
	TypePKCS8     = "application/pkcs8"
)

// lineLength is where EncodeBase64 wraps: libest cannot read one long line,
// and 76 is what globalsign/est sends.
const lineLength = 76

// EncodeBase64 encodes der as base64 in CRLF-terminated lines of 76 characters.
func EncodeBase64(der []byte) []byte {
	text := base64.StdEncoding.EncodeToString(der)
	var b bytes.Buffer
	b.Grow(len(text) + 2*(len(text)/lineLength+1))
	for len(text) > lineLength {
		b.WriteString(text[:lineLength])
		b.WriteString("\r\n")
		text = text[lineLength:]
	}
	b.WriteString(text)
	b.WriteString("\r\n")
	return b.Bytes()
}

// ErrNotBase64 is a body that is not base64.
var ErrNotBase64 = errors.New("the body is not base64")

// DecodeBase64 decodes a base64 body, wrapped or not (RFC 8951), with or
// without padding.
func DecodeBase64(body []byte) ([]byte, error) {
	text := bytes.Join(bytes.Fields(body), nil)
	if len(text) == 0 {
		return nil, fmt.Errorf("%w: it is empty", ErrNotBase64)
	}
	enc := base64.StdEncoding
	if len(text)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	der := make([]byte, enc.DecodedLen(len(text)))
	n, err := enc.Decode(der, text)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotBase64, err)
	}
	return der[:n], nil
}

// CertsOnly is a degenerate PKCS#7 SignedData holding certs and no signature.
func CertsOnly(certs ...*x509.Certificate) ([]byte, error) {
	var raw []byte
	for _, c := range certs {
		raw = append(raw, c.Raw...)
	}
	der, err := pkcs7.DegenerateCertificate(raw)
	if err != nil {
		return nil, fmt.Errorf("build PKCS#7 certs-only: %w", err)
	}
	return der, nil
}

// ParseCertsOnly reads the certificates of a base64 PKCS#7 certs-only body.
func ParseCertsOnly(body []byte) ([]*x509.Certificate, error) {
	der, err := DecodeBase64(body)
	if err != nil {
		return nil, err
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, fmt.Errorf("not PKCS#7: %w", err)
	}
	if len(p7.Certificates) == 0 {
		return nil, errors.New("the PKCS#7 structure holds no certificate")
	}
	return p7.Certificates, nil
}

// Attribute is one CSR attribute a server asks for: a type and its values.
type Attribute struct {
	Type   asn1.ObjectIdentifier
	Values []any `asn1:"set"`
}

// CSRAttrs encodes RFC 7030 §4.5.2 CsrAttrs: a sequence of bare OIDs and attributes.
func CSRAttrs(oids []asn1.ObjectIdentifier, attrs []Attribute) ([]byte, error) {
	var items []asn1.RawValue
	for _, oid := range oids {
		der, err := asn1.Marshal(oid)
		if err != nil {
			return nil, err
		}
		items = append(items, asn1.RawValue{FullBytes: der})
	}
	for _, a := range attrs {
		der, err := asn1.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("encode CSR attribute %v: %w", a.Type, err)
		}
		items = append(items, asn1.RawValue{FullBytes: der})
	}
	if items == nil {
		items = []asn1.RawValue{}
	}
	return asn1.Marshal(items)
}

// ServerKeyGenBody is the serverkeygen response body: the PKCS#8 private key
// first, then the certificate as certs-only PKCS#7, each part base64 with CRLF
// line ends. contentType carries the boundary.
func ServerKeyGenBody(pkcs8, certsOnly []byte) (body []byte, contentType string, err error) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, part := range []struct {
		contentType string
		der         []byte
	}{{TypePKCS8, pkcs8}, {TypeCertsOnly, certsOnly}} {
		header := textproto.MIMEHeader{}
		header.Set("Content-Type", part.contentType)
		header.Set("Content-Transfer-Encoding", "base64")
		w, err := mw.CreatePart(header)
		if err != nil {
			return nil, "", err
		}
		if _, err := w.Write(EncodeBase64(part.der)); err != nil {
			return nil, "", err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return b.Bytes(), "multipart/mixed; boundary=" + mw.Boundary(), nil
}
