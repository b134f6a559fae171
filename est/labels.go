package est

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"net/http"
	"net/netip"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/estwire"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/profiles"
)

// label is an EST label with what it selects.
type label struct {
	row     store.EstLabel
	profile store.Profile
	policy  pki.Profile
	ca      ca.Driver
}

// label resolves the request's label (the default one on the unlabelled path)
// and refuses clients outside its allowed networks.
func (s *Server) label(r *http.Request) (label, error) {
	name := r.PathValue("label")
	if textProblem(name) != "" {
		return label{}, refuse(http.StatusNotFound, "no EST label %q", name)
	}
	row, err := store.New(s.Pool).ESTLabelWithProfile(r.Context(), name)
	switch {
	case errors.Is(err, pgx.ErrNoRows) && name == "":
		return label{}, refuse(http.StatusNotFound, "no EST label is the default; use /.well-known/est/<label>/")
	case errors.Is(err, pgx.ErrNoRows):
		return label{}, refuse(http.StatusNotFound, "no EST label %q", name)
	case err != nil:
		return label{}, err
	}
	l := label{row: row.EstLabel, profile: row.Profile}
	if !allowed(l.row.AllowedCidrs, r) {
		return label{}, refuse(http.StatusForbidden, "this client address may not use EST label %q", l.row.Label)
	}
	if l.profile.ArchivedAt != nil {
		return label{}, refuse(http.StatusForbidden, "EST label %q issues from an archived profile", l.row.Label)
	}
	if l.policy, err = profiles.FromRow(l.profile); err != nil {
		return label{}, err
	}
	if l.ca, err = s.CAs.CA(r.Context(), l.profile); err != nil {
		return label{}, err
	}
	return l, nil
}

func allowed(cidrs []netip.Prefix, r *http.Request) bool {
	if len(cidrs) == 0 {
		return true
	}
	addr, err := netip.ParseAddr(clientIP(r))
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	return slices.ContainsFunc(cidrs, func(p netip.Prefix) bool { return p.Contains(addr) })
}

// cacerts answers the label's CA chain; on the unlabelled path with no
// default label, the fallback CA's.
func (s *Server) cacerts(w http.ResponseWriter, r *http.Request) error {
	driver := s.Fallback
	l, err := s.label(r)
	var refusal *httpError
	switch {
	case err == nil:
		driver = l.ca
	case r.PathValue("label") != "" || !errors.As(err, &refusal) || refusal.status != http.StatusNotFound:
		return err
	}
	chain, err := driver.CACertificates(r.Context())
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
	der, err := csrAttributes(l.policy)
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

// issuedBy reports whether cert was signed by the first certificate of chain.
func issuedBy(cert *x509.Certificate, chain []*x509.Certificate) bool {
	return len(chain) > 0 && pki.IssuedBy(cert, chain[0])
}
