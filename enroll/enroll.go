// Package enroll is what certfleet's enrollment protocols, EST (est/) and
// SCEP (scep/), share: labels and what they select, the credentials a device
// proves itself with (a secret, a factory certificate, the certificate it
// renews), the rules a request must pass before anything is written, and
// running each enrollment as an Enrollment workflow. The protocols differ
// only in their wire formats and in how they answer a refusal: domain
// refusals here are errkind errors, which each protocol maps in one place.
package enroll

import (
	"cmp"
	"context"
	"log/slog"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/changefeed"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/pki/trust"
)

// CAs finds the CA driver of a profile (drivers/registry does).
type CAs interface {
	CA(ctx context.Context, profile store.Profile) (ca.Driver, error)
}

// Enroller runs an enrollment and reports where it stands after a brief wait:
// issued, rejected or failed, or pending with the CA's Retry-After.
type Enroller interface {
	Enroll(ctx context.Context, e activities.Enrollment, run RunInfo) (activities.Submission, error)
	// Discard gives up an enrollment whose certificate will not reach the
	// device (a serverkeygen answer that could not be given): afterwards no
	// certificate is issued for it, and one issued already is revoked, in
	// the background if the CA has yet to decide.
	Discard(ctx context.Context, e activities.Enrollment, run RunInfo) error
}

// RunInfo is what makes an enrollment's run easy to find in the Temporal UI.
type RunInfo struct {
	// Protocol is "est" or "scep": the run's CertJobId and ID prefix.
	Protocol, Operation, Label, Profile string
	// ExpectPending says the CA will hold the request for approval, so waiting
	// long for it is pointless.
	ExpectPending bool
}

// Service is the shared machinery; each protocol's server holds one.
type Service struct {
	Pool     *pgxpool.Pool
	CAs      CAs
	Trust    *trust.Store
	Enroller Enroller
	Logger   *slog.Logger
	Limits   Limits
	// SecretChecks bounds the argon2id verifications of enrollment secrets;
	// Init makes it from Limits when it is nil. Servers of several
	// protocols in one process share one.
	SecretChecks *auth.SecretChecks
	// Changes, when set, keeps labels cached (see Init) until they or
	// their profiles change.
	Changes *changefeed.Feed
	labels  *changefeed.Cache[string, Label]
}

// Init fills what was left unset: a discarding logger, the bound on secret
// verifications, the label cache. Servers copy the Service after Init, so
// they share these.
func (s *Service) Init() {
	if s.Changes != nil && s.labels == nil {
		s.labels = changefeed.NewCache[string, Label](s.Changes)
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.SecretChecks == nil {
		s.SecretChecks = s.Limits.SecretChecks()
	}
}

// Limits protect the servers from clients.
type Limits struct {
	// MaxBody caps a request body; a CSR, or a SCEP message, is a few kilobytes.
	MaxBody int64
	// Rate and Burst limit requests per client (an IPv4 address or an IPv6
	// /64); Rate 0 turns it off.
	Rate  float64
	Burst int
	// PasswordChecks is how many argon2id verifications of enrollment
	// secrets run at once (0: GOMAXPROCS, as each is single-threaded and
	// CPU-bound: more at once add memory, 19 MiB each, not throughput). A
	// request finding them all busy waits up to PasswordWait (0: 2 s) in a
	// queue of 16 per check, then is refused as busy (see ErrBusy).
	PasswordChecks int
	PasswordWait   time.Duration
}

// DefaultLimits suit a device fleet behind one server.
var DefaultLimits = Limits{MaxBody: 64 << 10, Rate: 20, Burst: 40}

// SecretChecks makes the bound on secret verifications the limits ask for.
func (l Limits) SecretChecks() *auth.SecretChecks {
	n := cmp.Or(l.PasswordChecks, runtime.GOMAXPROCS(0))
	return auth.NewSecretChecks(n, 16*n, cmp.Or(l.PasswordWait, 2*time.Second))
}
