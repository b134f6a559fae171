package renewal_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/certfleet/certfleet/renewal"
)

// TestNextRunsWithoutTemporal: when Temporal does not answer, policies show
// no next run, and reading them waits a bounded time, not a request's life.
func TestNextRunsWithoutTemporal(t *testing.T) {
	tc, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	require.NoError(t, err)
	defer tc.Close()
	s := &renewal.Service{Temporal: tc}
	start := time.Now()
	next := s.NextRuns(context.Background(), 1, 2, 3)
	assert.Empty(t, next)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Empty(t, (*renewal.Service)(nil).NextRuns(context.Background(), 1))
}
