package enroll

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/stations"
)

// StationCaller is a provisioning station making a request, and the device
// it asks for (see ForStationDevice).
type StationCaller struct {
	Row store.ProvisioningStation
	// Label is the label it enrolls through.
	Label string
	// Register says the device does not exist yet: binding the request
	// creates it.
	Register bool
}

// ByStationSecret admits provisioning station name by its secret for label
// l. Unknown stations and wrong secrets are refused alike, at the same cost.
func (s *Service) ByStationSecret(ctx context.Context, l Label, name, secret string) (Caller, error) {
	st, err := store.New(s.Pool).GetStation(ctx, name)
	unknown := errors.Is(err, pgx.ErrNoRows)
	if err != nil && !unknown {
		return Caller{}, err
	}
	release, err := s.secretCheck(ctx)
	if err != nil {
		return Caller{}, err
	}
	defer release()
	if unknown || !st.SecretHash.Valid {
		auth.VerifySecret(decoyHash, secret) //nolint:errcheck // the same work as for a real station
		return Caller{}, errStationRefused
	}
	match, err := auth.VerifySecret(st.SecretHash.String, secret)
	if err != nil {
		return Caller{}, fmt.Errorf("secret of station %s: %w", name, err)
	}
	if !match {
		return Caller{}, errStationRefused
	}
	return stationCaller(st, l)
}

var errStationRefused = errkind.Unauthenticated("the station ID and secret were refused")

// ByStationCertificate admits the provisioning station whose TLS client
// certificate cert is, for label l; found is false when cert is no
// station's. A certificate certfleet issued must be within its validity; one
// that chains to a trust anchor must still chain to an enabled one.
func (s *Service) ByStationCertificate(ctx context.Context, l Label, cert *x509.Certificate, intermediates []*x509.Certificate) (c Caller, found bool, err error) {
	st, err := store.New(s.Pool).GetStationByCertificate(ctx, pki.Fingerprint(cert))
	if errors.Is(err, pgx.ErrNoRows) {
		return Caller{}, false, nil
	}
	if err != nil {
		return Caller{}, false, err
	}
	if now := time.Now(); now.After(cert.NotAfter) || now.Before(cert.NotBefore) {
		return Caller{}, true, errkind.Forbidden("station %q's client certificate is not valid now (valid %s to %s)",
			st.Name, cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339))
	}
	if st.CertSource.String == "anchor" {
		if _, err := s.Trust.Verify(ctx, cert, intermediates, x509.ExtKeyUsageClientAuth); err != nil {
			return Caller{}, true, errkind.Forbidden("station %q's client certificate is refused: %v", st.Name, err)
		}
	}
	c, err = stationCaller(st, l)
	return c, true, err
}

func stationCaller(st store.ProvisioningStation, l Label) (Caller, error) {
	if err := stations.CheckUsable(st, l.Row.Label, time.Now()); err != nil {
		return Caller{}, err
	}
	return Caller{Credential: "station:" + st.Name, Station: &StationCaller{Row: st, Label: l.Row.Label}}, nil
}

// ForStationDevice completes a station's caller with the device csr names
// (in the label's identity field): an existing device, or one to create in
// the label's device type and the station's registration mode. The ID must
// be in the station's scope.
func (s *Service) ForStationDevice(ctx context.Context, l Label, c Caller, csr *x509.CertificateRequest) (Caller, error) {
	st := c.Station.Row
	ids := pki.CSRIdentity(csr, l.Row.IdentityField)
	if len(ids) != 1 || !device.ValidID(ids[0]) {
		return Caller{}, errkind.Forbidden("the CSR's %s (%q) must name one device", l.Row.IdentityField, ids)
	}
	id := ids[0]
	if err := stations.CheckScope(st, id); err != nil {
		return Caller{}, err
	}
	dev, err := store.New(s.Pool).GetDevice(ctx, id)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		c.Device = store.Device{ID: id, Name: id, DeviceType: l.Profile.DeviceType, Mode: st.RegisterMode}
		c.Station = &StationCaller{Row: st, Label: c.Station.Label, Register: true}
	case err != nil:
		return Caller{}, fmt.Errorf("read device %s for station %s: %w", id, st.Name, err)
	default:
		c.Device = dev
	}
	return c, nil
}

// bindStation records a station's enrollment key, once however often it is
// retried, and counts it against the station's limit, creating the device
// when it is new. All of it is one transaction, with its audit row: the
// enrollment's row is written first, so that a retry in flight at the same
// time waits for it and then finds it, and is counted once.
func (s *Service) bindStation(ctx context.Context, c Caller, key string) error {
	st, label := c.Station.Row, c.Station.Label
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		q := store.New(tx)
		registered, err := registerForStation(ctx, q, c)
		if err != nil {
			return err
		}
		n, err := q.RecordStationEnrollment(ctx, store.RecordStationEnrollmentParams{
			Enrollment: key, Station: st.Name, DeviceID: c.Device.ID, Label: label, Registered: registered,
		})
		switch {
		case err != nil:
			return fmt.Errorf("record an enrollment of station %s: %w", st.Name, err)
		case n == 0: // recorded and counted already
			return nil
		}
		if _, err := q.CountStationEnrollment(ctx, st.Name); errors.Is(err, pgx.ErrNoRows) {
			return s.stationRefusal(ctx, st.Name, label)
		} else if err != nil {
			return fmt.Errorf("count an enrollment of station %s: %w", st.Name, err)
		}
		details, err := json.Marshal(map[string]any{"label": label, "registered": registered})
		if err != nil {
			return err
		}
		return q.RecordAudit(ctx, store.RecordAuditParams{
			Actor: "station:" + st.Name, Action: "station.enroll", ObjectType: "device", ObjectIds: []string{c.Device.ID}, Details: details,
		})
	})
}

// registerForStation creates the device a station names for the first
// time, and says whether it did. One created meanwhile by someone else must
// pass what Admit checked of an existing device.
func registerForStation(ctx context.Context, q *store.Queries, c Caller) (bool, error) {
	if !c.Station.Register {
		return false, nil
	}
	st := c.Station.Row
	_, err := q.RegisterStationDevice(ctx, store.RegisterStationDeviceParams{ID: c.Device.ID, DeviceType: c.Device.DeviceType, Mode: c.Device.Mode, Station: st.Name})
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("register device %s for station %s: %w", c.Device.ID, st.Name, err)
	}
	existing, err := q.GetDevice(ctx, c.Device.ID)
	if err != nil {
		return false, fmt.Errorf("read device %s: %w", c.Device.ID, err)
	}
	if existing.DeviceType != c.Device.DeviceType || existing.Mode == "DISABLED" {
		return false, errkind.Conflict("device %s was created meanwhile as a %s device in mode %s; send the request again", existing.ID, existing.DeviceType, existing.Mode)
	}
	return false, nil
}

// stationRefusal says why station name could not count one more
// enrollment: it was disabled, or reached its limit, since it was admitted.
func (s *Service) stationRefusal(ctx context.Context, name, label string) error {
	st, err := store.New(s.Pool).GetStation(ctx, name)
	if err != nil {
		return fmt.Errorf("read station %s: %w", name, err)
	}
	if err := stations.CheckUsable(st, label, time.Now()); err != nil {
		return err
	}
	if err := stations.CheckLimit(st); err != nil {
		return err
	}
	return errkind.Conflict("station %q changed while the request was admitted; send it again", name)
}

// admitStation refuses a new enrollment by a station past its limit; a
// retry of one it made already passes.
func (s *Service) admitStation(ctx context.Context, st store.ProvisioningStation, key string) error {
	if stations.CheckLimit(st) == nil {
		return nil
	}
	seen, err := store.New(s.Pool).StationEnrollmentExists(ctx, key)
	if err != nil || seen {
		return err
	}
	return stations.CheckLimit(st)
}
