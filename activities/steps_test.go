package activities_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
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
	job := f.job(t)
	require.NoError(t, q.AddJobItem(ctx, store.AddJobItemParams{JobID: job.ID, DeviceID: "sim-00001", CertType: "tls", ProfileID: f.normal}))
	acts := f.activities()
	it := activities.Item{JobID: job.ID, DeviceID: "sim-00001", ProfileID: f.normal, CertType: "tls"}
	at := func(s vocab.Step) activities.Item { it.Step = s; return it }
	recorded := func() vocab.Step {
		item, err := q.GetJobItem(ctx, store.GetJobItemParams{JobID: job.ID, DeviceID: it.DeviceID})
		require.NoError(t, err)
		return vocab.Step(item.Step)
	}

	_, err := acts.GetCSR(ctx, it)
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

// job creates a job for items added by hand.
func (f *fleet) job(t *testing.T) store.Job {
	t.Helper()
	job, err := store.New(f.pool).CreateJob(context.Background(), store.CreateJobParams{Name: "by hand", CertType: "tls", CreatedBy: "test", ScheduledAt: time.Now()})
	require.NoError(t, err)
	return job
}

// TestSettleItem settles items whose device workflows ended without an
// outcome: one whose device holds the certificate issued for it keeps it
// (revoke_warning); one whose device does not loses it (device_failure); a
// settled item keeps its outcome. AwaitItems then reports both.
func TestSettleItem(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 2)
	q := store.New(f.pool)
	job := f.job(t)
	acts := f.activities()
	issue := func(device string) (activities.Item, activities.Submission) {
		require.NoError(t, q.AddJobItem(ctx, store.AddJobItemParams{JobID: job.ID, DeviceID: device, CertType: "tls", ProfileID: f.normal}))
		it := activities.Item{JobID: job.ID, DeviceID: device, ProfileID: f.normal, CertType: "tls", Step: vocab.StepCSR}
		csr, err := acts.GetCSR(ctx, it)
		require.NoError(t, err)
		it.Step = vocab.StepSubmit
		sub, err := acts.SubmitCSR(ctx, it, csr.CSR)
		require.NoError(t, err)
		return it, sub
	}
	status := func(id int64) string {
		c, err := q.GetCertificate(ctx, id)
		require.NoError(t, err)
		return c.Status
	}

	// The run ended after its install step, before its revoke step began.
	installed, installedSub := issue("sim-00001")
	installed.Step = vocab.StepInstall
	require.NoError(t, acts.InstallIssued(ctx, installed, installedSub.Issued()))
	outcome, err := acts.SettleItem(ctx, installed, "terminated")
	require.NoError(t, err)
	assert.Equal(t, vocab.RevokeWarning, outcome)
	assert.Equal(t, "active", status(installedSub.CertificateID), "the installed certificate stays")

	// The run ended in its install step, which had recorded what it installs.
	notInstalled, notInstalledSub := issue("sim-00002")
	require.NoError(t, q.RecordItemIssued(ctx, store.RecordItemIssuedParams{JobID: job.ID, DeviceID: notInstalled.DeviceID, IssuedCertificateID: pgtype.Int8{Int64: notInstalledSub.CertificateID, Valid: true}}))
	outcome, err = acts.SettleItem(ctx, notInstalled, "terminated")
	require.NoError(t, err)
	assert.Equal(t, vocab.DeviceFailure, outcome)
	assert.Equal(t, "revoked", status(notInstalledSub.CertificateID), "a certificate the device never got is retired")

	outcome, err = acts.SettleItem(ctx, installed, "again")
	require.NoError(t, err)
	assert.Equal(t, vocab.RevokeWarning, outcome, "a settled item keeps its outcome")

	done, err := acts.AwaitItems(ctx, job.ID, []activities.AwaitedItem{{DeviceID: "sim-00001"}, {DeviceID: "sim-00002"}})
	require.NoError(t, err)
	assert.Equal(t, []activities.ItemOutcome{{DeviceID: "sim-00001", Outcome: vocab.RevokeWarning}, {DeviceID: "sim-00002", Outcome: vocab.DeviceFailure}}, done)
}
