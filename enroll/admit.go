package enroll

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/pki"
)

// Admit checks that caller c may have csr signed as enrollment key: the
// device is enabled and of the label's type, a one-time secret was not spent
// on another enrollment, the CSR names the device the credential belongs to
// (renewing, the device of the certificate it renews), the profile's policy
// accepts it, and the device type's factory mode rule holds. It writes nothing, so
// a refused request leaves no trace.
func (s *Service) Admit(ctx context.Context, l Label, c Caller, csr *x509.CertificateRequest, key string) error {
	d := c.Device
	if d.Mode == "DISABLED" {
		return errkind.Forbidden("device %s is disabled", d.ID)
	}
	if d.DeviceType != l.Profile.DeviceType {
		return errkind.Forbidden("device %s is a %s; label %q enrolls %s devices", d.ID, d.DeviceType, l.Row.Label, l.Profile.DeviceType)
	}
	if c.SpentOn.Valid && c.SpentOn.String != key {
		return errkind.Unauthenticated("this %s was used already", c.secretName())
	}
	if !pki.NamesDevice(csr, l.Row.IdentityField, d.ID) {
		return errkind.Forbidden("the CSR's %s is %q, but the credential belongs to device %s",
			l.Row.IdentityField, pki.CSRIdentity(csr, l.Row.IdentityField), d.ID)
	}
	if err := pki.CheckCSR(csr, l.Policy); err != nil {
		return errkind.Invalid("", "the CSR does not fit profile %q: %v", l.Profile.Name, err)
	}
	if c.Station != nil {
		if err := s.admitStation(ctx, c.Station.Row, key); err != nil {
			return err
		}
	}
	if c.Renewing != nil {
		return nil
	}
	return s.checkFactoryMode(ctx, d, key)
}

// checkFactoryMode enforces the device type's rule that operational
// certificates are issued only in FACTORY mode; a retry of an enrollment
// already under way passes, since issuing may have moved the device on.
func (s *Service) checkFactoryMode(ctx context.Context, d store.Device, key string) error {
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
	return errkind.Forbidden("%s devices enroll themselves only in FACTORY mode; %s is %s", d.DeviceType, d.ID, d.Mode)
}

// Bind makes the credential enrollment key's: it spends a one-time secret on
// this enrollment, or counts it against its station's limit. A device seen
// for the first time is registered by the enrollment itself (Caller.Register).
func (s *Service) Bind(ctx context.Context, c Caller, key string) error {
	if c.Station != nil {
		return s.bindStation(ctx, c, key)
	}
	var n int64
	var err error
	q := store.New(s.Pool)
	switch {
	case c.OTP != 0:
		n, err = q.SpendOTP(ctx, store.SpendOTPParams{ID: c.OTP, Enrollment: key})
	case c.Challenge != 0:
		n, err = q.SpendSCEPChallenge(ctx, store.SpendSCEPChallengeParams{ID: c.Challenge, Enrollment: key})
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("spend %s of %s: %w", c.secretName(), c.Device.ID, err)
	}
	if n == 0 {
		return errkind.Unauthenticated("this %s was used already", c.secretName())
	}
	return nil
}

// Issued is the certificate an issued enrollment got, refused if it may no
// longer be handed out (see stillActive). One this request's own submission
// issued a moment ago is active, so it is not read back.
func (s *Service) Issued(ctx context.Context, sub activities.Submission) (*x509.Certificate, error) {
	der := sub.Certificate
	if !sub.IssuedNow || len(der) == 0 {
		stored, err := store.New(s.Pool).GetCertificate(ctx, sub.CertificateID)
		if err != nil {
			return nil, fmt.Errorf("read issued certificate %d: %w", sub.CertificateID, err)
		}
		if err := stillActive(stored); err != nil {
			return nil, err
		}
		der = stored.Der
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse issued certificate %d: %w", sub.CertificateID, err)
	}
	return cert, nil
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
		return errkind.Conflict("this request was answered before with certificate %s, which has since been superseded by a newer certificate of the device%s; %s", c.SerialHex, revoked, again)
	case c.Status == "revoked":
		reason := "unspecified"
		if c.RevocationReason.Valid {
			reason = revocationReasons[c.RevocationReason.Int16]
			if reason == "" {
				reason = strconv.Itoa(int(c.RevocationReason.Int16))
			}
		}
		return errkind.Conflict("this request was answered before with certificate %s, which has since been revoked (reason: %s); %s", c.SerialHex, reason, again)
	}
	return errkind.Conflict("this request was answered before with certificate %s, which is %s now; %s", c.SerialHex, c.Status, again)
}

// revocationReasons name RFC 5280's reason codes.
var revocationReasons = map[int16]string{
	0: "unspecified", 1: "keyCompromise", 2: "cACompromise", 3: "affiliationChanged", 4: "superseded",
	5: "cessationOfOperation", 6: "certificateHold", 8: "removeFromCRL", 9: "privilegeWithdrawn", 10: "aACompromise",
}
