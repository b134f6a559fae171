// Package stations says what a provisioning station may do: a credential
// (an application's, a factory line's) that enrolls many devices, each
// named only in its CSR, within a scope of labels, device IDs, a number of
// enrollments and an expiry. The API manages stations; enroll/ admits their
// requests by these rules.
package stations

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
)

// NamePattern is what a station's name may be.
var NamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// clientIDSuffix makes a station's HTTP Basic user ID: '@' is no part of
// any device ID, so the two can never be confused.
const clientIDSuffix = "@station"

// ClientID is the HTTP Basic user ID of station name.
func ClientID(name string) string { return name + clientIDSuffix }

// NameOf is the station a Basic user ID names, if it names one.
func NameOf(clientID string) (string, bool) {
	name, ok := strings.CutSuffix(clientID, clientIDSuffix)
	return name, ok && NamePattern.MatchString(name)
}

// CompilePattern compiles a device ID pattern, a regular expression the
// whole ID must match ("" matches nothing).
func CompilePattern(pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, nil
	}
	if len(pattern) > 500 {
		return nil, fmt.Errorf("at most 500 characters")
	}
	// Compiled alone first: a pattern such as "a)|(?:.*" must not escape the
	// anchors it is then put between.
	if _, err := regexp.Compile(pattern); err != nil {
		return nil, err
	}
	return regexp.Compile(`^(?:` + pattern + `)$`)
}

// CheckScope refuses deviceID unless station st may name it: listed, or
// matching its pattern.
func CheckScope(st store.ProvisioningStation, deviceID string) error {
	if slices.Contains(st.DeviceIds, deviceID) {
		return nil
	}
	if re, err := CompilePattern(st.DeviceIDPattern); err == nil && re != nil && re.MatchString(deviceID) {
		return nil
	}
	return errkind.Forbidden("device ID %q is outside station %q's scope (pattern %q, %d listed IDs)",
		deviceID, st.Name, st.DeviceIDPattern, len(st.DeviceIds))
}

// CheckUsable refuses station st's request through label at now: when it is
// disabled, expired or not allowed the label. Its limit is checked against
// the enrollment (see CheckLimit), as a retried request counts once.
func CheckUsable(st store.ProvisioningStation, label string, now time.Time) error {
	if state := State(st, now); state == Disabled || state == Expired {
		return refuse(st, state)
	}
	if !slices.Contains(st.Labels, label) {
		return errkind.Forbidden("station %q may not use label %q (it may use %s)", st.Name, label, strings.Join(st.Labels, ", "))
	}
	return nil
}

// CheckLimit refuses a new enrollment by station st when it has made all
// it may.
func CheckLimit(st store.ProvisioningStation) error {
	if st.MaxEnrollments.Valid && st.Enrollments >= st.MaxEnrollments.Int32 {
		return refuse(st, Exhausted)
	}
	return nil
}

func refuse(st store.ProvisioningStation, state string) error {
	return errkind.Forbidden("station %q is %s", st.Name, stateReasons[state](st))
}

// A station's states, in the order they are told.
const (
	Active    = "active"
	Disabled  = "disabled"
	Expired   = "expired"
	Exhausted = "exhausted"
)

var stateReasons = map[string]func(store.ProvisioningStation) string{
	Disabled: func(st store.ProvisioningStation) string {
		return "disabled since " + st.DisabledAt.UTC().Format(time.RFC3339)
	},
	Expired: func(st store.ProvisioningStation) string {
		return "expired since " + st.ExpiresAt.UTC().Format(time.RFC3339)
	},
	Exhausted: func(st store.ProvisioningStation) string {
		return fmt.Sprintf("past its limit: it made all its %d enrollments", st.MaxEnrollments.Int32)
	},
}

// State is whether station st can enroll at now, or why not.
func State(st store.ProvisioningStation, now time.Time) string {
	switch {
	case st.DisabledAt != nil:
		return Disabled
	case st.ExpiresAt != nil && !now.Before(*st.ExpiresAt):
		return Expired
	case st.MaxEnrollments.Valid && st.Enrollments >= st.MaxEnrollments.Int32:
		return Exhausted
	}
	return Active
}
