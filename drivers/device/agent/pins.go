package agent

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/db/store"
)

// DBPins keeps pins in the devices table. A pin is set once: a device that
// already has one keeps it, and a changed certificate must be re-pinned by an
// operator.
type DBPins struct{ Pool *pgxpool.Pool }

// SavePin records pin as deviceID's if it has none yet.
func (p DBPins) SavePin(ctx context.Context, deviceID string, pin []byte) error {
	if _, err := store.New(p.Pool).PinDeviceTLS(ctx, store.PinDeviceTLSParams{ID: deviceID, TlsPin: pin}); err != nil {
		return fmt.Errorf("save TLS pin of %s: %w", deviceID, err)
	}
	return nil
}
