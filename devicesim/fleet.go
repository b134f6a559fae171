// Package devicesim is `certfleet devicesim`: a simulated fleet of N devices
// behind the agent protocol on one port, device ID in the path. Each virtual
// device makes real keys and CSRs and keeps what is installed on it, in
// memory. Faults (CSR failure, install failure, unreachable, slow, flapping)
// are set per device or as rates over the fleet, and the state of every device
// can be read, both over an admin API.
package devicesim

import (
	"context"
	"crypto"
	"crypto/subtle"
	"crypto/x509"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certfleet/certfleet/agentproto"
	"github.com/certfleet/certfleet/credentials/secret"
	"github.com/certfleet/certfleet/pki"
)

// Faults are what goes wrong with one device.
type Faults struct {
	CSRFailure     bool `json:"csr_failure,omitempty"`     // CSRs fail (permanent)
	InstallFailure bool `json:"install_failure,omitempty"` // installs are rejected (permanent)
	Unreachable    bool `json:"unreachable,omitempty"`     // connections are dropped (transient)
	// SlowMS delays every answer by a time drawn evenly from [SlowMS[0], SlowMS[1]] ms.
	SlowMS *[2]int `json:"slow_ms,omitempty"`
	// FlapFailures is how many calls answer 503 busy before the device recovers.
	FlapFailures int `json:"flap_failures,omitempty"`
	// KeyGenStuck leaves a camera's key generation unfinished for ever (the
	// camera protocols make keys asynchronously).
	KeyGenStuck bool `json:"keygen_stuck,omitempty"`
	// AuthRefused makes a camera refuse every credential (401).
	AuthRefused bool `json:"auth_refused,omitempty"`
}

// Rates give faults to a share of the fleet. Which devices get one is a
// function of the seed and the device ID, so it is stable and predictable.
type Rates struct {
	Seed           int64   `json:"seed"`
	CSRFailure     float64 `json:"csr_failure"`
	InstallFailure float64 `json:"install_failure"`
	Unreachable    float64 `json:"unreachable"`
	Slow           float64 `json:"slow"`
	SlowMS         [2]int  `json:"slow_ms"`
	Flapping       float64 `json:"flapping"`
	FlapFailures   int     `json:"flap_failures"`
}

// Fleet is the simulated fleet.
type Fleet struct {
	count  int
	prefix string
	master string

	mu      sync.Mutex
	devices map[string]*simDevice
	rates   Rates
}

type simDevice struct {
	mu        sync.Mutex
	explicit  *Faults // set over the admin API; overrides the rates
	flapsLeft int
	pending   map[string]crypto.Signer
	installed map[string][]*x509.Certificate
	trust     map[string][]*x509.Certificate // the CA certificates installed to trust, by type
	calls     map[string]int
}

var _ agentproto.Backend = (*Fleet)(nil)

// New makes a fleet of count devices with IDs prefix00001, prefix00002, …
// whose credentials derive from master (secret.Derive).
func New(count int, prefix, master string) *Fleet {
	return &Fleet{count: count, prefix: prefix, master: master, devices: map[string]*simDevice{}}
}

// DeviceID is the ID of the n-th device, counting from 1.
func (f *Fleet) DeviceID(n int) string { return fmt.Sprintf("%s%05d", f.prefix, n) }

// device returns the simulated device id, creating its state on first use.
func (f *Fleet) device(id string) (*simDevice, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(id, f.prefix))
	if err != nil || n < 1 || n > f.count || f.DeviceID(n) != id {
		return nil, agentproto.Refuse(http.StatusNotFound, agentproto.CodeNotFound, "no simulated device %q", id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.devices[id]
	if !ok {
		d = &simDevice{pending: map[string]crypto.Signer{}, installed: map[string][]*x509.Certificate{},
			trust: map[string][]*x509.Certificate{}, calls: map[string]int{}}
		if faults := f.rates.faultsFor(id); faults.FlapFailures > 0 {
			d.flapsLeft = faults.FlapFailures
		}
		f.devices[id] = d
	}
	return d, nil
}

// Authenticate checks a device's credential.
func (f *Fleet) Authenticate(id, credential string) bool {
	want := secret.Derive(f.master, id)
	return subtle.ConstantTimeCompare([]byte(credential), []byte(want)) == 1
}

// FaultsOf returns what is wrong with simulated device id now; an error for
// an ID outside the fleet.
func (f *Fleet) FaultsOf(id string) (Faults, error) {
	d, err := f.device(id)
	if err != nil {
		return Faults{}, err
	}
	return f.faults(id, d), nil
}

// CameraAccount is the username and password every simulated camera (the
// ONVIF and Axis modes) accepts.
func (f *Fleet) CameraAccount() (username, password string) { return CameraAccount(f.master) }

// CameraAccount is the account of the simulated cameras of the fleet whose
// master secret is master: the password derives from it as a device's
// credential does (secret.Derive), from the name "camera-password".
func CameraAccount(master string) (username, password string) {
	return CameraUsername, secret.Derive(master, "camera-password")
}

// CameraUsername is the account simulated cameras accept.
const CameraUsername = "admin"

// faults returns what is wrong with a device now.
func (f *Fleet) faults(id string, d *simDevice) Faults {
	if d.explicit != nil {
		return *d.explicit
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rates.faultsFor(id)
}

func (r Rates) faultsFor(id string) Faults {
	var faults Faults
	faults.CSRFailure = r.hit(id, "csr", r.CSRFailure)
	faults.InstallFailure = r.hit(id, "install", r.InstallFailure)
	faults.Unreachable = r.hit(id, "unreachable", r.Unreachable)
	if r.hit(id, "slow", r.Slow) {
		slow := r.SlowMS
		faults.SlowMS = &slow
	}
	if r.hit(id, "flap", r.Flapping) {
		faults.FlapFailures = r.FlapFailures
	}
	return faults
}

// hit decides, stably per seed, device and fault, whether the device is in
// the share rate of the fleet.
func (r Rates) hit(id, fault string, rate float64) bool {
	if rate <= 0 {
		return false
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s/%s", r.Seed, fault, id)
	return float64(h.Sum64()%1_000_000)/1_000_000 < rate
}

// GenerateCSR makes a real key pair and CSR on the simulated device.
func (f *Fleet) GenerateCSR(_ context.Context, id string, req pki.CSRRequest) ([]byte, error) {
	d, err := f.device(id)
	if err != nil {
		return nil, err
	}
	if f.faults(id, d).CSRFailure {
		return nil, agentproto.Refuse(http.StatusUnprocessableEntity, agentproto.CodeCSRFailed, "simulated CSR failure")
	}
	key, der, err := agentproto.NewKeyAndCSR(req)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pending[req.CertType] = key
	d.calls["csr"]++
	return der, nil
}

// Install checks and installs a chain with the pending key.
func (f *Fleet) Install(_ context.Context, id, certType string, chain, trust []*x509.Certificate) (bool, error) {
	d, err := f.device(id)
	if err != nil {
		return false, err
	}
	if f.faults(id, d).InstallFailure {
		return false, agentproto.Refuse(http.StatusUnprocessableEntity, agentproto.CodeInstallRejected, "simulated install failure")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := agentproto.CheckInstall(chain, d.pending[certType], time.Now()); err != nil {
		return false, err
	}
	d.installed[certType] = chain
	d.trust[certType] = trust
	delete(d.pending, certType)
	d.calls["install"]++
	return true, nil
}

// Current returns the installed chain.
func (f *Fleet) Current(_ context.Context, id, certType string) ([]*x509.Certificate, error) {
	d, err := f.device(id)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls["current"]++
	return d.installed[certType], nil
}
