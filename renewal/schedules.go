package renewal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/temporalconn"
	"github.com/certfleet/certfleet/workflows"
)

// Service keeps policies in Postgres and their schedules in Temporal in step:
// every change writes the row and the schedule in one transaction, so that a
// failed schedule change leaves the row as it was, and Reconcile repairs what
// a crash between the two may leave.
type Service struct {
	Pool      *pgxpool.Pool
	Temporal  client.Client
	TaskQueue string
}

// ErrNotFound is a policy that does not exist.
var ErrNotFound = errkind.NotFound("no such renewal policy")

// Create stores a policy and creates its schedule; audit writes the audit
// row in the same transaction.
func (s *Service) Create(ctx context.Context, p Policy, audit func(*store.Queries, Policy) error) (Policy, error) {
	params, err := p.normalizedParams()
	if err != nil {
		return Policy{}, err
	}
	return s.change(ctx, audit, func(q *store.Queries) (store.RenewalPolicy, error) {
		return q.CreateRenewalPolicy(ctx, params)
	})
}

// Update replaces a policy and updates its schedule.
func (s *Service) Update(ctx context.Context, id int64, p Policy, audit func(*store.Queries, Policy) error) (Policy, error) {
	params, err := p.normalizedParams()
	if err != nil {
		return Policy{}, err
	}
	return s.change(ctx, audit, func(q *store.Queries) (store.RenewalPolicy, error) {
		return q.UpdateRenewalPolicy(ctx, store.UpdateRenewalPolicyParams{
			ID: id, Name: params.Name, CertType: params.CertType, ProfileIds: params.ProfileIds, DeviceTypes: params.DeviceTypes,
			RenewBeforeDays: params.RenewBeforeDays, RenewAtLifetime: params.RenewAtLifetime,
			IncludeMissing: params.IncludeMissing, IncludeExpired: params.IncludeExpired, Jitter: params.Jitter,
			Windows: params.Windows, TimeZone: params.TimeZone, OutsideWindow: params.OutsideWindow,
			MaxDevicesPerJob: params.MaxDevicesPerJob, Cron: params.Cron, Every: params.Every, Paused: params.Paused,
		})
	})
}

// SetPaused pauses or resumes a policy and its schedule.
func (s *Service) SetPaused(ctx context.Context, id int64, paused bool, audit func(*store.Queries, Policy) error) (Policy, error) {
	return s.change(ctx, audit, func(q *store.Queries) (store.RenewalPolicy, error) {
		return q.SetRenewalPolicyPaused(ctx, store.SetRenewalPolicyPausedParams{ID: id, Paused: paused})
	})
}

// change runs write in a transaction, brings the schedule in line with the
// written row, and commits only if that worked.
func (s *Service) change(ctx context.Context, audit func(*store.Queries, Policy) error, write func(*store.Queries) (store.RenewalPolicy, error)) (Policy, error) {
	var p Policy
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		q := store.New(tx)
		row, err := write(q)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if p, err = FromRow(row); err != nil {
			return err
		}
		if err := audit(q, p); err != nil {
			return err
		}
		return s.ensure(ctx, p)
	})
	return p, err
}

// Delete removes a policy and its schedule.
func (s *Service) Delete(ctx context.Context, id int64, audit func(*store.Queries) error) error {
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		q := store.New(tx)
		n, err := q.DeleteRenewalPolicy(ctx, id)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		if err := audit(q); err != nil {
			return err
		}
		err = s.Temporal.ScheduleClient().GetHandle(ctx, workflows.RenewalScheduleID(id)).Delete(ctx)
		var notFound *serviceerror.NotFound
		if err != nil && !errors.As(err, &notFound) {
			return fmt.Errorf("delete schedule %s: %w", workflows.RenewalScheduleID(id), err)
		}
		return nil
	})
}

// Trigger runs a sweep of policy id now. audit, unless nil, records the
// request first (see audited).
func (s *Service) Trigger(ctx context.Context, id int64, audit func(*store.Queries) error) error {
	if err := s.audited(ctx, id, audit); err != nil {
		return err
	}
	return sweepUnsent(s.Temporal.ScheduleClient().GetHandle(ctx, workflows.RenewalScheduleID(id)).Trigger(ctx, client.ScheduleTriggerOptions{
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	}))
}

// Backfill runs the sweeps the schedule would have run between start and
// end. audit, unless nil, records the request first (see audited).
func (s *Service) Backfill(ctx context.Context, id int64, start, end time.Time, audit func(*store.Queries) error) error {
	if err := s.audited(ctx, id, audit); err != nil {
		return err
	}
	return sweepUnsent(s.Temporal.ScheduleClient().GetHandle(ctx, workflows.RenewalScheduleID(id)).Backfill(ctx, client.ScheduleBackfillOptions{
		Backfill: []client.ScheduleBackfill{{Start: start, End: end, Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL}},
	}))
}

// sweepUnsent reports a request for sweeps that Temporal did not answer as
// unavailable, so that the caller tries again.
func sweepUnsent(err error) error {
	if temporalconn.IsUnavailable(err) {
		return errkind.Unavailable(err, "Temporal did not answer, so no sweep was requested; try again")
	}
	return err
}

// audited checks that policy id exists and commits audit's row before the
// caller asks Temporal for a sweep: that call cannot share the transaction,
// and a request recorded that then failed is better than sweeps that ran
// unrecorded.
func (s *Service) audited(ctx context.Context, id int64, audit func(*store.Queries) error) error {
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		q := store.New(tx)
		_, err := q.GetRenewalPolicy(ctx, id)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil || audit == nil {
			return err
		}
		return audit(q)
	})
}

// Reconcile makes Temporal's renewal schedules match the policies: it
// creates or updates one per policy and deletes those of no policy. certfleet
// runs it on every start, so a schedule deleted or changed behind its back,
// or a crash between a row and its schedule, is repaired.
func (s *Service) Reconcile(ctx context.Context) error {
	rows, err := store.New(s.Pool).ListRenewalPolicies(ctx)
	if err != nil {
		return fmt.Errorf("read renewal policies: %w", err)
	}
	wanted := map[string]bool{}
	var errs []error
	for _, row := range rows {
		wanted[workflows.RenewalScheduleID(row.ID)] = true
		p, err := FromRow(row)
		if err == nil {
			err = s.ensure(ctx, p)
		}
		errs = append(errs, err)
	}
	iter, err := s.Temporal.ScheduleClient().List(ctx, client.ScheduleListOptions{})
	if err != nil {
		return fmt.Errorf("list schedules: %w", err)
	}
	for iter.HasNext() {
		entry, err := iter.Next()
		if err != nil {
			return fmt.Errorf("list schedules: %w", err)
		}
		if workflows.IsRenewalScheduleID(entry.ID) && !wanted[entry.ID] {
			errs = append(errs, s.Temporal.ScheduleClient().GetHandle(ctx, entry.ID).Delete(ctx))
		}
	}
	return errors.Join(errs...)
}

// ensure creates the policy's schedule, or updates it to the policy.
func (s *Service) ensure(ctx context.Context, p Policy) error {
	spec := client.ScheduleSpec{TimeZoneName: p.TimeZone, Jitter: duration(p.Jitter)}
	if p.Cron != "" {
		spec.CronExpressions = []string{p.Cron}
	} else {
		spec.Intervals = []client.ScheduleIntervalSpec{{Every: duration(p.Every)}}
	}
	action := &client.ScheduleWorkflowAction{
		ID:            workflows.RenewalSweepID(p.ID),
		Workflow:      RenewalSweep,
		Args:          []any{SweepInput{PolicyID: p.ID}},
		TaskQueue:     s.TaskQueue,
		StaticSummary: "renewal sweep of policy " + p.Name,
	}
	sc := s.Temporal.ScheduleClient()
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID: workflows.RenewalScheduleID(p.ID), Spec: spec, Action: action, Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Paused: p.Paused, Note: "renewal policy " + p.Name,
	})
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return wrapSchedule(p, err)
	}
	err = sc.GetHandle(ctx, workflows.RenewalScheduleID(p.ID)).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			schedule := in.Description.Schedule
			schedule.Spec, schedule.Action = &spec, action
			schedule.Policy.Overlap = enumspb.SCHEDULE_OVERLAP_POLICY_SKIP
			schedule.State.Paused = p.Paused
			return &client.ScheduleUpdate{Schedule: &schedule}, nil
		},
	})
	return wrapSchedule(p, err)
}

// wrapSchedule says why Temporal did not take p's schedule: a rhythm it
// refuses is invalid, no answer is unavailable.
func wrapSchedule(p Policy, err error) error {
	if err == nil {
		return nil
	}
	var invalid *serviceerror.InvalidArgument
	switch {
	case errors.As(err, &invalid):
		return errkind.Invalid(rhythmField(p), "Temporal refused the schedule: %s", invalid.Message)
	case temporalconn.IsUnavailable(err):
		return errkind.Unavailable(err, "Temporal did not answer, so the policy was not changed; try again")
	}
	return fmt.Errorf("schedule %s of policy %q: %w", workflows.RenewalScheduleID(p.ID), p.Name, err)
}

// rhythmField names p's rhythm, cron or every: what Temporal checks of a
// schedule beyond what Normalize does.
func rhythmField(p Policy) string {
	if p.Cron != "" {
		return "cron"
	}
	return "every"
}

// nextRunTimeout bounds how long a read of the policies waits for Temporal to
// describe their schedules: the policies themselves come from Postgres.
const nextRunTimeout = 2 * time.Second

// NextRuns returns when each policy's schedule runs next, from Temporal's
// Describe of the schedule. A policy whose schedule is paused, has no next
// run, or could not be described within a bounded time (Temporal unavailable)
// is left out.
func (s *Service) NextRuns(ctx context.Context, ids ...int64) map[int64]time.Time {
	next := make(map[int64]time.Time, len(ids))
	if s == nil || s.Temporal == nil || len(ids) == 0 {
		return next
	}
	ctx, cancel := context.WithTimeout(ctx, nextRunTimeout)
	defer cancel()
	sc := s.Temporal.ScheduleClient()
	for _, id := range ids {
		d, err := sc.GetHandle(ctx, workflows.RenewalScheduleID(id)).Describe(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break // Temporal did not answer in time: the rest would not either
			}
			continue
		}
		if d.Schedule.State != nil && d.Schedule.State.Paused {
			continue
		}
		if len(d.Info.NextActionTimes) > 0 {
			next[id] = d.Info.NextActionTimes[0]
		}
	}
	return next
}
