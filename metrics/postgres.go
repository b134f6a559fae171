package metrics

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// QueryTracer times every Postgres query of a pool (pgx's ConnConfig.Tracer)
// by its sqlc name, so that a benchmark can tell how much of a job's or an
// enrollment's time is spent waiting for Postgres, and on which queries.
type QueryTracer struct{}

type queryStartKey struct{}

type queryStart struct {
	name  string
	began time.Time
}

// TraceQueryStart implements pgx.QueryTracer.
func (QueryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, queryStartKey{}, queryStart{name: queryName(data.SQL), began: time.Now()})
}

// TraceQueryEnd implements pgx.QueryTracer.
func (QueryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	if q, ok := ctx.Value(queryStartKey{}).(queryStart); ok {
		dbQueryDuration.WithLabelValues(q.name).Observe(time.Since(q.began).Seconds())
	}
}

// queryName is a query's sqlc name ("-- name: GetDevice :one" opens sqlc's
// SQL), a transaction's begin, commit or rollback, or "other" for the few
// queries written by hand: a bounded set of label values.
func queryName(sql string) string {
	if rest, ok := strings.CutPrefix(sql, "-- name: "); ok {
		name, _, _ := strings.Cut(rest, " ")
		return name
	}
	switch word := strings.ToLower(strings.TrimSpace(sql)); {
	case strings.HasPrefix(word, "begin"):
		return "begin"
	case word == "commit", word == "rollback":
		return word
	}
	return "other"
}
