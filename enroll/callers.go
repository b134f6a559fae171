package enroll

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/pki/trust"
)

// Caller is who an enrollment request comes from: one device, and the
// credential that proved it.
type Caller struct {
	Device store.Device
	// Credential names what authenticated the request (never the secret); it
	// is part of the enrollment's key.
	Credential string
	// OTP is the OTP credential, and Challenge the one-time challenge from
	// the API, to spend on this enrollment, 0 if none; SpentOn is the
	// enrollment it was spent on before, if it was.
	OTP, Challenge int64
	SpentOn        pgtype.Text
	// Renewing is the certificate the request renews.
	Renewing *x509.Certificate
	// Register is set when the device is to be created on first contact with
	// its factory certificate: by the enrollment, with its CA request.
	Register *activities.Registration
	// Station is the provisioning station asking for Device, if one is.
	Station *StationCaller
}

// secretName is what the caller's one-time secret is called in refusals.
func (c Caller) secretName() string {
	if c.Challenge != 0 {
		return "challenge"
	}
	return "OTP"
}

// KnownCertificate finds cert among those certfleet issued.
func (s *Service) KnownCertificate(ctx context.Context, cert *x509.Certificate) (store.Certificate, bool, error) {
	known, err := store.New(s.Pool).GetCertificateBySHA256(ctx, pki.Fingerprint(cert))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Certificate{}, false, nil
	}
	return known, err == nil, err
}

// ByCurrentCertificate admits a device renewing the certificate it holds: one
// certfleet issued under the label's CA, unexpired, unrevoked, not superseded
// and under no disabled trust anchor.
func (s *Service) ByCurrentCertificate(ctx context.Context, l Label, known store.Certificate, cert *x509.Certificate) (Caller, error) {
	switch {
	case !l.Row.AllowReenroll:
		return Caller{}, errkind.Forbidden("label %q does not renew certificates", l.Row.Label)
	case known.Status == "revoked":
		return Caller{}, errkind.Forbidden("the client certificate is revoked")
	case known.Status != "active":
		return Caller{}, errkind.Forbidden("the client certificate was superseded by a newer one")
	case time.Now().After(cert.NotAfter) || time.Now().Before(cert.NotBefore):
		return Caller{}, errkind.Forbidden("the client certificate is not valid now (valid %s to %s)", cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339))
	case !known.DeviceID.Valid:
		return Caller{}, errkind.Forbidden("the client certificate belongs to no device")
	}
	chain, err := ca.ChainFor(ctx, l.CA, cert) // an earlier generation's, after a rollover, too
	if err != nil {
		return Caller{}, err
	}
	if len(chain) == 0 {
		return Caller{}, errkind.Forbidden("the client certificate was not issued by the CA of label %q", l.Row.Label)
	}
	// The CA's root need not be a trust anchor; if it is, it must be enabled.
	if _, err := s.Trust.Verify(ctx, cert, chain, x509.ExtKeyUsageAny); errors.Is(err, trust.ErrAnchorOff) || errors.Is(err, trust.ErrRevoked) {
		return Caller{}, errkind.Forbidden("the client certificate is refused: %v", err)
	}
	device, err := store.New(s.Pool).GetDevice(ctx, known.DeviceID.String)
	if err != nil {
		return Caller{}, fmt.Errorf("read device %s of certificate %d: %w", known.DeviceID.String, known.ID, err)
	}
	return Caller{Device: device, Credential: "certificate:" + hex.EncodeToString(known.Sha256), Renewing: cert}, nil
}

// ByFactoryCertificate admits a device by the certificate its maker gave it,
// chaining to an enabled trust anchor. A device not seen before is registered
// by its enrollment (Caller.Register) when the anchor allows it, named by the
// anchor's mapped certificate field, or by the certificate's fingerprint when
// none is set; an ID another device has already is refused.
func (s *Service) ByFactoryCertificate(ctx context.Context, l Label, cert *x509.Certificate, intermediates []*x509.Certificate) (Caller, error) {
	anchor, err := s.Trust.Verify(ctx, cert, intermediates, x509.ExtKeyUsageAny)
	if errkind.KindOf(err) == errkind.KindForbidden {
		return Caller{}, errkind.Forbidden("the factory certificate is refused: %v", err)
	}
	if err != nil {
		return Caller{}, err
	}
	fingerprint := pki.Fingerprint(cert)
	c := Caller{Credential: "factory:" + hex.EncodeToString(fingerprint)}
	name, nameErr := factoryDeviceName(anchor, cert, fingerprint)
	found, err := store.New(s.Pool).FactoryDeviceOrNamesake(ctx, store.FactoryDeviceOrNamesakeParams{FactoryCertSha256: fingerprint, ID: name})
	switch {
	case err != nil:
		return Caller{}, err
	case len(found) > 0 && bytes.Equal(found[0].FactoryCertSha256, fingerprint):
		c.Device = found[0]
		return c, nil
	case !anchor.AutoRegister:
		return Caller{}, errkind.Forbidden("the factory certificate belongs to no device, and trust anchor %q does not register devices", anchor.Name)
	case nameErr != nil:
		return Caller{}, nameErr
	case len(found) > 0:
		return Caller{}, errkind.Conflict("a device %s exists already, registered to another credential", name)
	}
	c.Register = &activities.Registration{DeviceType: l.Profile.DeviceType, FactoryCertSHA256: fingerprint, FactoryAnchorID: anchor.ID}
	c.Device = store.Device{ID: name, Name: name, DeviceType: l.Profile.DeviceType, Mode: "FACTORY"}
	return c, nil
}

// factoryDeviceName is the ID of the device a factory certificate registers:
// the anchor's mapped certificate field, or else the certificate's
// fingerprint. "" with a refusal when the field cannot name a device.
func factoryDeviceName(anchor store.TrustAnchor, cert *x509.Certificate, fingerprint []byte) (string, error) {
	if anchor.NameMapping == "" {
		return hex.EncodeToString(fingerprint), nil
	}
	values := pki.Identity(pki.NamedCertificate(cert), anchor.NameMapping)
	if len(values) != 1 || !device.ValidID(values[0]) {
		return "", errkind.Forbidden("the factory certificate's %s (%q) cannot name a device", anchor.NameMapping, values)
	}
	return values[0], nil
}

// errSecretRefused is the one refusal of a secret for an unknown device and
// for a wrong secret alike.
var errSecretRefused = errkind.Unauthenticated("the device ID and enrollment secret were refused")

// BySecret admits a device by one of its enrollment secrets of the given
// kinds ("otp", "password"; none: any). Every failure looks alike to the
// client, in its answer and its timing. The argon2id verifications take a
// slot of s.SecretChecks, for the memory each holds; a request that gets
// none in time is refused as unavailable, wrapping auth.ErrBusy.
func (s *Service) BySecret(ctx context.Context, deviceID, secret string, kinds ...string) (Caller, error) {
	q := store.New(s.Pool)
	dev, err := q.GetDevice(ctx, deviceID)
	unknown := errors.Is(err, pgx.ErrNoRows)
	if err != nil && !unknown {
		return Caller{}, err
	}
	var credentials []store.EnrollmentCredentialsRow
	if !unknown {
		if credentials, err = q.EnrollmentCredentials(ctx, deviceID); err != nil {
			return Caller{}, err
		}
	}
	release, err := s.secretCheck(ctx)
	if err != nil {
		return Caller{}, err
	}
	defer release()
	if unknown {
		auth.VerifySecret(decoyHash, secret) //nolint:errcheck // the same work as for a real device, so timing tells nothing
		return Caller{}, errSecretRefused
	}
	for _, cred := range credentials {
		if len(kinds) > 0 && !slices.Contains(kinds, cred.Kind) {
			continue
		}
		match, err := auth.VerifySecret(cred.SecretHash, secret)
		if err != nil {
			return Caller{}, fmt.Errorf("enrollment credential %d of %s: %w", cred.ID, deviceID, err)
		}
		if !match {
			continue
		}
		c := Caller{Device: dev, Credential: "password"}
		if cred.Kind == "otp" {
			c.Credential, c.OTP = "otp:"+strconv.FormatInt(cred.ID, 10), cred.ID
			c.SpentOn = cred.UsedFor
		}
		return c, nil
	}
	return Caller{}, errSecretRefused
}

// secretCheck takes a slot for argon2id verifications, or refuses the
// request as busy when none frees up in time: better than letting
// concurrent attempts allocate 19 MiB each without limit.
func (s *Service) secretCheck(ctx context.Context) (release func(), err error) {
	release, err = s.SecretChecks.Acquire(ctx)
	if errors.Is(err, auth.ErrBusy) {
		return nil, errkind.Unavailable(err, "too many password checks under way; retry after Retry-After")
	}
	if err != nil {
		return nil, fmt.Errorf("wait for a password check: %w", err)
	}
	return release, nil
}

// decoyHash is verified against when the device does not exist.
var decoyHash, _ = auth.HashSecret("decoy")

// TextProblem says what makes s unfit for Postgres' text (a NUL byte, bytes
// that are not UTF-8): "" when nothing. Such input is the client's mistake,
// refused before any query, not a server error to log.
func TextProblem(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case strings.IndexByte(s, 0) >= 0:
		return "holds a NUL character"
	}
	return ""
}
