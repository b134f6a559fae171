package agentproto

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/certfleet/certfleet/pki"
)

// NewKeyAndCSR makes a key pair as req asks and a CSR signed with it.
func NewKeyAndCSR(req pki.CSRRequest) (crypto.Signer, []byte, error) {
	tmpl := &x509.CertificateRequest{
		Subject:        subjectName(req.Subject),
		DNSNames:       req.SANs.DNS,
		EmailAddresses: req.SANs.Email,
	}
	for _, s := range req.SANs.IP {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, nil, Refuse(http.StatusBadRequest, CodeBadRequest, "SAN %q is not an IP address", s)
		}
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	}
	for _, s := range req.SANs.URI {
		u, err := url.Parse(s)
		if err != nil {
			return nil, nil, Refuse(http.StatusBadRequest, CodeBadRequest, "SAN %q is not a URI", s)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	key, err := pki.GenerateKey(req.Key)
	if err != nil {
		return nil, nil, Refuse(http.StatusUnprocessableEntity, CodeUnsupportedKey, "%v", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, nil, Refuse(http.StatusUnprocessableEntity, CodeCSRFailed, "%v", err)
	}
	return key, der, nil
}

func subjectName(s pki.CSRSubject) pkix.Name {
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
	return name
}

// CheckInstall decides whether chain may be installed with pending, the key of
// the last CSR: the leaf must be for that key, currently valid, and each
// certificate must be signed by the next.
func CheckInstall(chain []*x509.Certificate, pending crypto.Signer, now time.Time) error {
	if pending == nil {
		return Refuse(http.StatusConflict, CodeNoPendingKey, "no CSR is pending for this certificate type")
	}
	leaf := chain[0]
	if !pki.SamePublicKey(leaf.PublicKey, pending.Public()) {
		return Refuse(http.StatusUnprocessableEntity, CodeKeyMismatch, "the certificate is not for the key of the pending CSR")
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return Refuse(http.StatusUnprocessableEntity, CodeInstallRejected, "the certificate is not valid now (%s to %s)", leaf.NotBefore, leaf.NotAfter)
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return Refuse(http.StatusUnprocessableEntity, CodeInstallRejected, "certificate %d is not signed by certificate %d: %v", i+1, i+2, fmt.Sprint(err))
		}
	}
	return nil
}
