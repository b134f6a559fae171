package est

import (
	"encoding/asn1"
	"net/http"

	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/enroll"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/estwire"
	"github.com/certfleet/certfleet/pki"
)

// label resolves the request's label (the default one on the unlabelled path)
// and refuses clients outside its allowed networks.
func (s *Server) label(r *http.Request) (enroll.Label, error) {
	return s.Label(r.Context(), protocol, r.PathValue("label"), enroll.ClientIP(r))
}

// cacerts answers the label's CA chain, and the next issuing CA during a
// rollover; on the unlabelled path with no default label, the fallback CA's.
func (s *Server) cacerts(w http.ResponseWriter, r *http.Request) error {
	driver := s.Fallback
	l, err := s.label(r)
	switch {
	case err == nil:
		driver = l.CA
	case r.PathValue("label") != "" || errkind.KindOf(err) != errkind.KindNotFound:
		return err
	}
	chain, err := ca.Published(r.Context(), driver)
	if err != nil {
		return err
	}
	der, err := estwire.CertsOnly(chain...)
	if err != nil {
		return err
	}
	writeBase64(w, estwire.TypeCACerts, estwire.EncodeBase64(der))
	return nil
}

// OIDs of the CSR attributes certfleet asks for (RFC 7030 §4.5.2).
var (
	oidECPublicKey     = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidRSAEncryption   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidSHA256WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	curveOIDs          = map[int]asn1.ObjectIdentifier{256: {1, 2, 840, 10045, 3, 1, 7}, 384: {1, 3, 132, 0, 34}, 521: {1, 3, 132, 0, 35}}
)

// csrattrs tells devices the key types the label's profile accepts and the
// signature algorithm to use.
func (s *Server) csrattrs(w http.ResponseWriter, r *http.Request) error {
	l, err := s.label(r)
	if err != nil {
		return err
	}
	der, err := csrAttributes(l.Policy)
	if err != nil {
		return err
	}
	writeBase64(w, estwire.TypeCSRAttrs, estwire.EncodeBase64(der))
	return nil
}

func csrAttributes(p pki.Profile) ([]byte, error) {
	var oids []asn1.ObjectIdentifier
	var attrs []estwire.Attribute
	for _, alg := range p.KeyAlgorithms {
		switch alg.Algorithm {
		case "ecdsa":
			a := estwire.Attribute{Type: oidECPublicKey}
			for _, size := range alg.Sizes {
				if oid, ok := curveOIDs[size]; ok {
					a.Values = append(a.Values, oid)
				}
			}
			attrs = append(attrs, a)
			oids = append(oids, oidECDSAWithSHA256)
		case "rsa":
			oids = append(oids, oidRSAEncryption, oidSHA256WithRSA)
		}
	}
	return estwire.CSRAttrs(oids, attrs)
}
