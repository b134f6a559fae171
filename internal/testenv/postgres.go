package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/db"
)

// AdminURL is the maintenance database tests create their databases from:
// CERTFLEET_TEST_ADMIN_URL, or the local server that `make run` uses.
func AdminURL() string {
	if u := os.Getenv("CERTFLEET_TEST_ADMIN_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

const dbPrefix = "certfleet_test_"

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
	dbCounter    atomic.Int64
)

// Database returns a pool on a fresh, fully migrated database that only this
// test sees, and drops the database when the test ends. Databases are cloned
// from a per-package template, so each costs a file copy, not a migration run.
func Database(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	templateOnce.Do(func() { templateName, templateErr = createTemplate(ctx) })
	if templateErr != nil {
		unavailable(t, "Postgres at "+db.Redact(AdminURL()), templateErr)
	}

	name := fmt.Sprintf("%s%d_%d", dbPrefix, os.Getpid(), dbCounter.Add(1))
	if err := adminExec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(templateName)); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	dsn := withDatabase(AdminURL(), name)
	pool, err := db.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		_ = adminExec(context.Background(), "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)")
	})
	return pool, dsn
}

// EmptyDatabase returns the URL of a database that does not exist yet, for tests
// of the code that creates and migrates databases, and drops it afterwards.
func EmptyDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := adminExec(ctx, "SELECT 1"); err != nil {
		unavailable(t, "Postgres at "+db.Redact(AdminURL()), err)
	}
	name := fmt.Sprintf("%s%d_%d", dbPrefix, os.Getpid(), dbCounter.Add(1))
	t.Cleanup(func() { _ = adminExec(context.Background(), "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)") })
	return withDatabase(AdminURL(), name)
}

func createTemplate(ctx context.Context) (string, error) {
	if err := dropStale(ctx); err != nil {
		return "", err
	}
	name := fmt.Sprintf("%s%d_template", dbPrefix, os.Getpid())
	if err := adminExec(ctx, "CREATE DATABASE "+ident(name)); err != nil {
		return "", err
	}
	pool, err := db.Open(ctx, withDatabase(AdminURL(), name))
	if err != nil {
		return "", err
	}
	defer pool.Close() // a template must have no open connections when cloned
	if _, err := db.Migrate(ctx, pool); err != nil {
		return "", err
	}
	return name, nil
}

func dropTemplate() {
	if templateName != "" {
		_ = adminExec(context.Background(), "DROP DATABASE IF EXISTS "+ident(templateName)+" WITH (FORCE)")
	}
}

// dropStale drops test databases left behind by test processes that died
// before their cleanup ran; the process ID in each name tells whether its owner lives.
func dropStale(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE $1", dbPrefix+"%")
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, name := range names {
		pid, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(name, dbPrefix), "_", 2)[0])
		if err != nil || processAlive(pid) {
			continue
		}
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
			return err
		}
	}
	return nil
}

func processAlive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

func adminExec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func withDatabase(dsn, name string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		panic(fmt.Sprintf("invalid admin URL %q: %v", dsn, err))
	}
	u.Path = "/" + name
	return u.String()
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }
