package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/db/store"
)

// TestStepsAreIdempotent repeats each step as Temporal does when a worker
// dies after the side effect and before the step's completion is recorded:
// the CA returns the same certificate, the install is found done, and the
// revocation is not done twice.
func TestStepsAreIdempotent(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 1)
	f.assign(t, f.normal, 1, 1)
	q := store.New(f.pool)
	job, err := q.CreateJob(ctx, store.CreateJobParams{Name: "by hand", CertType: "tls", CreatedBy: "test", ScheduledAt: time.Now()})
	require.NoError(t, err)
	require.NoError(t, q.AddJobItem(ctx, store.AddJobItemParams{JobID: job.ID, DeviceID: "sim-00001", CertType: "tls", ProfileID: f.normal}))
	acts := f.activities()
	it := activities.Item{JobID: job.ID, DeviceID: "sim-00001", ProfileID: f.normal, CertType: "tls"}

	csr, err := acts.GetCSR(ctx, it)
	require.NoError(t, err)
	first, err := acts.SubmitCSR(ctx, it, csr.CSR)
	require.NoError(t, err)
	again, err := acts.SubmitCSR(ctx, it, csr.CSR)
	require.NoError(t, err)
	assert.Equal(t, first.CertificateID, again.CertificateID, "one certificate per item")

	require.NoError(t, acts.Install(ctx, it, first.CertificateID))
	require.NoError(t, acts.Install(ctx, it, first.CertificateID), "the repeated install finds the certificate in place")

	outcome, err := acts.RevokePrior(ctx, it, csr.PriorCertificateID)
	require.NoError(t, err)
	assert.Equal(t, activities.RevokeNA, outcome)
	assert.Equal(t, map[string]int{"revoke_na": 1}, f.states(t, job.ID))
}
