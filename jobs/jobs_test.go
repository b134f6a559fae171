package jobs_test

import (
	"context"
	"crypto/x509"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/vocab"
	"github.com/certfleet/certfleet/workflows"
)

// startWorker runs certfleet's worker in this process until the test ends.
func (f *fleet) startWorker(t *testing.T) {
	t.Helper()
	testenv.StartWorker(t, f.temporal, taskQueue, f.activities(), nil)
}

// TestJobWithFaultsAndApprovals is the acceptance run: 300 devices, 10% CSR
// faults, 5% install faults, and 5 devices under an approval-mode profile
// approved while the job runs. Each item must end with the outcome its
// device's faults predict; every installed certificate must be on its device
// and chain to the CA; every superseded certificate must be in the CRL.
func TestJobWithFaultsAndApprovals(t *testing.T) {
	ctx := context.Background()
	const devices = 300
	f := newFleet(t, devices)
	f.assign(t, f.approval, 1, 5)
	f.assign(t, f.normal, 6, devices)
	f.startWorker(t)

	// Job A gives devices 6-300 a first certificate: nothing to revoke yet.
	jobA, err := f.jobs.Create(ctx, jobs.Spec{Name: "first issue", CertType: "tls", CreatedBy: "test", DeviceIDs: ids(6, devices)}, nil)
	require.NoError(t, err)
	progressA := f.wait(t, jobA.ID, 5*time.Minute)
	assert.Equal(t, workflows.Outcomes{RevokeNA: devices - 5}, progressA.Outcomes)
	assert.Equal(t, map[string]int{"revoke_na": devices - 5}, f.states(t, jobA.ID))

	// Faults for job B, and what each device's faults predict.
	f.admin(t, http.MethodPut, "/faults", map[string]any{"seed": 42, "csr_failure": 0.10, "install_failure": 0.05}).Body.Close()
	expected := map[string]int{}
	predicted := map[string]vocab.Outcome{}
	awaitingApproval := 0
	for n, id := range ids(1, devices) {
		s := f.device(t, id)
		outcome := vocab.Succeeded
		switch {
		case s.Faults.CSRFailure, s.Faults.InstallFailure:
			outcome = vocab.DeviceFailure
		case n < 5:
			outcome = vocab.RevokeNA // approval devices had no job A certificate
		}
		if n < 5 && !s.Faults.CSRFailure {
			awaitingApproval++
		}
		expected[string(outcome)]++
		predicted[id] = outcome
	}
	require.Positive(t, expected[string(vocab.DeviceFailure)], "the seed gives some devices faults")

	jobB, err := f.jobs.Create(ctx, jobs.Spec{Name: "renew with faults", CertType: "tls", CreatedBy: "test",
		DeviceIDs: ids(1, devices), Window: 50, ChildrenPerRun: 120, StepDeadline: 20 * time.Second}, nil)
	require.NoError(t, err)
	_, err = f.jobs.Create(ctx, jobs.Spec{Name: "clash", CertType: "tls", CreatedBy: "test", DeviceIDs: ids(1, 3)}, nil)
	busy, _ := errkind.As(err)
	require.Equal(t, errkind.KindConflict, busy.Kind(), "a device cannot be in two active jobs: %v", err)
	assert.Len(t, busy.Details()["devices"], 3)

	approved := approveWhilePending(t, f, jobB.ID, awaitingApproval)
	progressB := f.wait(t, jobB.ID, 8*time.Minute)
	assert.Equal(t, int32(awaitingApproval), approved.Load(), "every approval-mode request was approved mid-job")

	states := f.states(t, jobB.ID)
	assert.Equal(t, expected, states)
	assert.Equal(t, expected[string(vocab.Succeeded)], progressB.Outcomes.Succeeded)
	assert.Equal(t, expected[string(vocab.DeviceFailure)], progressB.Outcomes.DeviceFailure)
	assert.Equal(t, "completed_with_failures", progressB.Status, "some devices failed, the others got their certificate")
	f.checkInstalledAndRevoked(t, jobB.ID, predicted)
	f.checkHistories(t, jobB.ID)
}

// approveWhilePending approves the job's approval-mode requests as they
// appear, as an operator would, until it has approved want of them.
func approveWhilePending(t *testing.T, f *fleet, jobID int64, want int) *atomic.Int32 {
	t.Helper()
	var approved atomic.Int32
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for int(approved.Load()) < want {
			rows, err := f.pool.Query(ctx, `SELECT id FROM ca_requests WHERE status = 'pending' AND idempotency_key LIKE $1`, itoa(jobID)+"/%")
			if err != nil {
				return
			}
			var pending []int64
			for rows.Next() {
				var id int64
				_ = rows.Scan(&id)
				pending = append(pending, id)
			}
			rows.Close()
			for _, id := range pending {
				if _, err := f.ca.Approve(ctx, itoa(id), "test-operator", nil); err == nil {
					approved.Add(1)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return &approved
}

// checkInstalledAndRevoked: each installed certificate is on its device and
// chains to the CA; each prior certificate that was revoked is in the CRL.
func (f *fleet) checkInstalledAndRevoked(t *testing.T, jobID int64, predicted map[string]vocab.Outcome) {
	t.Helper()
	ctx := context.Background()
	issuing, root := f.ca.Certificates()
	roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	intermediates.AddCert(issuing)
	crlDER, err := f.ca.CRL(ctx)
	require.NoError(t, err)
	crl, err := x509.ParseRevocationList(crlDER)
	require.NoError(t, err)
	inCRL := map[string]bool{}
	for _, e := range crl.RevokedCertificateEntries {
		inCRL[e.SerialNumber.Text(16)] = true
	}
	q := store.New(f.pool)
	revoked := 0
	for id, outcome := range predicted {
		if outcome != vocab.Succeeded && outcome != vocab.RevokeNA {
			continue
		}
		item, err := q.GetJobItem(ctx, store.GetJobItemParams{JobID: jobID, DeviceID: id})
		require.NoError(t, err)
		stored, err := q.GetCertificate(ctx, item.IssuedCertificateID.Int64)
		require.NoError(t, err)
		cert, err := x509.ParseCertificate(stored.Der)
		require.NoError(t, err)
		_, err = cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		assert.NoError(t, err, "%s: the certificate chains to the CA", id)
		assert.Equal(t, sha256Hex(stored.Der), f.device(t, id).Certificates["tls"].SHA256, "%s holds the certificate issued", id)
		if outcome == vocab.Succeeded {
			require.True(t, item.PriorCertificateID.Valid, "%s had a prior certificate", id)
			prior, err := q.GetCertificate(ctx, item.PriorCertificateID.Int64)
			require.NoError(t, err)
			assert.Equal(t, "revoked", prior.Status)
			assert.True(t, inCRL[prior.SerialHex], "%s: the superseded certificate is in the CRL", id)
			revoked++
		}
	}
	assert.Positive(t, revoked)
}

// checkHistories: no run of the job workflow comes near Temporal's limits.
func (f *fleet) checkHistories(t *testing.T, jobID int64) {
	t.Helper()
	runs, longest := historyLengths(t, f, jobID)
	assert.GreaterOrEqual(t, runs, 3, "300 devices at 120 per run continue as new at least twice")
	assert.Less(t, longest, int64(10_000))
	t.Logf("job %d: %d runs, longest history %d events", jobID, runs, longest)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// historyLengths lists every run of the job's workflow in visibility and
// returns how many there are and the longest history among them.
func historyLengths(t *testing.T, f *fleet, jobID int64) (runs int, longest int64) {
	t.Helper()
	ctx := context.Background()
	query := "WorkflowId = '" + workflows.JobWorkflowID(jobID) + "'"
	var token []byte
	for {
		resp, err := f.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
		require.NoError(t, err)
		for _, e := range resp.Executions {
			runs++
			longest = max(longest, e.GetHistoryLength())
		}
		if token = resp.NextPageToken; len(token) == 0 {
			return runs, longest
		}
	}
}

// TestFailedStartLeavesNothingBehind: if the workflow cannot start, the job
// and its items are removed, so its devices are free for the next job, and
// the audit log records the removal after the creation.
func TestFailedStartLeavesNothingBehind(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 3)
	f.assign(t, f.normal, 1, 3)
	// The rows commit; then the workflow start is refused (no task queue).
	broken := &jobs.Service{Pool: f.pool, Temporal: f.temporal, TaskQueue: ""}
	_, err := broken.Create(ctx, jobs.Spec{Name: "doomed", CertType: "tls", CreatedBy: "test", DeviceIDs: ids(1, 3)},
		func(q *store.Queries, job jobs.Created) error {
			return q.RecordAudit(ctx, store.RecordAuditParams{Actor: "test", Action: "job.create", ObjectType: "job",
				ObjectIds: []string{strconv.FormatInt(job.ID, 10)}, Details: []byte("{}")})
		})
	require.ErrorContains(t, err, "nothing was created")
	var jobsLeft int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&jobsLeft))
	assert.Zero(t, jobsLeft)
	var audit []string
	rows, err := f.pool.Query(ctx, `SELECT actor || ' ' || action FROM audit_log ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var row string
		require.NoError(t, rows.Scan(&row))
		audit = append(audit, row)
	}
	assert.Equal(t, []string{"test job.create", "system:job-start job.delete_unstarted"}, audit)
	_, err = f.jobs.Create(ctx, jobs.Spec{Name: "next", CertType: "tls", CreatedBy: "test", DeviceIDs: ids(1, 3)}, nil)
	require.NoError(t, err, "the devices are free")
}
