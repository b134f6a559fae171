package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	"golang.org/x/sync/errgroup"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/carenewal"
	"github.com/certfleet/certfleet/changefeed"
	"github.com/certfleet/certfleet/config"
	"github.com/certfleet/certfleet/console"
	"github.com/certfleet/certfleet/credentials"
	"github.com/certfleet/certfleet/db"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/drivers/registry"
	"github.com/certfleet/certfleet/enroll"
	"github.com/certfleet/certfleet/est"
	"github.com/certfleet/certfleet/inventory"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/metrics"
	"github.com/certfleet/certfleet/ocspresponder"
	"github.com/certfleet/certfleet/pki/kek"
	"github.com/certfleet/certfleet/pki/trust"
	"github.com/certfleet/certfleet/renewal"
	"github.com/certfleet/certfleet/scep"
	"github.com/certfleet/certfleet/temporalconn"
	"github.com/certfleet/certfleet/tracing"
	"github.com/certfleet/certfleet/webhooks"
	"github.com/certfleet/certfleet/worker"
)

// role says which parts a process runs.
type role struct{ api, worker bool }

// name is the subcommand of the role, as traces tell it.
func (r role) name() string {
	for name, known := range roles {
		if known == r {
			return name
		}
	}
	return "custom"
}

var roles = map[string]role{
	"all":    {api: true, worker: true},
	"serve":  {api: true},
	"worker": {worker: true},
}

// serve runs the parts of certfleet that r names until ctx ends, then drains them.
func serve(ctx context.Context, cfg config.Config, logger *slog.Logger, r role) error {
	stopTracing, err := tracing.Setup(ctx, cfg.OTLPEndpoint, r.name(), logger)
	if err != nil {
		return err
	}
	defer func() {
		flush, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(flush); err != nil {
			logger.Warn("traces not flushed", "error", err)
		}
	}()
	pool, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := db.CheckCurrent(ctx, pool); err != nil {
		return err
	}
	changes := changefeed.New(pool, logger)
	feedCtx, stopFeed := context.WithCancel(ctx)
	defer stopFeed()
	go changes.Run(feedCtx)
	// The key-encryption key first: one that does not open the built-in CA
	// (a deleted .data/, a fresh clone on an old database) stops the start
	// with the ways out, before anything else starts.
	keys, err := kek.Load(cfg.KEK, cfg.KEKFile)
	if err != nil {
		return fmt.Errorf("key-encryption key: %w", err)
	}
	kekSource := "key file " + cfg.KEKFile
	if cfg.KEK != "" {
		kekSource = "CERTFLEET_KEK"
	}
	cas, err := local.OpenSet(ctx, pool, keys, local.Options{KeySpec: cfg.CAKey, PublicURL: cfg.PublicURL, Logger: logger, ReservedNames: cfg.EST.Hosts, KEKSource: kekSource})
	if err != nil {
		return err
	}
	tc, err := temporalconn.Dial(ctx, cfg.TemporalAddress, cfg.TemporalNamespace, cfg.TemporalTLS, logger)
	if err != nil {
		return err
	}
	defer tc.Close()
	creds := &credentials.Store{Pool: pool, KEK: keys}
	if err := creds.ImportLegacy(ctx, os.LookupEnv, logger); err != nil {
		return err
	}

	drivers := registry.New(pool, cas, creds, deviceTimeout)
	jobService := &jobs.Service{Pool: pool, Temporal: tc, TaskQueue: cfg.TaskQueue, Horizon: cfg.JobHorizon, AfterCommit: crashAfterCommit()}
	renewals := &renewal.Service{Pool: pool, Temporal: tc, TaskQueue: cfg.TaskQueue}
	var outcomes *activities.Outcomes // enrollments' outcomes, straight from the worker in this process
	if r.worker {
		outcomes = &activities.Outcomes{}
		w := worker.New(tc, cfg.TaskQueue, worker.Options{
			StopTimeout: cfg.ShutdownTimeout, Activities: cfg.Worker.Activities, WorkflowTasks: cfg.Worker.WorkflowTasks, Pollers: cfg.Worker.Pollers,
			ActivitiesPerSecond: cfg.Worker.ActivitiesPerSecond, TaskQueueActivitiesPerSecond: cfg.Worker.TaskQueueActivitiesPerSecond,
		}, worker.Activities{
			Jobs: &activities.Activities{Pool: pool, Drivers: drivers, Credentials: creds, Outcomes: outcomes, Runs: tc,
				Profiles: changefeed.NewCache[int64, store.Profile](changes)},
			Sweeps: &renewal.SweepActivities{Pool: pool, Jobs: jobService},
			CAs:    &carenewal.Activities{CAs: cas, RenewBefore: cfg.CARenewBefore, Overlap: cfg.CAOverlap, Logger: logger},
			Webhooks: &webhooks.Activities{Pool: pool, Credentials: creds, Client: &http.Client{Timeout: webhookTimeout},
				Mail: &webhooks.Mailer{Addr: cfg.SMTP.Addr, From: cfg.SMTP.From, Credential: cfg.SMTP.Credential, Credentials: creds}},
		})
		if err := w.Start(); err != nil {
			return fmt.Errorf("start Temporal worker on task queue %s: %w", cfg.TaskQueue, err)
		}
		defer w.Stop()
		logger.Info("worker started", "task_queue", cfg.TaskQueue, "namespace", cfg.TemporalNamespace)
	}
	g, ctx := errgroup.WithContext(ctx)
	if cfg.MetricsAddr != "" {
		g.Go(func() error {
			return serveHTTP(ctx, "metrics", cfg.MetricsAddr, metricsHandler(), nil, cfg.ShutdownTimeout, logger)
		})
	}
	if !r.api {
		g.Go(func() error {
			<-ctx.Done()
			logger.Info("shutting down")
			return nil
		})
		return g.Wait()
	}
	go metrics.Fleet{Pool: pool, Every: cfg.FleetMetricsEvery, Logger: logger}.Run(ctx)
	go webhooks.Dispatcher{Pool: pool, Temporal: tc, TaskQueue: cfg.TaskQueue, Attempts: cfg.WebhookAttempts, Backoff: cfg.WebhookBackoff, Logger: logger}.Run(ctx, time.Second)
	go cas.KeepCRLsFresh(ctx, time.Hour)
	// Jobs whose workflow start was lost (a crash after the commit, Temporal
	// unreachable) are started once Temporal answers.
	go jobService.RunReconciler(ctx, jobs.ReconcileEvery, jobs.UnstartedAge, logger)
	if err := carenewal.EnsureSchedule(ctx, tc, cfg.TaskQueue); err != nil {
		// Not fatal either: the next start tries again, and CAs renew on demand.
		logger.Error("the CA renewal schedule could not be created", "error", err)
	}
	if err := renewals.Reconcile(ctx); err != nil {
		// Not fatal: the API still serves, and the next start tries again.
		logger.Error("renewal schedules do not match the policies", "error", err)
	}
	responder := ocspresponder.New(ocspresponder.Options{Path: local.OCSPPath, Validity: cfg.OCSPValidity, Logger: logger}, cas)
	deps := api.Deps{
		Pool: pool, Jobs: jobService, Renewals: renewals, Credentials: creds, Drivers: drivers,
		Inventory: &inventory.Service{Pool: pool, Temporal: tc, TaskQueue: cfg.TaskQueue},
		Approver:  cas, Revoker: cas, CRLs: cas, OCSP: responder, CAIssuers: cas, CAs: cas, Trust: trust.New(pool), Logger: logger,
		Console: console.Handler(), GrafanaURL: cfg.GrafanaURL, WorkflowLinks: cfg.TemporalUIURL + "/namespaces/" + url.PathEscape(cfg.TemporalNamespace) + "/workflows",
		Checks: map[string]api.HealthCheck{
			"postgres": pool.Ping,
			"temporal": func(ctx context.Context) error {
				_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
				return err
			},
		},
	}
	g.Go(func() error { return serveAPI(ctx, cfg, logger, deps) })
	g.Go(func() error {
		return serveEnrollment(ctx, cfg, logger, pool, changes, tc, cas, keys, drivers, outcomes)
	})
	if cfg.PprofAddr != "" {
		g.Go(func() error {
			return serveHTTP(ctx, "profiler", cfg.PprofAddr, pprofHandler(), nil, cfg.ShutdownTimeout, logger)
		})
	}
	return g.Wait()
}

// deviceTimeout bounds one call to a device; steps retry past it.
const deviceTimeout = 30 * time.Second

// webhookTimeout bounds one POST to a webhook's receiver.
const webhookTimeout = 10 * time.Second

// serveAPI runs the operations API, over TLS when a certificate is configured,
// each request traced (see tracing).
func serveAPI(ctx context.Context, cfg config.Config, logger *slog.Logger, deps api.Deps) error {
	handler := tracing.HTTP(api.New(deps))
	tlsConfig, err := apiTLS(cfg.APITLS)
	if err != nil {
		return err
	}
	return serveHTTP(ctx, "API", cfg.APIAddr, handler, tlsConfig, cfg.ShutdownTimeout, logger)
}

// apiTLS is the API's server TLS, nil when no certificate is configured. With
// one, the API serves HTTPS only: bearer tokens never cross the network in
// the clear, and a plain HTTP request is answered 400 by net/http.
func apiTLS(files config.TLSFiles) (*tls.Config, error) {
	if !files.Set() {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		return nil, fmt.Errorf("api-tls-cert %s and api-tls-key %s: %w", files.Cert, files.Key, err)
	}
	return serverTLS(cert), nil
}

// estCertificateValidity is the life of the EST server's certificate, renewed
// by every start.
const estCertificateValidity = 90 * 24 * time.Hour

// serveEnrollment runs the enrollment protocols: EST, and SCEP under /scep
// beside it, on the EST listener (HTTPS, with a certificate from the built-in
// CA) unless its address is empty; and SCEP alone over plain HTTP on its own
// listener unless that address is empty. Both share one enroll.Service, so
// the bound on password checks is the process's.
func serveEnrollment(ctx context.Context, cfg config.Config, logger *slog.Logger, pool *pgxpool.Pool, changes *changefeed.Feed, tc client.Client, cas *local.Set, keys *kek.KEK, drivers *registry.Registry, outcomes *activities.Outcomes) error {
	service := enroll.Service{
		Pool: pool, CAs: drivers, Trust: trust.New(pool).Cached(changes), Logger: logger, Changes: changes,
		Enroller: &enroll.Temporal{Client: tc, TaskQueue: cfg.TaskQueue, Wait: cfg.EST.Wait, Outcomes: outcomes},
		Limits:   enroll.Limits{MaxBody: enroll.DefaultLimits.MaxBody, Rate: cfg.EST.RateLimit, Burst: int(2 * cfg.EST.RateLimit)},
	}
	service.Init()
	scepHandler := (&scep.Server{Service: service, RAs: &scep.RAs{Pool: pool, KEK: keys, Issuer: cas}}).Handler()
	g, ctx := errgroup.WithContext(ctx)
	go scep.KeepTidy(ctx, pool, time.Hour, logger)
	if cfg.EST.Addr != "" {
		servers, err := cas.Servers(ctx)
		if err != nil {
			return err
		}
		cert, err := servers.ServerCertificate(cfg.EST.Hosts, estCertificateValidity)
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("/", (&est.Server{Service: service, Fallback: cas}).Handler())
		for _, path := range scep.Paths {
			mux.Handle(path, scepHandler)
		}
		g.Go(func() error {
			return serveHTTP(ctx, "EST and SCEP server", cfg.EST.Addr, mux, est.TLSConfig(cert), cfg.ShutdownTimeout, logger)
		})
	}
	if cfg.EST.SCEPAddr != "" {
		g.Go(func() error {
			return serveHTTP(ctx, "SCEP server (plain HTTP)", cfg.EST.SCEPAddr, scepHandler, nil, cfg.ShutdownTimeout, logger)
		})
	}
	return g.Wait()
}

// metricsHandler serves Prometheus' scrapes at /metrics.
func metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler())
	return mux
}

// pprofHandler serves Go's profiles, for `make bench PROFILE=1` and for
// looking into a slow process.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// crashAfterCommit is the test hook CERTFLEET_TEST_CRASH_AFTER_COMMIT=1: the
// process exits right after a job's rows commit, before its workflow starts,
// as a crash there would. Tests of the job reconciler set it; nothing else
// should.
func crashAfterCommit() func(store.Job) error {
	if os.Getenv("CERTFLEET_TEST_CRASH_AFTER_COMMIT") != "1" {
		return nil
	}
	return func(store.Job) error {
		os.Exit(3)
		return nil
	}
}
