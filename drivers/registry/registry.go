// Package registry picks the driver for a profile's CA and for a device, so
// that activities need not know which drivers exist.
package registry

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/credentials"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/drivers/ca/est"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/drivers/device/agent"
)

// Registry holds the drivers of one certfleet process.
type Registry struct {
	pool        *pgxpool.Pool
	builtin     *local.CA
	credentials *credentials.Store
	devices     map[string]device.Driver

	mu  sync.Mutex
	est map[string]*est.Driver // by profile ID and version
}

// New returns the registry: the built-in CA, EST CAs as profiles configure
// them with credentials from creds, and the agent device driver.
func New(pool *pgxpool.Pool, builtin *local.CA, creds *credentials.Store, deviceTimeout time.Duration) *Registry {
	return &Registry{
		pool: pool, builtin: builtin, credentials: creds,
		devices: map[string]device.Driver{agent.DriverName: agent.New(agent.DBPins{Pool: pool}, deviceTimeout)},
		est:     map[string]*est.Driver{},
	}
}

// CA returns the CA driver a profile names.
func (r *Registry) CA(ctx context.Context, profile store.Profile) (ca.Driver, error) {
	switch profile.CaDriver {
	case local.DriverName:
		return r.builtin, nil
	case est.DriverName:
		return r.estCA(ctx, profile)
	}
	return nil, drivers.Permanent(fmt.Errorf("profile %q names CA driver %q, which certfleet does not have", profile.Name, profile.CaDriver))
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
	d, err := est.New(r.pool, settings, secret)
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
