package activities_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/vocab"
)

// TestStepsAreIdempotent repeats each step as Temporal does when a worker
// dies after the side effect and before the step's completion is recorded:
// the CA returns the same certificate, the install is found done, and the
// revocation is not done twice. Each step records the step the workflow
// named in the item, and only that.
func TestStepsAreIdempotent(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 1)
	q := store.New(f.pool)
	job, err := q.CreateJob(ctx, store.CreateJobParams{Name: "by hand", CertType: "tls", CreatedBy: "test", ScheduledAt: time.Now()})
	require.NoError(t, err)
	require.NoError(t, q.AddJobItem(ctx, store.AddJobItemParams{JobID: job.ID, DeviceID: "sim-00001", CertType: "tls", ProfileID: f.normal}))
	acts := f.activities()
	it := activities.Item{JobID: job.ID, DeviceID: "sim-00001", ProfileID: f.normal, CertType: "tls"}
	at := func(s vocab.Step) activities.Item { it.Step = s; return it }
	recorded := func() vocab.Step {
		item, err := q.GetJobItem(ctx, store.GetJobItemParams{JobID: job.ID, DeviceID: it.DeviceID})
		require.NoError(t, err)
		return vocab.Step(item.Step)
	}

	_, err = acts.GetCSR(ctx, it)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"pending": 1}, f.states(t, job.ID), "an item without a step (scheduled by an older worker) records none")
	csr, err := acts.GetCSR(ctx, at(vocab.StepCSR))
	require.NoError(t, err)
	assert.Equal(t, vocab.StepCSR, recorded())
	first, err := acts.SubmitCSR(ctx, at(vocab.StepSubmit), csr.CSR)
	require.NoError(t, err)
	assert.Equal(t, vocab.StepSubmit, recorded())
	again, err := acts.SubmitCSR(ctx, at(vocab.StepSubmit), csr.CSR)
	require.NoError(t, err)
	assert.Equal(t, first.CertificateID, again.CertificateID, "one certificate per item")

	require.NotEmpty(t, first.Certificate, "the certificate travels with the CA's answer")
	require.NoError(t, acts.InstallIssued(ctx, at(vocab.StepInstall), first.Issued()))
	assert.Equal(t, vocab.StepInstall, recorded())
	require.NoError(t, acts.InstallIssued(ctx, at(vocab.StepInstall), first.Issued()), "the repeated install finds the certificate in place")
	require.NoError(t, acts.Install(ctx, at(vocab.StepInstall), first.CertificateID), "and so does the install of runs recorded before, by ID")

	outcome, err := acts.RevokePrior(ctx, at(vocab.StepRevoke), csr.PriorCertificateID)
	require.NoError(t, err)
	assert.Equal(t, vocab.RevokeNA, outcome)
	assert.Equal(t, vocab.StepRevoke, recorded())
	assert.Equal(t, map[string]int{"revoke_na": 1}, f.states(t, job.ID))
}
