package est

import (
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"net/http"

	"github.com/certfleet/certfleet/pki"
)

// generateKey makes the serverkeygen key pair, of the type of the key that
// signed the device's CSR, and a CSR for it with the names and extensions the
// device asked for. The key exists only in this handler: it never enters
// workflow history, the database or a log.
func generateKey(csr *x509.CertificateRequest, l label) (pkcs8 []byte, keyCSR *x509.CertificateRequest, err error) {
	spec, err := pki.SpecOf(csr.PublicKey)
	if err != nil || !l.policy.AllowsKey(spec) {
		return nil, nil, refuse(http.StatusBadRequest, "profile %q does not generate keys of the CSR's type", l.profile.Name)
	}
	key, err := pki.GenerateKey(spec)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.CertificateRequest{RawSubject: csr.RawSubject, ExtraExtensions: csr.Extensions}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign the CSR of the generated key: %w", err)
	}
	if keyCSR, err = x509.ParseCertificateRequest(der); err != nil {
		return nil, nil, err
	}
	if pkcs8, err = pki.MarshalPrivateKey(key); err != nil {
		return nil, nil, err
	}
	return pkcs8, keyCSR, nil
}
