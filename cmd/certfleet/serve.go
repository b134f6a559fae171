package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	"golang.org/x/sync/errgroup"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/config"
	"github.com/certfleet/certfleet/db"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/drivers/registry"
	"github.com/certfleet/certfleet/est"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/pki/kek"
	"github.com/certfleet/certfleet/pki/trust"
	"github.com/certfleet/certfleet/renewal"
	"github.com/certfleet/certfleet/temporalconn"
	"github.com/certfleet/certfleet/worker"
)

// role says which parts a process runs.
type role struct{ api, worker bool }

var roles = map[string]role{
	"all":    {api: true, worker: true},
	"serve":  {api: true},
	"worker": {worker: true},
}

// serve runs the parts of certfleet that r names until ctx ends, then drains them.
func serve(ctx context.Context, cfg config.Config, logger *slog.Logger, r role) error {
	pool, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := db.CheckCurrent(ctx, pool); err != nil {
		return err
	}
	tc, err := temporalconn.Dial(ctx, cfg.TemporalAddress, cfg.TemporalNamespace, logger)
	if err != nil {
		return err
	}
	defer tc.Close()
	builtinCA, err := openBuiltinCA(ctx, cfg, logger, pool)
	if err != nil {
		return err
	}

	drivers := registry.New(pool, builtinCA, os.LookupEnv, deviceTimeout)
	jobService := &jobs.Service{Pool: pool, Temporal: tc, TaskQueue: cfg.TaskQueue}
	renewals := &renewal.Service{Pool: pool, Temporal: tc, TaskQueue: cfg.TaskQueue}
	if r.worker {
		w := worker.New(tc, cfg.TaskQueue, cfg.ShutdownTimeout, &activities.Activities{Pool: pool, Drivers: drivers},
			&renewal.SweepActivities{Pool: pool, Jobs: jobService})
		if err := w.Start(); err != nil {
			return fmt.Errorf("start Temporal worker on task queue %s: %w", cfg.TaskQueue, err)
		}
		defer w.Stop()
		logger.Info("worker started", "task_queue", cfg.TaskQueue, "namespace", cfg.TemporalNamespace)
	}
	if !r.api {
		<-ctx.Done()
		logger.Info("shutting down")
		return nil
	}
	go builtinCA.KeepCRLFresh(ctx, time.Hour)
	if err := renewals.Reconcile(ctx); err != nil {
		// Not fatal: the API still serves, and the next start tries again.
		logger.Error("renewal schedules do not match the policies", "error", err)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveAPI(ctx, cfg, logger, pool, tc, builtinCA, jobService, renewals) })
	g.Go(func() error { return serveEST(ctx, cfg, logger, pool, tc, builtinCA, drivers) })
	if cfg.PprofAddr != "" {
		g.Go(func() error {
			return serveHTTP(ctx, "profiler", cfg.PprofAddr, pprofHandler(), nil, cfg.ShutdownTimeout, logger)
		})
	}
	return g.Wait()
}

// deviceTimeout bounds one call to a device; steps retry past it.
const deviceTimeout = 30 * time.Second

// openBuiltinCA loads the built-in CA, creating it (and the key-encryption key
// file, unless CERTFLEET_KEK is set) on first start.
func openBuiltinCA(ctx context.Context, cfg config.Config, logger *slog.Logger, pool *pgxpool.Pool) (*local.CA, error) {
	keys, err := kek.Load(cfg.KEK, cfg.KEKFile)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	return local.Open(ctx, pool, keys, local.Options{KeySpec: cfg.CAKey, PublicURL: cfg.PublicURL, Logger: logger})
}

func serveAPI(ctx context.Context, cfg config.Config, logger *slog.Logger, pool *pgxpool.Pool, tc client.Client, builtinCA *local.CA, jobService *jobs.Service, renewals *renewal.Service) error {
	handler := api.New(api.Deps{
		Pool:     pool,
		Jobs:     jobService,
		Renewals: renewals,
		Approver: builtinCA,
		Revoker:  builtinCA,
		Trust:    trust.New(pool),
		CRLs:     builtinCA,
		Logger:   logger,
		Checks: map[string]api.HealthCheck{
			"postgres": pool.Ping,
			"temporal": func(ctx context.Context) error {
				_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
				return err
			},
		},
	})
	return serveHTTP(ctx, "API", cfg.APIAddr, handler, nil, cfg.ShutdownTimeout, logger)
}

// estCertificateValidity is the life of the EST server's certificate, renewed
// by every start.
const estCertificateValidity = 90 * 24 * time.Hour

// serveEST runs the EST server, unless its address is empty, with a TLS
// certificate from the built-in CA.
func serveEST(ctx context.Context, cfg config.Config, logger *slog.Logger, pool *pgxpool.Pool, tc client.Client, builtinCA *local.CA, drivers *registry.Registry) error {
	if cfg.EST.Addr == "" {
		return nil
	}
	cert, err := builtinCA.ServerCertificate(cfg.EST.Hosts, estCertificateValidity)
	if err != nil {
		return err
	}
	server := &est.Server{
		Pool: pool, CAs: drivers, Fallback: builtinCA, Trust: trust.New(pool), Logger: logger,
		Enroller: &est.Temporal{Client: tc, TaskQueue: cfg.TaskQueue, Wait: cfg.EST.Wait},
		Limits:   est.Limits{MaxBody: est.DefaultLimits.MaxBody, Rate: cfg.EST.RateLimit, Burst: int(2 * cfg.EST.RateLimit)},
	}
	return serveHTTP(ctx, "EST server", cfg.EST.Addr, server.Handler(), est.TLSConfig(cert), cfg.ShutdownTimeout, logger)
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
