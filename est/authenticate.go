package est

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/pki/trust"
)

// caller is who an enrollment request comes from: one device, and the
// credential that proved it.
type caller struct {
	device store.Device
	// credential names what authenticated the request (never the secret); it
	// is part of the enrollment's key.
	credential string
	// otp is the OTP credential to spend on this enrollment, 0 if none, and
	// spentOn the enrollment it was spent on before, if it was.
	otp     int64
	spentOn pgtype.Text
	// renewing is the certificate a simplereenroll renews.
	renewing *x509.Certificate
	// register is set when the device is to be created on first contact with
	// its factory certificate, once the request is admitted.
	register *store.RegisterFactoryDeviceParams
}

// authenticate works out the caller: from the TLS client certificate when
// there is one (the device's current certificate, or a factory certificate),
// else from HTTP Basic credentials.
func (s *Server) authenticate(ctx context.Context, r *http.Request, l label, op string) (caller, error) {
	var peer *x509.Certificate
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		peer = r.TLS.PeerCertificates[0]
	}
	if peer != nil {
		known, err := store.New(s.Pool).GetCertificateBySHA256(ctx, pki.Fingerprint(peer))
		switch {
		case err == nil:
			return s.byCurrentCertificate(ctx, l, op, known, peer)
		case !errors.Is(err, pgx.ErrNoRows):
			return caller{}, err
		case op == opReenroll:
			return caller{}, refuse(http.StatusForbidden, "simplereenroll needs the certificate being renewed as the TLS client certificate; this one was not issued by certfleet")
		case l.row.AllowFactory:
			return s.byFactoryCertificate(ctx, l, peer, r.TLS.PeerCertificates[1:])
		}
	} else if op == opReenroll {
		return caller{}, refuse(http.StatusForbidden, "simplereenroll needs the certificate being renewed as the TLS client certificate")
	}
	if !l.row.AllowBasic {
		return caller{}, refuse(http.StatusForbidden, "EST label %q needs a client certificate", l.row.Label)
	}
	return s.byPassword(ctx, r)
}

// byCurrentCertificate admits a device renewing the certificate it holds: one
// certfleet issued under this label's CA, unexpired, unrevoked, not superseded
// and under no disabled trust anchor.
func (s *Server) byCurrentCertificate(ctx context.Context, l label, op string, known store.Certificate, cert *x509.Certificate) (caller, error) {
	switch {
	case op != opReenroll:
		return caller{}, refuse(http.StatusForbidden, "a certificate certfleet issued renews over simplereenroll")
	case !l.row.AllowReenroll:
		return caller{}, refuse(http.StatusForbidden, "EST label %q does not renew certificates", l.row.Label)
	case known.Status == "revoked":
		return caller{}, refuse(http.StatusForbidden, "the client certificate is revoked")
	case known.Status != "active":
		return caller{}, refuse(http.StatusForbidden, "the client certificate was superseded by a newer one")
	case time.Now().After(cert.NotAfter) || time.Now().Before(cert.NotBefore):
		return caller{}, refuse(http.StatusForbidden, "the client certificate is not valid now (valid %s to %s)", cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339))
	case !known.DeviceID.Valid:
		return caller{}, refuse(http.StatusForbidden, "the client certificate belongs to no device")
	}
	chain, err := l.ca.CACertificates(ctx)
	if err != nil {
		return caller{}, err
	}
	if !issuedBy(cert, chain) {
		return caller{}, refuse(http.StatusForbidden, "the client certificate was not issued by the CA of EST label %q", l.row.Label)
	}
	// The CA's root need not be a trust anchor; if it is, it must be enabled.
	if _, err := s.Trust.Verify(ctx, cert, chain, x509.ExtKeyUsageAny); errors.Is(err, trust.ErrAnchorOff) || errors.Is(err, trust.ErrRevoked) {
		return caller{}, refuse(http.StatusForbidden, "the client certificate is refused: %v", err)
	}
	device, err := store.New(s.Pool).GetDevice(ctx, known.DeviceID.String)
	if err != nil {
		return caller{}, fmt.Errorf("read device %s of certificate %d: %w", known.DeviceID.String, known.ID, err)
	}
	return caller{device: device, credential: "certificate:" + hex.EncodeToString(known.Sha256), renewing: cert}, nil
}

// byFactoryCertificate admits a device by the certificate its maker gave it,
// chaining to an enabled trust anchor. A device not seen before is registered
// (after admission) when the anchor allows it, named by the anchor's mapped
// certificate field, or by the certificate's fingerprint when none is set.
func (s *Server) byFactoryCertificate(ctx context.Context, l label, cert *x509.Certificate, intermediates []*x509.Certificate) (caller, error) {
	anchor, err := s.Trust.Verify(ctx, cert, intermediates, x509.ExtKeyUsageAny)
	if errkind.KindOf(err) == errkind.KindForbidden {
		return caller{}, refuse(http.StatusForbidden, "the factory certificate is refused: %v", err)
	}
	if err != nil {
		return caller{}, err
	}
	fingerprint := pki.Fingerprint(cert)
	c := caller{credential: "factory:" + hex.EncodeToString(fingerprint)}
	c.device, err = store.New(s.Pool).GetDeviceByFactoryCert(ctx, fingerprint)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return caller{}, err
	}
	if !anchor.AutoRegister {
		return caller{}, refuse(http.StatusForbidden, "the factory certificate belongs to no device, and trust anchor %q does not register devices", anchor.Name)
	}
	name := hex.EncodeToString(fingerprint)
	if anchor.NameMapping != "" {
		values := pki.Identity(pki.NamedCertificate(cert), anchor.NameMapping)
		if len(values) != 1 || !device.ValidID(values[0]) {
			return caller{}, refuse(http.StatusForbidden, "the factory certificate's %s (%q) cannot name a device", anchor.NameMapping, values)
		}
		name = values[0]
	}
	c.register = &store.RegisterFactoryDeviceParams{
		ID: name, Name: name, DeviceType: l.profile.DeviceType, FactoryCertSha256: fingerprint, FactoryAnchorID: anchor.ID,
	}
	c.device = store.Device{ID: name, Name: name, DeviceType: l.profile.DeviceType, Mode: "FACTORY"}
	return c, nil
}

// byPassword admits a device by HTTP Basic credentials: its ID and a device
// password or an OTP. Every failure looks alike to the client. The argon2id
// verifications take a slot of s.SecretChecks, for the memory each holds; a
// request that gets none in time is answered 503.
func (s *Server) byPassword(ctx context.Context, r *http.Request) (caller, error) {
	deviceID, secret, ok := r.BasicAuth()
	if !ok || secret == "" {
		return caller{}, &httpError{status: http.StatusUnauthorized, message: "device ID and enrollment secret required", challenge: true}
	}
	// Checked before any query: Postgres refuses such text, and the caller
	// has proved nothing, so this is no server error to log.
	if err := checkBasic(deviceID, secret); err != nil {
		return caller{}, err
	}
	// The same refusal for an unknown device and a wrong secret.
	unauthorized := &httpError{status: http.StatusUnauthorized, message: "the device ID and enrollment secret were refused", challenge: true}
	q := store.New(s.Pool)
	dev, err := q.GetDevice(ctx, deviceID)
	unknown := errors.Is(err, pgx.ErrNoRows)
	if err != nil && !unknown {
		return caller{}, err
	}
	var credentials []store.EnrollmentCredentialsRow
	if !unknown {
		if credentials, err = q.EnrollmentCredentials(ctx, deviceID); err != nil {
			return caller{}, err
		}
	}
	release, err := s.passwordCheck(ctx)
	if err != nil {
		return caller{}, err
	}
	defer release()
	if unknown {
		auth.VerifySecret(decoyHash, secret) //nolint:errcheck // the same work as for a real device, so timing tells nothing
		return caller{}, unauthorized
	}
	for _, cred := range credentials {
		match, err := auth.VerifySecret(cred.SecretHash, secret)
		if err != nil {
			return caller{}, fmt.Errorf("enrollment credential %d of %s: %w", cred.ID, deviceID, err)
		}
		if !match {
			continue
		}
		c := caller{device: dev, credential: "password"}
		if cred.Kind == "otp" {
			c.credential, c.otp = "otp:"+strconv.FormatInt(cred.ID, 10), cred.ID
			c.spentOn = cred.UsedFor
		}
		return c, nil
	}
	return caller{}, unauthorized
}

// passwordCheck takes a slot for argon2id verifications, or refuses the
// request with 503 when none frees up in time: better than letting
// concurrent attempts allocate 19 MiB each without limit.
func (s *Server) passwordCheck(ctx context.Context) (release func(), err error) {
	release, err = s.SecretChecks.Acquire(ctx)
	if errors.Is(err, auth.ErrBusy) {
		return nil, &httpError{status: http.StatusServiceUnavailable, retryAfter: time.Second,
			message: "too many password checks under way; retry after Retry-After"}
	}
	if err != nil {
		return nil, fmt.Errorf("wait for a password check: %w", err)
	}
	return release, nil
}

// decoyHash is verified against when the device does not exist.
var decoyHash, _ = auth.HashSecret("decoy")

// checkBasic refuses HTTP Basic credentials that Postgres could not look up
// (a NUL byte, bytes that are not UTF-8) with a 400 saying which part.
func checkBasic(deviceID, secret string) error {
	for _, part := range []struct{ name, value string }{{"username (the device ID)", deviceID}, {"password", secret}} {
		if problem := textProblem(part.value); problem != "" {
			return refuse(http.StatusBadRequest, "the HTTP Basic %s %s", part.name, problem)
		}
	}
	return nil
}

// textProblem says what makes s unfit for Postgres' text (a NUL byte, bytes
// that are not UTF-8): "" when nothing.
func textProblem(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case strings.IndexByte(s, 0) >= 0:
		return "holds a NUL character"
	}
	return ""
}
