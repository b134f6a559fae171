// Package db owns certfleet's Postgres schema and connections: the embedded
// migrations, the pgx pool, and (in db/store) the sqlc-generated queries.
package db

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/metrics"
)

// Open connects a pool to databaseURL and checks that the database answers.
// Its queries are timed in the metrics (metrics.QueryTracer).
func Open(ctx context.Context, databaseURL string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("configure Postgres pool: %w", err)
	}
	cfg.ConnConfig.Tracer = metrics.QueryTracer{}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("configure Postgres pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to Postgres at %s: %w", Redact(databaseURL), err)
	}
	return pool, nil
}

// EnsureDatabase creates the database that databaseURL names if it does not exist,
// connecting to the server's "postgres" maintenance database to do so.
func EnsureDatabase(ctx context.Context, databaseURL string) (created bool, err error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return false, fmt.Errorf("parse database URL: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return false, errors.New("database URL names no database")
	}
	admin := *u
	admin.Path = "/postgres"
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return false, fmt.Errorf("connect to Postgres at %s: %w", Redact(admin.String()), err)
	}
	defer conn.Close(ctx)

	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create database %q: %w", name, err)
	}
	return true, nil
}

// Redact hides the password of a connection URL so that it can be logged.
func Redact(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "(unparseable database URL)"
	}
	return u.Redacted()
}

// Unavailable is err as a refusal of kind Unavailable when it says the
// database did not answer (no connection, a connection lost, a server
// shutting down or starting, no connection slot left), so that every edge
// answers 503 with Retry-After rather than an opaque 500; nil otherwise.
func Unavailable(err error) *errkind.Error {
	var pgErr *pgconn.PgError
	var connectErr *pgconn.ConnectError
	switch {
	case errors.As(err, &connectErr),
		errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "08") || slices.Contains([]string{"57P01", "57P02", "57P03", "53300"}, pgErr.Code)):
		return errkind.Unavailable(err, "the database did not answer; try again")
	}
	return nil
}
