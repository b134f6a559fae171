package scep

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/db/store"
)

// transactionAge is how long a SCEP transaction is kept for a CertPoll: far
// longer than any client polls a pending request.
const transactionAge = 90 * 24 * time.Hour

// Tidy deletes the SCEP state nobody can use any more: challenges a day past
// their expiry, and transactions older than transactionAge.
func Tidy(ctx context.Context, pool *pgxpool.Pool) (challenges, transactions int64, err error) {
	row, err := store.New(pool).DeleteSpentSCEPState(ctx, transactionAge)
	if err != nil {
		return 0, 0, fmt.Errorf("delete spent SCEP challenges and transactions: %w", err)
	}
	return row.Challenges, row.Transactions, nil
}

// KeepTidy runs Tidy every period until ctx ends.
func KeepTidy(ctx context.Context, pool *pgxpool.Pool, every time.Duration, logger *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		challenges, transactions, err := Tidy(ctx, pool)
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Warn("SCEP tidy-up failed", "error", err)
		case challenges+transactions > 0:
			logger.Info("SCEP tidy-up", "expired_challenges", challenges, "old_transactions", transactions)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
