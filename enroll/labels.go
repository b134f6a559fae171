package enroll

import (
	"context"
	"errors"
	"net/netip"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/profiles"
)

// Label is an enrollment label with what it selects.
type Label struct {
	Row     store.EstLabel
	Profile store.Profile
	Policy  pki.Profile
	CA      ca.Driver
}

// Label resolves a request's label (the default one when name is empty) for
// protocol ("EST", "SCEP", named in refusals) and refuses a client at
// clientIP outside its allowed networks.
func (s *Service) Label(ctx context.Context, protocol, name, clientIP string) (Label, error) {
	if TextProblem(name) != "" {
		return Label{}, errkind.NotFound("no %s label %q", protocol, name)
	}
	l, err := s.labels.Get(ctx, name, func(ctx context.Context) (Label, error) { return s.loadLabel(ctx, name) })
	switch {
	case errors.Is(err, pgx.ErrNoRows) && name == "":
		return Label{}, errkind.NotFound("no %s label is the default; name one in the path", protocol)
	case errors.Is(err, pgx.ErrNoRows):
		return Label{}, errkind.NotFound("no %s label %q", protocol, name)
	case err != nil:
		return Label{}, err
	}
	if !Allowed(l.Row.AllowedCidrs, clientIP) {
		return Label{}, errkind.Forbidden("this client address may not use %s label %q", protocol, l.Row.Label)
	}
	if l.Profile.ArchivedAt != nil {
		return Label{}, errkind.Forbidden("%s label %q issues from an archived profile", protocol, l.Row.Label)
	}
	if l.CA, err = s.CAs.CA(ctx, l.Profile); err != nil {
		return Label{}, err
	}
	return l, nil
}

// loadLabel reads label name and its profile, without its CA: the CA
// driver is found on every request, since it is not in the tables a
// change of which drops a cached label.
func (s *Service) loadLabel(ctx context.Context, name string) (Label, error) {
	row, err := store.New(s.Pool).ESTLabelWithProfile(ctx, name)
	if err != nil {
		return Label{}, err
	}
	l := Label{Row: row.EstLabel, Profile: row.Profile}
	l.Policy, err = profiles.FromRow(l.Profile)
	return l, err
}

// Allowed reports whether clientIP is in one of cidrs; no cidrs allow all.
func Allowed(cidrs []netip.Prefix, clientIP string) bool {
	if len(cidrs) == 0 {
		return true
	}
	addr, err := netip.ParseAddr(clientIP)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	return slices.ContainsFunc(cidrs, func(p netip.Prefix) bool { return p.Contains(addr) })
}
