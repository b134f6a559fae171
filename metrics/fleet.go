package metrics

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/vocab"
)

var (
	jobs        = gauge("certfleet_jobs", "Certificate jobs by status.", "status")
	activeItems = gauge("certfleet_job_items_active",
		"Job items not yet ended, by state (pending, in_progress) and step.", "state", "step")
	caRequests    = gauge("certfleet_ca_requests", "CA requests by status: pending, issued, rejected.", "status")
	oldestPending = single("certfleet_ca_request_oldest_pending_seconds",
		"Age of the oldest CA request still pending (awaiting approval or the CA), 0 when none.")
	certificates = gauge("certfleet_certificates",
		"Certificates in the inventory by status (active, superseded, revoked, and expired: active but past not_after).", "status")
	expiring = gauge("certfleet_certificates_expiring",
		"Active certificates expiring within a window (7d, 30d, 90d), by profile.", "profile", "within")
	unrenewed = gauge("certfleet_certificates_expiring_unrenewed",
		"Active certificates expiring within 30 days that no unpaused renewal policy covers, by profile.", "profile")
	withoutCertificate = single("certfleet_devices_without_valid_certificate",
		"Enabled devices holding no active, unexpired certificate.")
	caExpiry = gauge("certfleet_ca_certificate_expiry_timestamp_seconds",
		"When a built-in CA's certificates expire (Unix time), by CA, generation status (active, next, retired) and role (issuing, root).",
		"ca", "status", "role")
	fleetRefreshed = single("certfleet_fleet_metrics_refreshed_timestamp_seconds",
		"When the fleet metrics were last read from Postgres (Unix time).")
)

// Fleet reads the fleet's state from Postgres into the gauges every Every,
// so that a scrape costs no query and many scrapers cost no more than one.
type Fleet struct {
	Pool   *pgxpool.Pool
	Every  time.Duration
	Logger *slog.Logger
}

// Run refreshes the gauges until ctx ends; a failed refresh is logged and
// the gauges keep their last values (their refreshed time tells how old).
func (f Fleet) Run(ctx context.Context) {
	t := time.NewTicker(f.Every)
	defer t.Stop()
	for {
		if err := f.Refresh(ctx); err != nil && ctx.Err() == nil {
			f.Logger.Warn("fleet metrics not refreshed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Refresh reads every fleet gauge once.
func (f Fleet) Refresh(ctx context.Context) error {
	q := store.New(f.Pool)
	for _, read := range []func(context.Context, *store.Queries) error{readJobs, readCARequests, readCertificates, readExpiring, readCAs} {
		if err := read(ctx, q); err != nil {
			return err
		}
	}
	fleetRefreshed.SetToCurrentTime()
	return nil
}

func readJobs(ctx context.Context, q *store.Queries) error {
	rows, err := q.MetricJobs(ctx)
	if err != nil {
		return fmt.Errorf("count jobs: %w", err)
	}
	for _, s := range vocab.JobStatuses {
		jobs.WithLabelValues(string(s)).Set(0)
	}
	for _, r := range rows {
		jobs.WithLabelValues(r.Status).Set(float64(r.N))
	}
	items, err := q.MetricActiveJobItems(ctx)
	if err != nil {
		return fmt.Errorf("count job items: %w", err)
	}
	activeItems.Reset()
	for _, state := range []vocab.ItemState{vocab.ItemPending, vocab.ItemInProgress} {
		for _, step := range vocab.Steps {
			activeItems.WithLabelValues(string(state), string(step))
		}
	}
	for _, r := range items {
		activeItems.WithLabelValues(r.State, r.Step).Set(float64(r.N))
	}
	return nil
}

func readCARequests(ctx context.Context, q *store.Queries) error {
	rows, err := q.MetricCARequests(ctx)
	if err != nil {
		return fmt.Errorf("count CA requests: %w", err)
	}
	for _, s := range vocab.RequestStatuses {
		caRequests.WithLabelValues(string(s)).Set(0)
	}
	oldestPending.Set(0)
	for _, r := range rows {
		caRequests.WithLabelValues(r.Status).Set(float64(r.N))
		if r.Status == string(vocab.RequestPending) {
			oldestPending.Set(r.OldestPendingSeconds)
		}
	}
	return nil
}

func readCertificates(ctx context.Context, q *store.Queries) error {
	rows, err := q.MetricCertificates(ctx)
	if err != nil {
		return fmt.Errorf("count certificates: %w", err)
	}
	counts := map[string]int64{"active": 0, "superseded": 0, "revoked": 0, "expired": 0}
	for _, r := range rows {
		if r.Expired {
			counts["expired"] += r.N
		} else {
			counts[r.Status] += r.N
		}
	}
	for status, n := range counts {
		certificates.WithLabelValues(status).Set(float64(n))
	}
	n, err := q.MetricDevicesWithoutCertificate(ctx)
	if err != nil {
		return fmt.Errorf("count devices without a certificate: %w", err)
	}
	withoutCertificate.Set(float64(n))
	return nil
}

func readExpiring(ctx context.Context, q *store.Queries) error {
	rows, err := q.MetricExpiring(ctx)
	if err != nil {
		return fmt.Errorf("count expiring certificates: %w", err)
	}
	profiles, err := q.MetricProfiles(ctx)
	if err != nil {
		return fmt.Errorf("read profiles: %w", err)
	}
	// Every active profile has its series, at zero when nothing expires; an
	// archived one drops out rather than keep its last count.
	expiring.Reset()
	unrenewed.Reset()
	for _, profile := range profiles {
		for _, within := range []string{"7d", "30d", "90d"} {
			expiring.WithLabelValues(profile, within).Set(0)
		}
		unrenewed.WithLabelValues(profile).Set(0)
	}
	for _, r := range rows {
		expiring.WithLabelValues(r.Profile, "7d").Set(float64(r.Within7d))
		expiring.WithLabelValues(r.Profile, "30d").Set(float64(r.Within30d))
		expiring.WithLabelValues(r.Profile, "90d").Set(float64(r.Within90d))
	}
	uncovered, err := q.UnrenewedExpiring(ctx)
	if err != nil {
		return fmt.Errorf("count certificates no renewal policy covers: %w", err)
	}
	for _, r := range uncovered {
		unrenewed.WithLabelValues(r.Profile).Set(float64(r.Certificates))
	}
	return nil
}

func readCAs(ctx context.Context, q *store.Queries) error {
	rows, err := q.MetricCACertificates(ctx)
	if err != nil {
		return fmt.Errorf("read CA certificates: %w", err)
	}
	caExpiry.Reset()
	for _, r := range rows {
		for role, der := range map[string][]byte{"issuing": r.IssuingDer, "root": r.RootDer} {
			if cert, err := x509.ParseCertificate(der); err == nil {
				caExpiry.WithLabelValues(r.Name, r.Status, role).Set(float64(cert.NotAfter.Unix()))
			}
		}
	}
	return nil
}
