package activities

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/pki"
)

// Discovered is what a device was found holding for one certificate type.
type Discovered struct {
	CertType string `json:"cert_type"`
	// CertificateID is the inventory's record of the certificate; 0 when the
	// device holds none, or when it could not be read (Error).
	CertificateID int64     `json:"certificate_id,omitempty"`
	Subject       string    `json:"subject,omitempty"`
	Issuer        string    `json:"issuer,omitempty"`
	NotAfter      time.Time `json:"not_after,omitzero"`
	// New: recorded by this discovery; false for a certificate the inventory knew.
	New   bool   `json:"new"`
	Error string `json:"error,omitempty"`
}

// DiscoverCertificates reads, through the device's driver, the certificate
// the device holds for each certificate type a profile gives it (TLS if
// none), and records those the inventory does not know as the device's, so
// that the renewal sweep sees their real expiry. A certificate the inventory
// holds for another device stays that device's.
func (a *Activities) DiscoverCertificates(ctx context.Context, deviceID string) ([]Discovered, error) {
	dev, driver, err := a.device(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	certTypes, err := a.queries().DeviceCertTypes(ctx, deviceID)
	if err != nil {
		return nil, fmt.Errorf("read the certificate types of %s: %w", deviceID, err)
	}
	if len(certTypes) == 0 {
		certTypes = []string{pki.CertTypeTLS}
	}
	found := make([]Discovered, 0, len(certTypes))
	for _, certType := range certTypes {
		d, err := a.discover(ctx, driver, dev, certType)
		if err != nil {
			return nil, err
		}
		found = append(found, d)
	}
	return found, nil
}

func (a *Activities) discover(ctx context.Context, driver device.Driver, dev device.Device, certType string) (Discovered, error) {
	d := Discovered{CertType: certType}
	cert, err := driver.Current(ctx, dev, certType)
	switch {
	case device.IsPermanent(err):
		d.Error = err.Error() // e.g. no recipe for this type: the other types still count
		return d, nil
	case err != nil:
		return d, classify(fmt.Errorf("read the %s certificate of %s: %w", certType, dev.ID, err), ErrDevicePermanent)
	case cert == nil:
		return d, nil
	}
	d.Subject, d.Issuer, d.NotAfter = cert.Subject.String(), cert.Issuer.String(), cert.NotAfter
	d.CertificateID, d.New, err = a.recordDiscovered(ctx, dev.ID, certType, cert)
	if errors.Is(err, errNotTheDevices) {
		d.Error, err = err.Error(), nil
	}
	return d, err
}

// errNotTheDevices: the device holds a certificate the inventory records as
// another device's, or another with its issuer and serial number.
var errNotTheDevices = errors.New("the inventory holds this certificate, or its issuer and serial number, for another device; it is not recorded")

func (a *Activities) recordDiscovered(ctx context.Context, deviceID, certType string, cert *x509.Certificate) (int64, bool, error) {
	q := a.queries()
	row, err := q.RecordDiscoveredCertificate(ctx, store.RecordDiscoveredCertificateParams{
		DeviceID: pgtype.Text{String: deviceID, Valid: true}, CertType: certType,
		Issuer: cert.Issuer.String(), SerialHex: cert.SerialNumber.Text(16), Subject: cert.Subject.String(),
		Sha256: pki.Fingerprint(cert), NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, Der: cert.Raw,
	})
	if err == nil {
		return row.ID, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, false, fmt.Errorf("record the certificate of %s: %w", deviceID, err)
	}
	known, err := q.GetCertificateBySHA256(ctx, pki.Fingerprint(cert))
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && known.DeviceID.String != deviceID) {
		return 0, false, errNotTheDevices
	}
	if err != nil {
		return 0, false, fmt.Errorf("look up the certificate of %s: %w", deviceID, err)
	}
	return known.ID, false, nil
}
