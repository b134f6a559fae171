package renewal

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/jobs"
)

// SweepInput starts a RenewalSweep.
type SweepInput struct{ PolicyID int64 }

// SweepResult is what a sweep did: the jobs it created for the devices due,
// when they start (zero: at once), or why it did nothing.
type SweepResult struct {
	Due     int
	JobIDs  []int64
	StartAt time.Time
	Skipped string `json:",omitempty"`
}

// SweepActivities are a sweep's steps with their dependencies.
type SweepActivities struct {
	Pool *pgxpool.Pool
	Jobs *jobs.Service
}

// acts is only a name for activity methods; Temporal calls the worker's instance.
var acts *SweepActivities

// RenewalSweep is what a policy's schedule runs: it creates the jobs for the
// certificates due at the sweep's time (one local activity, so that a sweep
// costs one workflow task), then starts their workflows.
func RenewalSweep(ctx workflow.Context, in SweepInput) (SweepResult, error) {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: time.Minute, ScheduleToCloseTimeout: 30 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute},
	})
	var plan SweepResult
	sweepID := workflow.GetInfo(ctx).WorkflowExecution.ID
	if err := workflow.ExecuteLocalActivity(lctx, acts.CreateJobs, in.PolicyID, sweepID, workflow.Now(ctx)).Get(lctx, &plan); err != nil {
		return plan, err
	}
	if len(plan.JobIDs) == 0 {
		return plan, nil
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute, ScheduleToCloseTimeout: time.Hour,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute},
	})
	return plan, workflow.ExecuteActivity(actx, acts.StartJobs, plan.JobIDs, plan.StartAt).Get(actx, nil)
}

// CreateJobs stores the jobs for the devices policyID finds due at `at`, at
// most the policy's maximum each, named after the policy and the date. They
// are created in one transaction and marked with the sweep's ID, so a retry
// finds them instead of creating more.
func (a *SweepActivities) CreateJobs(ctx context.Context, policyID int64, sweepID string, at time.Time) (SweepResult, error) {
	q := store.New(a.Pool)
	source := "renewal/" + sweepID + "/"
	if existing, err := q.JobsFromSource(ctx, source); err != nil || len(existing) > 0 {
		return resultOf(existing), err
	}
	row, err := q.GetRenewalPolicy(ctx, policyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return SweepResult{Skipped: "the policy was deleted"}, nil
	}
	if err != nil {
		return SweepResult{}, fmt.Errorf("read renewal policy %d: %w", policyID, err)
	}
	p, err := FromRow(row)
	if err != nil {
		return SweepResult{}, temporal.NewNonRetryableApplicationError(err.Error(), activities.ErrBadPolicy, nil)
	}
	loc, _ := time.LoadLocation(p.TimeZone)
	startAt, ok := Schedule(p.Windows, loc, at, p.OutsideWindow == "delay")
	if !ok {
		return SweepResult{Skipped: "outside the maintenance windows"}, nil
	}
	due, err := q.DueForRenewal(ctx, store.DueForRenewalParams{
		CertType: p.CertType, ProfileIds: p.ProfileIDs, DeviceTypes: p.DeviceTypes, At: at,
		IncludeMissing: p.IncludeMissing, IncludeExpired: p.IncludeExpired,
		RenewBeforeDays: int32(p.RenewBeforeDays), RenewAtLifetime: p.RenewAtLifetime,
	})
	if err != nil {
		return SweepResult{}, fmt.Errorf("select what policy %d renews: %w", policyID, err)
	}
	ids := make([]string, len(due))
	for i, d := range due {
		ids[i] = d.DeviceID
	}
	result := SweepResult{Due: len(ids), StartAt: startAt}
	err = pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		parts := chunks(ids, p.MaxDevicesPerJob)
		for i, part := range parts {
			name := p.Name + " " + at.In(loc).Format("2006-01-02")
			if len(parts) > 1 {
				name += fmt.Sprintf(" (%d/%d)", i+1, len(parts))
			}
			job, err := jobs.Insert(ctx, tx, jobs.Spec{Name: name, CertType: p.CertType, CreatedBy: "renewal-policy:" + strconv.FormatInt(p.ID, 10), DeviceIDs: part, StartAt: startAt})
			if err != nil {
				return fmt.Errorf("create job %d of %d: %w", i+1, len(parts), err)
			}
			if err := store.New(tx).SetJobSource(ctx, store.SetJobSourceParams{ID: job.ID, Source: pgtype.Text{String: source + strconv.Itoa(i+1), Valid: true}}); err != nil {
				return err
			}
			result.JobIDs = append(result.JobIDs, job.ID)
		}
		return nil
	})
	return result, err
}

// StartJobs starts the workflows of the jobs a sweep created; starting one
// twice is harmless.
func (a *SweepActivities) StartJobs(ctx context.Context, jobIDs []int64, startAt time.Time) error {
	q := store.New(a.Pool)
	for _, id := range jobIDs {
		job, err := q.GetJob(ctx, id)
		if err != nil {
			return fmt.Errorf("read job %d: %w", id, err)
		}
		if err := a.Jobs.Start(ctx, job, jobs.Spec{StartAt: startAt}); err != nil {
			return err
		}
	}
	return nil
}

func resultOf(existing []store.Job) SweepResult {
	var r SweepResult
	for _, j := range existing {
		r.JobIDs = append(r.JobIDs, j.ID)
		r.StartAt = j.ScheduledAt
	}
	return r
}

func chunks(ids []string, size int) [][]string {
	var out [][]string
	for len(ids) > 0 {
		n := min(size, len(ids))
		out = append(out, ids[:n])
		ids = ids[n:]
	}
	return out
}
