package renewal_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/renewal"
	"github.com/certfleet/certfleet/workflows"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// sweepAt is the fixed moment the sweeps in these tests run at.
var sweepAt = time.Date(2026, 6, 3, 12, 0, 0, 0, time.UTC)

// inventory is a database with profiles and devices for sweeps to select from.
type inventory struct {
	pool *pgxpool.Pool
}

func newInventory(t *testing.T) inventory {
	t.Helper()
	pool, _ := testenv.Database(t)
	return inventory{pool: pool}
}

func (inv inventory) profile(t *testing.T, name string) int64 {
	t.Helper()
	row, err := store.New(inv.pool).CreateProfile(context.Background(), store.CreateProfileParams{
		Name: name, CertType: "tls", DeviceType: "camera",
		SubjectRules: json.RawMessage(`[{"attr":"CN","rule":"from_csr"}]`), SanRules: json.RawMessage(`[]`), ExtraAttributes: json.RawMessage(`[]`),
		KeyAlgorithms: json.RawMessage(`[{"algorithm":"ecdsa","sizes":[256]}]`),
		Validity:      90 * 24 * time.Hour, RenewBefore: 30 * 24 * time.Hour, CaDriver: "local",
		CaSettings: json.RawMessage(`{}`), MaxCaWait: time.Hour,
	})
	require.NoError(t, err)
	return row.ID
}

// device adds a camera assigned profile, holding a certificate valid from
// notBefore to notAfter (none when notAfter is zero).
func (inv inventory) device(t *testing.T, id string, profile int64, mode, driver string, notBefore, notAfter time.Time) {
	t.Helper()
	ctx := context.Background()
	q := store.New(inv.pool)
	_, err := q.CreateDevice(ctx, store.CreateDeviceParams{ID: id, Name: id, DeviceType: "camera", Mode: mode, Driver: driver})
	require.NoError(t, err)
	require.NoError(t, q.AssignProfile(ctx, store.AssignProfileParams{DeviceID: id, CertType: "tls", ProfileID: profile}))
	if notAfter.IsZero() {
		return
	}
	sum := sha256.Sum256([]byte(id))
	_, err = inv.pool.Exec(ctx, `INSERT INTO certificates (device_id, profile_id, cert_type, issuer, serial_hex, subject, sha256, not_before, not_after, der)
		VALUES ($1, $2, 'tls', 'CN=Test CA', $3, 'CN=' || $1, $4, $5, $6, '\x00')`, id, profile, fmt.Sprintf("%x", sum[:8]), sum[:], notBefore, notAfter)
	require.NoError(t, err)
}

func (inv inventory) policy(t *testing.T, p renewal.Policy) int64 {
	t.Helper()
	if p.Cron == "" && p.Every == "" {
		p.Every = "24h"
	}
	require.NoError(t, p.Normalize())
	params, err := p.Params()
	require.NoError(t, err)
	row, err := store.New(inv.pool).CreateRenewalPolicy(context.Background(), params)
	require.NoError(t, err)
	return row.ID
}

// sweep runs a RenewalSweep of policy in the time-skipping test environment,
// starting at `at`, against the real database; starting the jobs' workflows
// is recorded instead of done.
func (inv inventory) sweep(t *testing.T, policy int64, at time.Time) (renewal.SweepResult, [][]int64) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	acts := &renewal.SweepActivities{Pool: inv.pool}
	env.RegisterWorkflow(renewal.RenewalSweep)
	env.RegisterActivity(acts)
	var started [][]int64
	env.OnActivity(acts.StartJobs, mock.Anything, mock.Anything, mock.Anything).Return(func(_ context.Context, ids []int64, _ time.Time) error {
		started = append(started, ids)
		return nil
	})
	env.SetStartTime(at)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.RenewalSweepID(policy) + "-" + at.Format(time.RFC3339)})
	env.ExecuteWorkflow(renewal.RenewalSweep, renewal.SweepInput{PolicyID: policy})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var result renewal.SweepResult
	require.NoError(t, env.GetWorkflowResult(&result))
	return result, started
}

// jobDevices lists each job's devices, in job order.
func (inv inventory) jobDevices(t *testing.T, jobIDs []int64) [][]string {
	t.Helper()
	var out [][]string
	for _, id := range jobIDs {
		rows, err := inv.pool.Query(context.Background(), `SELECT device_id FROM job_items WHERE job_id = $1 ORDER BY device_id`, id)
		require.NoError(t, err)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		out = append(out, ids)
	}
	return out
}

// TestSweepSelectsExactlyWhatIsDue: a 30-day policy over certificates that
// expire at varied times picks the due, the expired, and nothing else.
func TestSweepSelectsExactlyWhatIsDue(t *testing.T) {
	ctx := context.Background()
	inv := newInventory(t)
	cams, others := inv.profile(t, "cameras"), inv.profile(t, "others")
	day := 24 * time.Hour
	issued := sweepAt.Add(-60 * day)
	inv.device(t, "due-in-10-days", cams, "OPERATIONAL", "agent", issued, sweepAt.Add(10*day))
	inv.device(t, "due-in-29-days", cams, "OPERATIONAL", "agent", issued, sweepAt.Add(29*day+23*time.Hour))
	inv.device(t, "expired", cams, "OPERATIONAL", "agent", issued, sweepAt.Add(-day))
	inv.device(t, "not-due-31-days", cams, "OPERATIONAL", "agent", issued, sweepAt.Add(31*day))
	inv.device(t, "no-certificate", cams, "NEW", "agent", time.Time{}, time.Time{})
	inv.device(t, "in-a-job", cams, "OPERATIONAL", "agent", issued, sweepAt.Add(5*day))
	inv.device(t, "disabled", cams, "DISABLED", "agent", issued, sweepAt.Add(5*day))
	inv.device(t, "enrolls-itself", cams, "OPERATIONAL", "est", issued, sweepAt.Add(5*day))
	inv.device(t, "other-profile", others, "OPERATIONAL", "agent", issued, sweepAt.Add(5*day))
	require.NoError(t, pgx.BeginFunc(ctx, inv.pool, func(tx pgx.Tx) error {
		_, err := jobs.Insert(ctx, tx, jobs.Spec{Name: "busy", CertType: "tls", CreatedBy: "test", DeviceIDs: []string{"in-a-job"}})
		return err
	}))
	policy := inv.policy(t, renewal.Policy{Name: "cameras 30 days", CertType: "tls", ProfileIDs: []int64{cams}, RenewBeforeDays: 30, IncludeExpired: true})

	result, started := inv.sweep(t, policy, sweepAt)
	assert.Equal(t, 3, result.Due)
	require.Len(t, result.JobIDs, 1)
	assert.Equal(t, [][]string{{"due-in-10-days", "due-in-29-days", "expired"}}, inv.jobDevices(t, result.JobIDs))
	assert.Equal(t, [][]int64{result.JobIDs}, started, "the sweep starts the jobs it created")
	job, err := store.New(inv.pool).GetJob(ctx, result.JobIDs[0])
	require.NoError(t, err)
	assert.Equal(t, "cameras 30 days 2026-06-03", job.Name)
	assert.Equal(t, "renewal-policy:"+fmt.Sprint(policy), job.CreatedBy)

	again, _ := inv.sweep(t, policy, sweepAt)
	assert.Equal(t, result.JobIDs, again.JobIDs, "a retried sweep (same workflow ID) finds its jobs")
	next, _ := inv.sweep(t, policy, sweepAt.Add(time.Hour))
	assert.Empty(t, next.JobIDs, "the next sweep finds the devices busy in the first job")

	withMissing := inv.policy(t, renewal.Policy{Name: "missing too", CertType: "tls", ProfileIDs: []int64{cams}, RenewBeforeDays: 30, IncludeMissing: true})
	result, _ = inv.sweep(t, withMissing, sweepAt)
	assert.Equal(t, [][]string{{"no-certificate"}}, inv.jobDevices(t, result.JobIDs), "the expired one is busy; expired ones are left out unless included")
}

// TestSweepByLifetimeShare: renew once two thirds of a certificate's lifetime is gone.
func TestSweepByLifetimeShare(t *testing.T) {
	inv := newInventory(t)
	cams := inv.profile(t, "cameras")
	day := 24 * time.Hour
	inv.device(t, "70-of-100-days", cams, "OPERATIONAL", "agent", sweepAt.Add(-70*day), sweepAt.Add(30*day))
	inv.device(t, "50-of-100-days", cams, "OPERATIONAL", "agent", sweepAt.Add(-50*day), sweepAt.Add(50*day))
	inv.device(t, "300-of-400-days", cams, "OPERATIONAL", "agent", sweepAt.Add(-300*day), sweepAt.Add(100*day))
	policy := inv.policy(t, renewal.Policy{Name: "two thirds", CertType: "tls", RenewAtLifetime: 2.0 / 3})
	result, _ := inv.sweep(t, policy, sweepAt)
	assert.Equal(t, [][]string{{"300-of-400-days", "70-of-100-days"}}, inv.jobDevices(t, result.JobIDs))
}

// TestSweepSplitsAtTheJobLimit: 250 due certificates with at most 100 per job make 3 jobs.
func TestSweepSplitsAtTheJobLimit(t *testing.T) {
	ctx := context.Background()
	inv := newInventory(t)
	cams := inv.profile(t, "cameras")
	_, err := inv.pool.Exec(ctx, `
		WITH d AS (INSERT INTO devices (id, name, device_type, mode)
		           SELECT format('cam-%s', lpad(n::text, 3, '0')), 'camera', 'camera', 'OPERATIONAL' FROM generate_series(1, 250) n RETURNING id)
		INSERT INTO device_profiles (device_id, cert_type, profile_id) SELECT id, 'tls', $1 FROM d`, cams)
	require.NoError(t, err)
	_, err = inv.pool.Exec(ctx, `
		INSERT INTO certificates (device_id, profile_id, cert_type, issuer, serial_hex, subject, sha256, not_before, not_after, der)
		SELECT id, $1, 'tls', 'CN=Test CA', md5(id), 'CN=' || id, sha256(id::bytea), $2::timestamptz - interval '80 days', $2::timestamptz + interval '10 days', '\x00'
		FROM devices`, cams, sweepAt)
	require.NoError(t, err)
	policy := inv.policy(t, renewal.Policy{Name: "cameras", CertType: "tls", RenewBeforeDays: 30, MaxDevicesPerJob: 100})
	result, started := inv.sweep(t, policy, sweepAt)
	require.Len(t, result.JobIDs, 3)
	sizes := []int{}
	seen := map[string]bool{}
	for _, devices := range inv.jobDevices(t, result.JobIDs) {
		sizes = append(sizes, len(devices))
		for _, d := range devices {
			seen[d] = true
		}
	}
	assert.Equal(t, []int{100, 100, 50}, sizes)
	assert.Len(t, seen, 250, "every due device in exactly one job")
	assert.Len(t, started, 1)
	job, err := store.New(inv.pool).GetJob(ctx, result.JobIDs[2])
	require.NoError(t, err)
	assert.Equal(t, "cameras 2026-06-03 (3/3)", job.Name)
}

// TestSweepHonoursMaintenanceWindows in the policy's time zone: outside them
// a sweep does nothing, or delays its jobs to the next window.
func TestSweepHonoursMaintenanceWindows(t *testing.T) {
	ctx := context.Background()
	inv := newInventory(t)
	cams := inv.profile(t, "cameras")
	inv.device(t, "cam-1", cams, "OPERATIONAL", "agent", sweepAt.Add(-80*24*time.Hour), sweepAt.Add(24*time.Hour))
	nights := []renewal.Window{{Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "01:00", End: "05:00"}}
	skip := inv.policy(t, renewal.Policy{Name: "skip", CertType: "tls", RenewBeforeDays: 30, Windows: nights, TimeZone: "Asia/Tokyo"})
	delay := inv.policy(t, renewal.Policy{Name: "delay", CertType: "tls", RenewBeforeDays: 30, Windows: nights, TimeZone: "Asia/Tokyo", OutsideWindow: "delay"})

	// 12:00 UTC on Wednesday is 21:00 in Tokyo: outside.
	result, started := inv.sweep(t, skip, sweepAt)
	assert.Equal(t, "outside the maintenance windows", result.Skipped)
	assert.Empty(t, result.JobIDs)
	assert.Empty(t, started)

	result, _ = inv.sweep(t, delay, sweepAt)
	require.Len(t, result.JobIDs, 1)
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	nextNight := time.Date(2026, 6, 4, 1, 0, 0, 0, tokyo) // Thursday 01:00 in Tokyo, 16:00 UTC on Wednesday
	assert.True(t, result.StartAt.Equal(nextNight), "start at %v, want %v", result.StartAt, nextNight)
	job, err := store.New(inv.pool).GetJob(ctx, result.JobIDs[0])
	require.NoError(t, err)
	assert.True(t, job.ScheduledAt.Equal(nextNight), "the job is scheduled for the window: %v", job.ScheduledAt)

	// 18:00 UTC is 03:00 in Tokyo on Thursday: inside; but cam-1 is busy now,
	// so this sweep finds nothing, and says so by an empty result, not a skip.
	result, _ = inv.sweep(t, skip, sweepAt.Add(6*time.Hour))
	assert.Empty(t, result.Skipped)
	assert.Empty(t, result.JobIDs)
}
