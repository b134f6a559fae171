// Package registry picks the driver for a profile's CA and for a device, so
// that activities need not know which drivers exist.
package registry

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

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
	pool      *pgxpool.Pool
	builtin   *local.CA
	lookupEnv func(string) (string, bool)
	devices   map[string]device.Driver

	mu  sync.Mutex
	est map[string]*est.Driver // by profile ID and version
}

// New returns the registry: the built-in CA, EST CAs as profiles configure
// them, and the agent device driver.
func New(pool *pgxpool.Pool, builtin *local.CA, lookupEnv func(string) (string, bool), deviceTimeout time.Duration) *Registry {
	return &Registry{
		pool: pool, builtin: builtin, lookupEnv: lookupEnv,
		devices: map[string]device.Driver{agent.DriverName: agent.New(agent.DBPins{Pool: pool}, lookupEnv, deviceTimeout)},
		est:     map[string]*est.Driver{},
	}
}

// CA returns the CA driver a profile names.
func (r *Registry) CA(_ context.Context, profile store.Profile) (ca.Driver, error) {
	switch profile.CaDriver {
	case local.DriverName:
		return r.builtin, nil
	case est.DriverName:
		key := fmt.Sprintf("%d@%d", profile.ID, profile.UpdatedAt.UnixNano())
		r.mu.Lock()
		defer r.mu.Unlock()
		if d, ok := r.est[key]; ok {
			return d, nil
		}
		settings, err := est.ParseSettings(profile.CaSettings)
		if err != nil {
			return nil, drivers.Permanent(fmt.Errorf("profile %q: %w", profile.Name, err))
		}
		d, err := est.New(r.pool, settings, r.lookupEnv)
		if err != nil {
			return nil, drivers.Permanent(fmt.Errorf("profile %q: %w", profile.Name, err))
		}
		r.est[key] = d
		return d, nil
	}
	return nil, drivers.Permanent(fmt.Errorf("profile %q names CA driver %q, which certfleet does not have", profile.Name, profile.CaDriver))
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
