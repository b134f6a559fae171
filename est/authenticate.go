package est

import (
	"context"
	"crypto/x509"
	"net/http"

	"github.com/certfleet/certfleet/enroll"
	"github.com/certfleet/certfleet/stations"
)

// authenticate works out the caller: from the TLS client certificate when
// there is one (the device's current certificate, a provisioning station's,
// or a factory certificate), else from HTTP Basic credentials.
func (s *Server) authenticate(ctx context.Context, r *http.Request, l enroll.Label, op string) (enroll.Caller, error) {
	var peer *x509.Certificate
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		peer = r.TLS.PeerCertificates[0]
	}
	if peer != nil {
		known, found, err := s.KnownCertificate(ctx, peer)
		if err != nil {
			return enroll.Caller{}, err
		}
		if !found {
			station, isStation, err := s.ByStationCertificate(ctx, l, peer, r.TLS.PeerCertificates[1:])
			if isStation || err != nil {
				return station, stationOp(op, err)
			}
		}
		switch {
		case found && op != opReenroll:
			return enroll.Caller{}, refuse(http.StatusForbidden, "a certificate certfleet issued renews over simplereenroll")
		case found:
			return s.ByCurrentCertificate(ctx, l, known, peer)
		case op == opReenroll:
			return enroll.Caller{}, refuse(http.StatusForbidden, "simplereenroll needs the certificate being renewed as the TLS client certificate; this one was not issued by certfleet")
		case l.Row.AllowFactory:
			return s.ByFactoryCertificate(ctx, l, peer, r.TLS.PeerCertificates[1:])
		}
	} else if op == opReenroll {
		return enroll.Caller{}, refuse(http.StatusForbidden, "simplereenroll needs the certificate being renewed as the TLS client certificate")
	}
	if !l.Row.AllowBasic {
		return enroll.Caller{}, refuse(http.StatusForbidden, "EST label %q needs a client certificate", l.Row.Label)
	}
	return s.byPassword(ctx, r, l, op)
}

// byPassword admits a device by HTTP Basic credentials, its ID and a device
// password or an OTP, or a provisioning station by its ID and secret.
func (s *Server) byPassword(ctx context.Context, r *http.Request, l enroll.Label, op string) (enroll.Caller, error) {
	deviceID, secret, ok := r.BasicAuth()
	if !ok || secret == "" {
		return enroll.Caller{}, &httpError{status: http.StatusUnauthorized, message: "device ID and enrollment secret required", challenge: true}
	}
	// Checked before any query: Postgres refuses such text, and the caller
	// has proved nothing, so this is no server error to log.
	if err := checkBasic(deviceID, secret); err != nil {
		return enroll.Caller{}, err
	}
	if station, ok := stations.NameOf(deviceID); ok {
		c, err := s.ByStationSecret(ctx, l, station, secret)
		return c, stationOp(op, err)
	}
	return s.BySecret(ctx, deviceID, secret)
}

// stationOp refuses what a provisioning station may not do: renew. Its
// devices renew with their own certificates.
func stationOp(op string, err error) error {
	if err == nil && op == opReenroll {
		return refuse(http.StatusForbidden, "a provisioning station enrolls devices over simpleenroll; a device renews with its own certificate")
	}
	return err
}

// checkBasic refuses HTTP Basic credentials that Postgres could not look up
// (a NUL byte, bytes that are not UTF-8) with a 400 saying which part.
func checkBasic(deviceID, secret string) error {
	for _, part := range []struct{ name, value string }{{"username (the device ID)", deviceID}, {"password", secret}} {
		if problem := enroll.TextProblem(part.value); problem != "" {
			return refuse(http.StatusBadRequest, "the HTTP Basic %s %s", part.name, problem)
		}
	}
	return nil
}
