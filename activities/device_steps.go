package activities

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"go.temporal.io/sdk/temporal"

	"github.com/certfleet/certfleet/credentials"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/profiles"
)

// CSRResult is what step 1 hands on: the CSR (public, fine in history) and the
// inventory ID of the certificate the device held before, 0 if none is known.
type CSRResult struct {
	CSR                []byte
	PriorCertificateID int64
}

// GetCSR asks the device for a CSR made to the profile, checks it against the
// profile's CSR policy, and notes the certificate the device holds now. A
// device disabled since the job was created is not contacted: the step fails
// with ErrDeviceSkipped, and the item ends as skipped.
func (a *Activities) GetCSR(ctx context.Context, it Item) (CSRResult, error) {
	row, err := a.queries().GetDevice(ctx, it.DeviceID)
	if err != nil {
		return CSRResult{}, fmt.Errorf("read device %s: %w", it.DeviceID, err)
	}
	if row.Mode == "DISABLED" {
		return CSRResult{}, temporal.NewNonRetryableApplicationError(
			"the device was disabled after the job was created; it is not contacted", ErrDeviceSkipped, nil)
	}
	if err := a.startStep(ctx, it); err != nil {
		return CSRResult{}, err
	}
	dev, driver, err := a.deviceOf(ctx, row)
	if err != nil {
		return CSRResult{}, err
	}
	profile, err := a.profile(ctx, it.ProfileID)
	if err != nil {
		return CSRResult{}, err
	}
	var result CSRResult
	prior, err := driver.Current(ctx, dev, it.CertType)
	if err != nil {
		return CSRResult{}, classify(fmt.Errorf("read current certificate of %s: %w", it.DeviceID, err), ErrDevicePermanent)
	}
	if result.PriorCertificateID, err = a.recordPrior(ctx, it, prior); err != nil {
		return CSRResult{}, err
	}
	var der []byte
	err = traced(ctx, "device.generate_csr", deviceAttrs(it), func(ctx context.Context) (err error) {
		der, err = driver.GenerateCSR(ctx, dev, csrRequest(it, profile))
		return err
	})
	if err != nil {
		return CSRResult{}, classify(fmt.Errorf("get CSR from %s: %w", it.DeviceID, err), ErrDevicePermanent)
	}
	csr, err := pki.ParseCSR(der)
	if err == nil {
		err = pki.CheckCSR(csr, profile)
	}
	if err == nil {
		err = ca.Request{CSR: csr, DeviceID: it.DeviceID}.CheckIdentity()
	}
	if err != nil {
		return CSRResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("CSR of %s: %v", it.DeviceID, err), ErrCSRRefused, nil)
	}
	result.CSR = der
	return result, nil
}

// recordPrior notes the certificate the device reports as its current one as
// the item's prior certificate, to be revoked after the install. Only a
// certificate the inventory holds for this very device and certificate type
// counts: a device must not get another device's certificate revoked by
// reporting it as its own.
func (a *Activities) recordPrior(ctx context.Context, it Item, prior *x509.Certificate) (int64, error) {
	if prior == nil {
		return 0, nil
	}
	q := a.queries()
	known, err := q.GetCertificateBySHA256(ctx, pki.Fingerprint(prior))
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && (known.DeviceID.String != it.DeviceID || known.CertType != it.CertType)) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("look up the current certificate of %s: %w", it.DeviceID, err)
	}
	err = q.RecordItemPrior(ctx, store.RecordItemPriorParams{JobID: it.JobID, DeviceID: it.DeviceID, PriorCertificateID: pgtype.Int8{Int64: known.ID, Valid: true}})
	if err != nil {
		return 0, fmt.Errorf("record the prior certificate of %s: %w", it.DeviceID, err)
	}
	return known.ID, nil
}

// csrRequest is what the device is asked to put in its CSR: the device ID as
// common name, and the profile's first allowed key type.
func csrRequest(it Item, profile pki.Profile) pki.CSRRequest {
	key := pki.KeySpec{Algorithm: profile.KeyAlgorithms[0].Algorithm, Size: profile.KeyAlgorithms[0].Sizes[0]}
	return pki.CSRRequest{CertType: it.CertType, Key: key, Subject: pki.CSRSubject{CommonName: it.DeviceID}}
}

// Install puts the issued certificate with its issuing CA on the device, then
// reads it back: the step succeeds only when the device holds it.
//
// It is the install step of runs recorded before the certificate travelled
// with the CA's answer (see InstallIssued); it reads the certificate back.
func (a *Activities) Install(ctx context.Context, it Item, certificateID int64) error {
	stored, err := a.queries().GetCertificate(ctx, certificateID)
	if err != nil {
		return fmt.Errorf("read certificate %d: %w", certificateID, err)
	}
	return a.InstallIssued(ctx, it, Issued{CertificateID: certificateID, DER: stored.Der})
}

// Issued is an issued certificate on its way from the CA step to the device.
type Issued struct {
	CertificateID int64
	DER           []byte
}

// InstallIssued puts the issued certificate, as the CA step handed it on,
// with its issuing CA on the device, then reads it back: the step succeeds
// only when the device holds it.
func (a *Activities) InstallIssued(ctx context.Context, it Item, issued Issued) error {
	if err := a.startStep(ctx, it); err != nil {
		return err
	}
	q := a.queries()
	if err := q.RecordItemIssued(ctx, store.RecordItemIssuedParams{JobID: it.JobID, DeviceID: it.DeviceID, IssuedCertificateID: pgtype.Int8{Int64: issued.CertificateID, Valid: true}}); err != nil {
		return err
	}
	leaf, err := x509.ParseCertificate(issued.DER)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("certificate %d: %v", issued.CertificateID, err), ErrCAPermanent, nil)
	}
	chain, err := a.chainToInstall(ctx, it.ProfileID, leaf)
	if err != nil {
		return err
	}
	dev, driver, err := a.device(ctx, it.DeviceID)
	if err != nil {
		return err
	}
	// An earlier attempt may have installed it and died before Temporal heard
	// so; the device then has no pending key, and installing again would fail.
	if holds, err := holdsCertificate(ctx, driver, dev, it, leaf); err != nil || holds {
		return err
	}
	if err := traced(ctx, "device.install", deviceAttrs(it), func(ctx context.Context) error {
		return driver.Install(ctx, dev, it.CertType, append([]*x509.Certificate{leaf}, chain...))
	}); err != nil {
		return classify(fmt.Errorf("install on %s: %w", it.DeviceID, err), ErrDevicePermanent)
	}
	holds, err := holdsCertificate(ctx, driver, dev, it, leaf)
	if err == nil && !holds {
		err = fmt.Errorf("%s: %w", it.DeviceID, errNoCertificate)
	}
	return err
}

// holdsCertificate reports whether the device's current certificate is leaf.
func holdsCertificate(ctx context.Context, driver device.Driver, dev device.Device, it Item, leaf *x509.Certificate) (bool, error) {
	current, err := driver.Current(ctx, dev, it.CertType)
	if err != nil {
		return false, classify(fmt.Errorf("read current certificate of %s: %w", it.DeviceID, err), ErrDevicePermanent)
	}
	return current != nil && current.Equal(leaf), nil
}

// chainToInstall is the chain of the CA that issued leaf (across a
// rollover, the issuing CA of its time), without the root, which devices
// keep in their trust store. The drivers hold them (the built-in CA in
// memory, an EST CA in a cache of its /cacerts), so no install asks the CA.
func (a *Activities) chainToInstall(ctx context.Context, profileID int64, leaf *x509.Certificate) ([]*x509.Certificate, error) {
	driver, _, err := a.caFor(ctx, profileID)
	if err != nil {
		return nil, err
	}
	chain, err := ca.ChainFor(ctx, driver, leaf)
	if err != nil {
		return nil, classify(err, ErrCAPermanent)
	}
	if _, rolls := driver.(ca.Generations); chain == nil && rolls {
		// The profile now names another CA than the one that issued leaf.
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("certificate %s was not issued by the profile's CA", leaf.SerialNumber.Text(16)), ErrCAPermanent, nil)
	}
	if chain == nil { // an outside CA whose chain does not start at its issuer: send what it has
		if chain, err = driver.CACertificates(ctx); err != nil {
			return nil, classify(err, ErrCAPermanent)
		}
	}
	if len(chain) > 1 {
		chain = chain[:len(chain)-1]
	}
	return chain, nil
}

func (a *Activities) device(ctx context.Context, id string) (device.Device, device.Driver, error) {
	row, err := a.queries().GetDevice(ctx, id)
	if err != nil {
		return device.Device{}, nil, fmt.Errorf("read device %s: %w", id, err)
	}
	return a.deviceOf(ctx, row)
}

// deviceOf is the device of row, with its credential opened, and its driver.
func (a *Activities) deviceOf(ctx context.Context, row store.Device) (device.Device, device.Driver, error) {
	driver, err := a.Drivers.Device(row.Driver)
	if err != nil {
		return device.Device{}, nil, classify(err, ErrDevicePermanent)
	}
	dev := device.Device{ID: row.ID, Address: row.Address, TLSPin: row.TlsPin, Settings: row.DriverSettings}
	if dev.Uses, err = a.uses(ctx, row.ID); err != nil {
		return device.Device{}, nil, err
	}
	switch {
	case row.CredentialID.Valid:
		dev.Credential, err = a.Credentials.ForDevice(ctx, row.CredentialID.Int64, row.ID, row.Address)
		if errors.Is(err, credentials.ErrAddressNotAllowed) {
			err = temporal.NewNonRetryableApplicationError(err.Error(), ErrDevicePermanent, nil)
		}
	case row.CredentialRef != "":
		err = temporal.NewNonRetryableApplicationError(fmt.Sprintf("device %s names the credential reference %q, "+
			"which was not imported into the credential store; bind a stored credential to it", row.ID, row.CredentialRef), ErrDevicePermanent, nil)
	}
	return dev, driver, err
}

// uses are what the device's profiles say it uses each certificate for.
func (a *Activities) uses(ctx context.Context, deviceID string) (map[string]device.Use, error) {
	rows, err := a.queries().DeviceUses(ctx, deviceID)
	if err != nil {
		return nil, fmt.Errorf("read the profiles of %s: %w", deviceID, err)
	}
	uses := make(map[string]device.Use, len(rows))
	for _, r := range rows {
		use := device.Use{Binding: r.Binding}
		if r.DeviceTrust != "" {
			if use.Trust, err = pki.ParseCertificatesPEM([]byte(r.DeviceTrust)); err != nil {
				return nil, temporal.NewNonRetryableApplicationError(
					fmt.Sprintf("the device trust of the %s profile of %s: %v", r.CertType, deviceID, err), ErrDevicePermanent, nil)
			}
		}
		uses[r.CertType] = use
	}
	return uses, nil
}

func (a *Activities) profile(ctx context.Context, id int64) (pki.Profile, error) {
	row, err := a.profileRow(ctx, id)
	if err != nil {
		return pki.Profile{}, err
	}
	return profiles.FromRow(row)
}
