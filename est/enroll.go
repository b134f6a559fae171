package est

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/estwire"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/vocab"
	"github.com/certfleet/certfleet/workflows"
)

// enroll serves simpleenroll, simplereenroll and serverkeygen. Everything a
// request could be refused for is checked before anything is written, so a
// refused request leaves no device, spent OTP or CA request behind.
func (s *Server) enroll(op string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		l, err := s.label(r)
		if err != nil {
			return err
		}
		c, err := s.authenticate(ctx, r, l, op)
		if err != nil {
			return err
		}
		csr, err := readCSR(w, r, s.Limits.MaxBody)
		if err != nil {
			return err
		}
		// The key of the device's own request: the OTP is spent on it, so
		// that a retry of the request, even re-signed, finds the OTP its own.
		key := workflows.EnrollmentWorkflowID(c.device.ID, op, c.credential, csr)
		if err := s.admit(ctx, l, c, op, csr, key); err != nil {
			return err
		}
		var serverKey []byte
		if op == opServerKeyGen {
			if serverKey, csr, err = generateKey(csr, l); err != nil {
				return err
			}
		}
		if err := s.bind(ctx, c, key); err != nil {
			return err
		}
		e := activities.Enrollment{Key: key, DeviceID: c.device.ID, ProfileID: l.profile.ID, CertType: l.profile.CertType, CSR: csr.Raw, IdentityField: l.row.IdentityField}
		run := RunInfo{Operation: op, Label: l.row.Label, Profile: l.profile.Name, ExpectPending: l.policy.ApprovalMode}
		if serverKey != nil {
			// Each generated key is an enrollment of its own (a CA request
			// is for one key pair), discarded if it is not delivered.
			e.Key, e.ServerKeyGen = workflows.EnrollmentWorkflowID(c.device.ID, op, c.credential, csr), true
			return s.serverKeyGen(w, r, e, run, serverKey)
		}
		sub, err := s.Enroller.Enroll(ctx, e, run)
		if err != nil {
			return err
		}
		return s.respond(w, r, sub)
	}
}

// readCSR reads a base64 PKCS#10 body, wrapped or not, with or without
// Content-Transfer-Encoding (RFC 8951), and checks its signature.
func readCSR(w http.ResponseWriter, r *http.Request, maxBody int64) (*x509.CertificateRequest, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if media, _, err := mime.ParseMediaType(ct); err != nil || media != estwire.TypePKCS10 {
			return nil, refuse(http.StatusUnsupportedMediaType, "Content-Type must be %s, not %q", estwire.TypePKCS10, ct)
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, refuse(http.StatusRequestEntityTooLarge, "the body is over %d bytes", maxBody)
	}
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "read the body: %v", err)
	}
	return ParseCSRBody(body)
}

// ParseCSRBody decodes an EST request body into a CSR whose signature holds.
func ParseCSRBody(body []byte) (*x509.CertificateRequest, error) {
	der, err := estwire.DecodeBase64(body)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "%v", err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "the body is not a PKCS#10 CSR: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, refuse(http.StatusBadRequest, "the CSR's signature does not verify: %v", err)
	}
	return csr, nil
}

// admit checks that the caller may have this CSR signed: the device is
// enabled and of the label's type, the CSR names the device the credential
// belongs to (and, renewing, the certificate it renews), the profile's policy
// accepts it, and the device type's factory mode rule holds.
func (s *Server) admit(ctx context.Context, l label, c caller, op string, csr *x509.CertificateRequest, key string) error {
	d := c.device
	if d.Mode == "DISABLED" {
		return refuse(http.StatusForbidden, "device %s is disabled", d.ID)
	}
	if d.DeviceType != l.profile.DeviceType {
		return refuse(http.StatusForbidden, "device %s is a %s; EST label %q enrolls %s devices", d.ID, d.DeviceType, l.row.Label, l.profile.DeviceType)
	}
	if c.spentOn.Valid && c.spentOn.String != key {
		return &httpError{status: http.StatusUnauthorized, message: "this OTP was used already", challenge: true}
	}
	if !pki.Names(pki.NamedCSR(csr), l.row.IdentityField, d.ID) {
		return refuse(http.StatusForbidden, "the CSR's %s is %q, but the credential belongs to device %s",
			l.row.IdentityField, pki.Identity(pki.NamedCSR(csr), l.row.IdentityField), d.ID)
	}
	if c.renewing != nil && !pki.SameNames(csr, c.renewing) {
		return refuse(http.StatusForbidden, "the CSR's subject and SANs must be those of the certificate being renewed (RFC 7030 §4.2.2)")
	}
	if err := pki.CheckCSR(csr, l.policy); err != nil {
		return refuse(http.StatusBadRequest, "the CSR does not fit profile %q: %v", l.profile.Name, err)
	}
	if op == opServerKeyGen && l.policy.ApprovalMode {
		return refuse(http.StatusBadRequest, "serverkeygen is not offered under a profile in approval mode: certfleet would have to keep the key until approval")
	}
	if op == opReenroll {
		return nil
	}
	return s.checkFactoryMode(ctx, d, key)
}

// checkFactoryMode enforces the device type's rule that operational
// certificates are issued only in FACTORY mode; a retry of an enrollment
// already under way passes, since issuing may have moved the device on.
func (s *Server) checkFactoryMode(ctx context.Context, d store.Device, key string) error {
	if d.Mode == "FACTORY" {
		return nil
	}
	q := store.New(s.Pool)
	deviceType, err := q.GetDeviceType(ctx, d.DeviceType)
	if err != nil || !deviceType.EnforceFactoryMode {
		return err
	}
	if _, err := q.GetCARequestByKey(ctx, key); err == nil {
		return nil
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	return refuse(http.StatusForbidden, "%s devices get certificates over EST only in FACTORY mode; %s is %s", d.DeviceType, d.ID, d.Mode)
}

// bind makes the credential the enrollment's: it registers a device seen for
// the first time, and spends an OTP on this enrollment.
func (s *Server) bind(ctx context.Context, c caller, key string) error {
	if c.register != nil {
		if err := s.register(ctx, *c.register); err != nil {
			return err
		}
	}
	if c.otp == 0 {
		return nil
	}
	n, err := store.New(s.Pool).SpendOTP(ctx, store.SpendOTPParams{ID: c.otp, Enrollment: key})
	if err != nil {
		return fmt.Errorf("spend OTP %d: %w", c.otp, err)
	}
	if n == 0 {
		return &httpError{status: http.StatusUnauthorized, message: "this OTP was used already", challenge: true}
	}
	return nil
}

// register creates a device on first contact, with an audit row in the same
// statement. Two first contacts at once create it once.
func (s *Server) register(ctx context.Context, p store.RegisterFactoryDeviceParams) error {
	q := store.New(s.Pool)
	_, err := q.RegisterFactoryDevice(ctx, p)
	if !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	if _, err := q.GetDeviceByFactoryCert(ctx, p.FactoryCertSha256); err == nil {
		return nil
	}
	return refuse(http.StatusConflict, "a device %s exists already, registered to another credential", p.ID)
}

// respond answers with the certificate, or 202 while the CA decides, or the
// CA's refusal.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, sub activities.Submission) error {
	if err := refusal(sub); err != nil {
		return err
	}
	certsOnly, err := s.certsOnly(r.Context(), sub)
	if err != nil {
		return err
	}
	writeBase64(w, estwire.TypeCertsOnly, estwire.EncodeBase64(certsOnly))
	return nil
}

// refusal is the answer to an enrollment that did not issue (yet): nil when
// it did.
func refusal(sub activities.Submission) error {
	switch sub.Status {
	case vocab.RequestIssued:
		return nil
	case vocab.RequestPending:
		return &httpError{status: http.StatusAccepted, retryAfter: sub.RetryAfter, message: "the request is pending at the CA; send it again after Retry-After"}
	case vocab.RequestRejected:
		return refuse(http.StatusForbidden, "the CA rejected the request: %s", sub.Reason)
	}
	return &httpError{status: http.StatusServiceUnavailable, retryAfter: time.Minute, message: "the enrollment failed: " + sub.Reason}
}

// certsOnly is the issued certificate as a certs-only CMS message.
func (s *Server) certsOnly(ctx context.Context, sub activities.Submission) ([]byte, error) {
	stored, err := store.New(s.Pool).GetCertificate(ctx, sub.CertificateID)
	if err != nil {
		return nil, fmt.Errorf("read issued certificate %d: %w", sub.CertificateID, err)
	}
	if err := stillActive(stored); err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(stored.Der)
	if err != nil {
		return nil, fmt.Errorf("parse issued certificate %d: %w", sub.CertificateID, err)
	}
	return estwire.CertsOnly(cert)
}

// stillActive refuses to hand out again a certificate a repeated request
// was answered with before, once it has been superseded or revoked: the
// device would install a certificate nobody trusts. It has to enroll anew,
// with a new key pair.
func stillActive(c store.Certificate) error {
	const again = "enroll again with a new key pair (a new CSR)"
	switch {
	case c.Status == "active":
		return nil
	case c.Status == "superseded", c.Status == "revoked" && c.RevocationReason.Valid && c.RevocationReason.Int16 == 4:
		revoked := map[bool]string{true: " and revoked"}[c.Status == "revoked"]
		return refuse(http.StatusConflict, "this request was answered before with certificate %s, which has since been superseded by a newer certificate of the device%s; %s", c.SerialHex, revoked, again)
	case c.Status == "revoked":
		reason := "unspecified"
		if c.RevocationReason.Valid {
			reason = revocationReasons[c.RevocationReason.Int16]
			if reason == "" {
				reason = strconv.Itoa(int(c.RevocationReason.Int16))
			}
		}
		return refuse(http.StatusConflict, "this request was answered before with certificate %s, which has since been revoked (reason: %s); %s", c.SerialHex, reason, again)
	}
	return refuse(http.StatusConflict, "this request was answered before with certificate %s, which is %s now; %s", c.SerialHex, c.Status, again)
}

// revocationReasons name RFC 5280's reason codes.
var revocationReasons = map[int16]string{
	0: "unspecified", 1: "keyCompromise", 2: "cACompromise", 3: "affiliationChanged", 4: "superseded",
	5: "cessationOfOperation", 6: "certificateHold", 8: "removeFromCRL", 9: "privilegeWithdrawn", 10: "aACompromise",
}
