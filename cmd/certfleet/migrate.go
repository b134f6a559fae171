package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/certfleet/certfleet/config"
	"github.com/certfleet/certfleet/db"
	"github.com/certfleet/certfleet/temporalconn"
	"github.com/certfleet/certfleet/workflows"
)

// namespaceRetention is how long a new namespace keeps closed workflow histories.
const namespaceRetention = 30 * 24 * time.Hour

// migrate prepares everything certfleet needs before it can run: the database
// and its schema, then the Temporal namespace and search attributes. Every step
// is idempotent, so running it on each deploy is safe.
func migrate(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	created, err := db.EnsureDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	if created {
		logger.Info("created database", "url", db.Redact(cfg.DatabaseURL))
	}
	pool, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	version, err := db.Migrate(ctx, pool)
	if err != nil {
		return err
	}
	logger.Info("database schema is current", "version", version)

	tc, err := temporalconn.Dial(ctx, cfg.TemporalAddress, cfg.TemporalNamespace, cfg.TemporalTLS, logger)
	if err != nil {
		return err
	}
	defer tc.Close()
	nsCreated, err := temporalconn.EnsureNamespace(ctx, tc, cfg.TemporalNamespace, namespaceRetention)
	if err != nil {
		return err
	}
	if nsCreated {
		logger.Info("registered Temporal namespace", "namespace", cfg.TemporalNamespace)
	}
	saCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	added, err := temporalconn.EnsureSearchAttributes(saCtx, tc, cfg.TemporalNamespace, workflows.SearchAttributes)
	if err != nil {
		return err
	}
	logger.Info("Temporal namespace is ready", "namespace", cfg.TemporalNamespace, "search_attributes_added", added)
	return nil
}
