package db

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrations is the migrations folder itself, so goose sees bare file names.
var migrations = mustSub(migrationFiles, "migrations")

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // dir is a compile-time constant that go:embed already checked
	}
	return sub
}

// Migrate applies every migration newer than the database's version and returns
// the version it ends on. It is safe to run concurrently from several processes:
// goose serialises them with a Postgres advisory lock.
func Migrate(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	provider, closeDB, err := newProvider(pool)
	if err != nil {
		return 0, err
	}
	defer closeDB()
	if _, err := provider.Up(ctx); err != nil {
		return 0, fmt.Errorf("apply migrations: %w", err)
	}
	return provider.GetDBVersion(ctx)
}

// MigrateDownTo rolls the schema back to version; tests use it to prove that
// every migration can be undone.
func MigrateDownTo(ctx context.Context, pool *pgxpool.Pool, version int64) error {
	provider, closeDB, err := newProvider(pool)
	if err != nil {
		return err
	}
	defer closeDB()
	if _, err := provider.DownTo(ctx, version); err != nil {
		return fmt.Errorf("roll back migrations to %d: %w", version, err)
	}
	return nil
}

func newProvider(pool *pgxpool.Pool) (*goose.Provider, func(), error) {
	sqlDB := stdlib.OpenDBFromPool(pool)
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		sqlDB.Close()
		return nil, nil, fmt.Errorf("create migration lock: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations, goose.WithSessionLocker(locker))
	if err != nil {
		sqlDB.Close()
		return nil, nil, fmt.Errorf("load migrations: %w", err)
	}
	return provider, func() { sqlDB.Close() }, nil
}

// CheckCurrent fails when the database lacks migrations that this binary
// carries, so that a process never runs against a schema older than its code.
func CheckCurrent(ctx context.Context, pool *pgxpool.Pool) error {
	provider, closeDB, err := newProvider(pool)
	if err != nil {
		return err
	}
	defer closeDB()
	pending, err := provider.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if pending {
		return errors.New("database schema is behind this binary: run `certfleet migrate` first")
	}
	return nil
}
