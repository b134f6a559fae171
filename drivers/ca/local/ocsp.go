package local

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/ocspresponder"
	"github.com/certfleet/certfleet/pki"
)

// ocspSignerValidity is how long a delegated OCSP signer lives. Clients
// cannot check its revocation (it carries id-pkix-ocsp-nocheck), so it is
// short, and replaced at half of it.
const ocspSignerValidity = 30 * 24 * time.Hour

var oidOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}

// OCSPPath is where the API serves the OCSP responder, and CAIssuersPath the
// CA certificates that certificates' Authority Information Access names.
const (
	OCSPPath      = "/ocsp"
	CAIssuersPath = "/ca/"
)

// Issuer is the CA certificate that signs devices' certificates.
func (c *CA) Issuer() *x509.Certificate { return c.issuing }

// CAIssuersName is the file name, under CAIssuersPath, of the issuing CA's
// certificate (DER, .crt) and chain (PEM, .pem).
func (c *CA) CAIssuersName() string { return hex.EncodeToString(c.issuing.SubjectKeyId) }

// CertificateStatus is what OCSP says of serial: unknown when this CA has no
// record of it, else good or revoked as the inventory has it. A superseded
// certificate is good: it was replaced, not revoked, and still verifies.
func (c *CA) CertificateStatus(ctx context.Context, serial *big.Int) (ca.CertificateStatus, error) {
	row, err := store.New(c.pool).CertificateStatus(ctx, store.CertificateStatusParams{Issuer: c.issuing.Subject.String(), SerialHex: serial.Text(16)})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return ca.CertificateStatus{State: ca.CertificateUnknown}, nil
	case err != nil:
		return ca.CertificateStatus{}, err
	case row.Status == "revoked" && row.RevokedAt != nil:
		return ca.CertificateStatus{State: ca.CertificateRevoked, RevokedAt: *row.RevokedAt, Reason: ca.RevocationReason(row.RevocationReason.Int16)}, nil
	default:
		return ca.CertificateStatus{State: ca.CertificateGood}, nil
	}
}

// OCSPSigner returns this CA's delegated OCSP signer, making and storing a
// new one when the newest has passed half of its validity (unless the CA
// ends sooner). Processes that race to make one each store theirs; either
// signs validly. An expired CA answers no more.
func (c *CA) OCSPSigner(ctx context.Context) (ocspresponder.Signer, error) {
	c.ocspMu.Lock()
	defer c.ocspMu.Unlock()
	if end := c.capped(time.Now().Add(ocspSignerValidity)); !time.Now().Before(end) {
		return ocspresponder.Signer{}, fmt.Errorf("built-in CA %q expired on %s: it answers no more", c.opts.Name, end.UTC().Format(time.RFC3339))
	}
	if c.ocspSigner.Certificate != nil && c.signerFresh(c.ocspSigner.Certificate.NotAfter) {
		return c.ocspSigner, nil
	}
	q := store.New(c.pool)
	row, err := q.NewestOCSPSigner(ctx, c.id)
	if err == nil && c.signerFresh(row.NotAfter) {
		c.ocspSigner, err = c.openOCSPSigner(row.Der, row.KeySealed)
		return c.ocspSigner, err
	}
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return ocspresponder.Signer{}, fmt.Errorf("read OCSP signer: %w", err)
	}
	signer, sealed, err := c.newOCSPSigner()
	if err != nil {
		return ocspresponder.Signer{}, err
	}
	if err := q.InsertOCSPSigner(ctx, store.InsertOCSPSignerParams{LocalCaID: c.id, Der: signer.Certificate.Raw, KeySealed: sealed, NotAfter: signer.Certificate.NotAfter}); err != nil {
		return ocspresponder.Signer{}, fmt.Errorf("store OCSP signer: %w", err)
	}
	c.ocspSigner = signer
	return signer, nil
}

// signerFresh reports whether a signer ending at notAfter still serves: it
// has half of its validity left, or it already ends with the CA's chain and
// a new one could last no longer.
func (c *CA) signerFresh(notAfter time.Time) bool {
	return time.Until(notAfter) > ocspSignerValidity/2 || !notAfter.Before(c.capped(time.Now().Add(ocspSignerValidity)))
}

func (c *CA) openOCSPSigner(der, sealed []byte) (ocspresponder.Signer, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return ocspresponder.Signer{}, fmt.Errorf("OCSP signer certificate: %w", err)
	}
	keyDER, err := c.ledger.KEK.Open(sealed, keyContext(c.opts.Name, "ocsp"))
	if err != nil {
		return ocspresponder.Signer{}, fmt.Errorf("open OCSP signer key: %w", err)
	}
	key, err := pki.ParsePrivateKey(keyDER)
	return ocspresponder.Signer{Certificate: cert, Key: key}, err
}

// newOCSPSigner issues a delegated OCSP signing certificate (RFC 6960
// §4.2.2.2): the OCSPSigning EKU, id-pkix-ocsp-nocheck, and no longer than
// the issuing CA.
func (c *CA) newOCSPSigner() (ocspresponder.Signer, []byte, error) {
	key, err := pki.GenerateKey(pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	if err != nil {
		return ocspresponder.Signer{}, nil, err
	}
	serial, err := pki.NewSerial()
	if err != nil {
		return ocspresponder.Signer{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:    serial,
		Subject:         pkix.Name{Organization: []string{"certfleet"}, CommonName: c.issuing.Subject.CommonName + " OCSP signer"},
		NotBefore:       now.Add(-pki.Backdate),
		NotAfter:        now.Add(ocspSignerValidity),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
		ExtraExtensions: []pkix.Extension{{Id: oidOCSPNoCheck, Value: asn1.NullBytes}},
	}
	tmpl.NotAfter = c.capped(tmpl.NotAfter)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.issuing, key.Public(), c.issuingKey)
	if err != nil {
		return ocspresponder.Signer{}, nil, fmt.Errorf("sign OCSP signer certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return ocspresponder.Signer{}, nil, err
	}
	sealed, err := seal(c.ledger.KEK, key, keyContext(c.opts.Name, "ocsp"))
	return ocspresponder.Signer{Certificate: cert, Key: key}, sealed, err
}
