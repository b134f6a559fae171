// Package registry knows which drivers exist: it picks the driver for a
// profile's CA and for a device, lists them, and checks a profile's CA
// settings, so that neither the activities nor the API name a driver.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/credentials"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/drivers/ca/est"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/drivers/device/agent"
	"github.com/certfleet/certfleet/drivers/device/axis"
	"github.com/certfleet/certfleet/drivers/device/onvif"
	"github.com/certfleet/certfleet/drivers/device/ssh"
	"github.com/certfleet/certfleet/drivers/device/tlspin"
	"github.com/certfleet/certfleet/errkind"
)

// Registry holds the drivers of one certfleet process.
type Registry struct {
	pool        *pgxpool.Pool
	builtin     *local.Set
	credentials *credentials.Store
	devices     map[string]device.Driver

	mu  sync.Mutex
	est map[string]*est.Driver // by profile ID and version
}

// New returns the registry: the built-in CAs, EST CAs as profiles configure
// them with credentials from creds, and the device drivers.
func New(pool *pgxpool.Pool, builtin *local.Set, creds *credentials.Store, deviceTimeout time.Duration) *Registry {
	return &Registry{
		pool: pool, builtin: builtin, credentials: creds,
		devices: map[string]device.Driver{
			agent.DriverName: agent.New(tlspin.DBPins{Pool: pool}, deviceTimeout),
			ssh.DriverName:   ssh.New(tlspin.DBPins{Pool: pool}, deviceTimeout),
			onvif.DriverName: onvif.New(tlspin.DBPins{Pool: pool}, deviceTimeout),
			axis.DriverName:  axis.New(tlspin.DBPins{Pool: pool}, deviceTimeout),
		},
		est: map[string]*est.Driver{},
	}
}

// CA returns the CA driver a profile names.
func (r *Registry) CA(ctx context.Context, profile store.Profile) (ca.Driver, error) {
	switch profile.CaDriver {
	case local.DriverName:
		if r.builtin == nil {
			return nil, drivers.Permanent(errors.New("this process has no built-in CA"))
		}
		return r.builtin.ForSettings(ctx, profile.CaSettings)
	case est.DriverName:
		return r.estCA(ctx, profile)
	}
	return nil, drivers.Permanent(fmt.Errorf("profile %q names CA driver %q, which certfleet does not have", profile.Name, profile.CaDriver))
}

// CADrivers lists the CA drivers a profile may name; the first, the built-in
// CA, is the default.
func (r *Registry) CADrivers() []string { return []string{local.DriverName, est.DriverName} }

// DeviceDrivers lists the device drivers a device may name; the first is the
// default for devices certfleet reaches, and the last is the one of devices
// that enroll themselves.
func (r *Registry) DeviceDrivers() []string {
	names := slices.Sorted(maps.Keys(r.devices))
	return append(names, device.SelfEnrolling)
}

// CheckCASettings checks a profile's CA driver and its settings, including
// that a credential they name exists and is of a kind the driver can use.
func (r *Registry) CheckCASettings(ctx context.Context, driver string, raw json.RawMessage) error {
	switch driver {
	case local.DriverName:
		if r.builtin == nil { // a process without the CA checks the settings' shape only
			if _, err := local.ParseSettings(raw); err != nil {
				return errkind.Invalid("ca_settings", "%v", err)
			}
			return nil
		}
		_, err := r.builtin.ForSettings(ctx, raw)
		if kinded, ok := errkind.As(err); ok && kinded.Kind() == errkind.KindNotFound {
			return errkind.Invalid("ca_settings", "%v", err)
		}
		return err
	case est.DriverName:
		settings, err := est.ParseSettings(raw)
		if err != nil {
			return errkind.Invalid("ca_settings", "%v", err)
		}
		return r.checkCredential(ctx, settings.Credential, credentials.Password, credentials.TLSClient)
	}
	return errkind.Invalid("ca_driver", "want one of %v", r.CADrivers())
}

// CheckDevice checks a device's address and driver settings as its driver
// reads them: an ssh://host address and recipes for the ssh driver, an https
// URL and no settings for the drivers that speak HTTPS.
func (r *Registry) CheckDevice(driver, address string, settings json.RawMessage) error {
	d := r.devices[driver] // nil for a self-enrolling device: an https address if any, no settings
	check, ok := d.(device.AddressChecker)
	if !ok {
		check = device.HTTPSAddress{}
	}
	if err := check.CheckAddress(address); address != "" && err != nil {
		return errkind.Invalid("address", "%v", err)
	}
	if checker, ok := d.(device.SettingsChecker); ok {
		if err := checker.CheckSettings(settings); err != nil {
			return errkind.Invalid("driver_settings", "%v", err)
		}
		return nil
	}
	if s := strings.TrimSpace(string(settings)); s != "" && s != "{}" && s != "null" {
		return errkind.Invalid("driver_settings", "driver %s takes no settings", driver)
	}
	return nil
}

func (r *Registry) checkCredential(ctx context.Context, name string, kinds ...credentials.Kind) error {
	if name == "" {
		return nil
	}
	cred, err := store.New(r.pool).GetCredentialByName(ctx, name)
	if errors.Is(err, pgx.ErrNoRows) {
		return errkind.Invalid("ca_settings.credential", "no credential is named %q", name)
	}
	if err != nil {
		return err
	}
	if !slices.Contains(kinds, credentials.Kind(cred.Kind)) {
		return errkind.Invalid("ca_settings.credential", "credential %s is a %s credential; want one of %v", name, cred.Kind, kinds)
	}
	return nil
}

// estCA returns the EST driver of a profile, made anew when the profile or
// its credential changed.
func (r *Registry) estCA(ctx context.Context, profile store.Profile) (ca.Driver, error) {
	settings, err := est.ParseSettings(profile.CaSettings)
	if err != nil {
		return nil, drivers.Permanent(fmt.Errorf("profile %q: %w", profile.Name, err))
	}
	var secret credentials.Secret
	if settings.Credential != "" {
		if secret, err = r.credentials.ByName(ctx, settings.Credential); err != nil {
			return nil, drivers.Permanent(fmt.Errorf("profile %q: %w", profile.Name, err))
		}
	}
	key := fmt.Sprintf("%d@%d/%s", profile.ID, profile.UpdatedAt.UnixNano(), credentials.Fingerprint(secret.Value))
	r.mu.Lock()
	defer r.mu.Unlock()
	if d, ok := r.est[key]; ok {
		return d, nil
	}
	d, err := est.New(r.pool, settings, secret, r.credentials.KEK)
	if err != nil {
		return nil, drivers.Permanent(fmt.Errorf("profile %q: %w", profile.Name, err))
	}
	r.est[key] = d
	return d, nil
}

// Device returns the device driver a device record names.
func (r *Registry) Device(name string) (device.Driver, error) {
	d, ok := r.devices[name]
	if name == device.SelfEnrolling {
		return nil, drivers.Permanent(fmt.Errorf("devices of driver %q enroll themselves over EST; certificate jobs cannot reach them", name))
	}
	if !ok {
		return nil, drivers.Permanent(fmt.Errorf("device driver %q does not exist", name))
	}
	return d, nil
}
