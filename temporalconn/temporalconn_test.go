package temporalconn_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/temporalconn"
	"github.com/certfleet/certfleet/workflows"
)

// TestPrepareCluster registers a namespace and certfleet's search attributes on
// a server that has neither, as `certfleet migrate` does on a real cluster, and
// proves that a second run changes nothing.
func TestPrepareCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, c := testenv.Temporal(t, testenv.TemporalOptions{WithoutSearchAttributes: true})

	created, err := temporalconn.EnsureNamespace(ctx, c, "certfleet-prod", 72*time.Hour)
	require.NoError(t, err)
	assert.True(t, created)
	created, err = temporalconn.EnsureNamespace(ctx, c, "certfleet-prod", 72*time.Hour)
	require.NoError(t, err)
	assert.False(t, created)

	added, err := temporalconn.EnsureSearchAttributes(ctx, c, "default", workflows.SearchAttributes)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"CertJobId", "DeviceId", "CertStep", "CertProfile", "CertOutcome"}, added)

	listed, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	require.NoError(t, err)
	for _, key := range workflows.SearchAttributes {
		assert.Equal(t, key.GetValueType(), listed.GetCustomAttributes()[key.GetName()], key.GetName())
	}

	added, err = temporalconn.EnsureSearchAttributes(ctx, c, "default", workflows.SearchAttributes)
	require.NoError(t, err)
	assert.Empty(t, added)

	clash := []temporal.SearchAttributeKey{temporal.NewSearchAttributeKeyInt64("CertJobId")}
	_, err = temporalconn.EnsureSearchAttributes(ctx, c, "default", clash)
	assert.ErrorContains(t, err, "CertJobId exists as Keyword")
}
