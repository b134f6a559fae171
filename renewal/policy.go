// Package renewal renews certificates on schedule. A renewal policy says which
// certificates to renew and when; each policy is a Temporal Schedule
// (renewal/<policyID>) that runs a RenewalSweep workflow, and each sweep
// starts ordinary certificate jobs for what is due, within the policy's
// maintenance windows.
package renewal

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time zones must not depend on the machine's tzdata

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/pki"
)

// Policy is a renewal policy as the API shows and takes it.
type Policy struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	CertType string `json:"cert_type"`
	// Selection: devices assigned one of these profiles and of one of these
	// device types; empty lists select everything.
	ProfileIDs  []int64  `json:"profile_ids"`
	DeviceTypes []string `json:"device_types"`
	// Due: RenewBeforeDays before expiry, or after RenewAtLifetime (0 to 1) of
	// the certificate's lifetime. Exactly one is set.
	RenewBeforeDays int     `json:"renew_before_days,omitempty"`
	RenewAtLifetime float64 `json:"renew_at_lifetime,omitempty"`
	IncludeMissing  bool    `json:"include_missing"`
	IncludeExpired  bool    `json:"include_expired"`
	// Jitter spreads the sweeps' start times (a Go duration, e.g. "10m").
	Jitter string `json:"jitter,omitempty"`
	// Windows are when jobs may run, in TimeZone; none means any time.
	Windows  []Window `json:"windows"`
	TimeZone string   `json:"time_zone"`
	// OutsideWindow is what a sweep outside the windows does: "skip" (nothing)
	// or "delay" (its jobs start when the next window opens).
	OutsideWindow    string `json:"outside_window"`
	MaxDevicesPerJob int    `json:"max_devices_per_job"`
	// The sweep's rhythm: a cron expression (in TimeZone), or an interval.
	Cron      string    `json:"cron,omitempty"`
	Every     string    `json:"every,omitempty"`
	Paused    bool      `json:"paused"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Defaults for what a new policy leaves out.
const (
	DefaultMaxDevicesPerJob = 1000
	maxDevicesPerJob        = 100_000
)

// Normalize fills in defaults and checks the policy; a refusal is an
// errkind.Invalid naming the field.
func (p *Policy) Normalize() error {
	p.Name = strings.TrimSpace(p.Name)
	p.TimeZone = cmpOr(p.TimeZone, "UTC")
	p.OutsideWindow = cmpOr(p.OutsideWindow, "skip")
	if p.MaxDevicesPerJob == 0 {
		p.MaxDevicesPerJob = DefaultMaxDevicesPerJob
	}
	p.ProfileIDs = orEmpty(p.ProfileIDs)
	p.DeviceTypes = orEmpty(p.DeviceTypes)
	p.Windows = orEmpty(p.Windows)
	switch {
	case len(p.Name) == 0 || len(p.Name) > 200:
		return errkind.Invalid("name", "1 to 200 characters")
	case p.CertType != pki.CertTypeTLS && p.CertType != pki.CertTypeIEEE8021X:
		return errkind.Invalid("cert_type", "want %s or %s, not %q", pki.CertTypeTLS, pki.CertTypeIEEE8021X, p.CertType)
	case (p.RenewBeforeDays == 0) == (p.RenewAtLifetime == 0):
		return errkind.Invalid("renew_before_days", "set exactly one of renew_before_days and renew_at_lifetime")
	case p.RenewBeforeDays < 0 || p.RenewBeforeDays > 3650:
		return errkind.Invalid("renew_before_days", "1 to 3650")
	case p.RenewAtLifetime < 0 || p.RenewAtLifetime >= 1:
		return errkind.Invalid("renew_at_lifetime", "a share of the lifetime, above 0 and below 1")
	case p.OutsideWindow != "skip" && p.OutsideWindow != "delay":
		return errkind.Invalid("outside_window", "want skip or delay, not %q", p.OutsideWindow)
	case p.MaxDevicesPerJob < 1 || p.MaxDevicesPerJob > maxDevicesPerJob:
		return errkind.Invalid("max_devices_per_job", "1 to %d", maxDevicesPerJob)
	case (p.Cron == "") == (p.Every == ""):
		return errkind.Invalid("cron", "set exactly one of cron and every")
	case p.Cron != "" && len(strings.Fields(p.Cron)) != 5 && !strings.HasPrefix(p.Cron, "@"):
		return errkind.Invalid("cron", "five fields (minute hour day-of-month month day-of-week) or a @descriptor, not %q", p.Cron)
	}
	if _, err := time.LoadLocation(p.TimeZone); err != nil {
		return errkind.Invalid("time_zone", "%q is not an IANA time zone such as Europe/Berlin", p.TimeZone)
	}
	if err := checkDuration("jitter", p.Jitter, 0); err != nil {
		return err
	}
	if err := checkDuration("every", p.Every, time.Minute); err != nil {
		return err
	}
	for i, w := range p.Windows {
		if err := w.check(fmt.Sprintf("windows[%d]", i)); err != nil {
			return err
		}
	}
	return nil
}

// checkDuration refuses a duration, in field, that is malformed or shorter than least.
func checkDuration(field, s string, least time.Duration) error {
	if s == "" {
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < least {
		return errkind.Invalid(field, "want a duration of at least %s, like \"90m\", not %q", least, s)
	}
	return nil
}

func duration(s string) time.Duration {
	d, _ := time.ParseDuration(s) // checked by Normalize
	return d
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Params is the policy as the database stores it.
func (p Policy) Params() (store.CreateRenewalPolicyParams, error) {
	windows, err := json.Marshal(p.Windows)
	if err != nil {
		return store.CreateRenewalPolicyParams{}, err
	}
	return store.CreateRenewalPolicyParams{
		Name: p.Name, CertType: p.CertType, ProfileIds: p.ProfileIDs, DeviceTypes: p.DeviceTypes,
		RenewBeforeDays: int32(p.RenewBeforeDays), RenewAtLifetime: p.RenewAtLifetime,
		IncludeMissing: p.IncludeMissing, IncludeExpired: p.IncludeExpired, Jitter: duration(p.Jitter),
		Windows: windows, TimeZone: p.TimeZone, OutsideWindow: p.OutsideWindow, MaxDevicesPerJob: int32(p.MaxDevicesPerJob),
		Cron: p.Cron, Every: duration(p.Every), Paused: p.Paused,
	}, nil
}

func (p Policy) normalizedParams() (store.CreateRenewalPolicyParams, error) {
	if err := p.Normalize(); err != nil {
		return store.CreateRenewalPolicyParams{}, err
	}
	return p.Params()
}

// FromRow reads a stored policy.
func FromRow(r store.RenewalPolicy) (Policy, error) {
	p := Policy{
		ID: r.ID, Name: r.Name, CertType: r.CertType, ProfileIDs: r.ProfileIds, DeviceTypes: r.DeviceTypes,
		RenewBeforeDays: int(r.RenewBeforeDays), RenewAtLifetime: r.RenewAtLifetime,
		IncludeMissing: r.IncludeMissing, IncludeExpired: r.IncludeExpired, TimeZone: r.TimeZone,
		OutsideWindow: r.OutsideWindow, MaxDevicesPerJob: int(r.MaxDevicesPerJob), Cron: r.Cron,
		Paused: r.Paused, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	if r.Jitter > 0 {
		p.Jitter = r.Jitter.String()
	}
	if r.Every > 0 {
		p.Every = r.Every.String()
	}
	if err := json.Unmarshal(r.Windows, &p.Windows); err != nil {
		return Policy{}, fmt.Errorf("renewal policy %d: windows: %w", r.ID, err)
	}
	p.Windows = orEmpty(p.Windows)
	return p, nil
}
