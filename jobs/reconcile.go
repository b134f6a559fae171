package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/workflows"
)

// Reconciler settings: every ReconcileEvery, jobs still scheduled and older
// than UnstartedAge get their workflow checked, so a job whose start was lost
// (a crash between commit and start, Temporal unreachable) starts within
// about 45 s of Temporal answering.
const (
	ReconcileEvery = 15 * time.Second
	UnstartedAge   = 30 * time.Second
)

// reconcilePage bounds the jobs one pass checks.
const reconcilePage = 200

// Reconcile starts the workflow of every job that is still scheduled, was
// created before minAge ago, and has no workflow: its start was lost. It is
// idempotent: a job's workflow ID is its own, and a second start of it is
// refused by Temporal and ignored. It returns how many workflows it started.
// A job whose workflow exists (waiting for its start time, or ended) is left
// alone; one it starts runs with the tuning stored with it.
func (s *Service) Reconcile(ctx context.Context, minAge time.Duration) (int, error) {
	q := store.New(s.Pool)
	before := time.Now().Add(-minAge)
	started := 0
	for after := int64(0); ; {
		rows, err := q.UnstartedJobs(ctx, store.UnstartedJobsParams{CreatedBefore: before, AfterID: after, PageSize: reconcilePage})
		if err != nil {
			return started, fmt.Errorf("list unstarted jobs: %w", err)
		}
		for _, job := range rows {
			after = job.ID
			_, err := s.Temporal.DescribeWorkflowExecution(ctx, workflows.JobWorkflowID(job.ID), "")
			var notFound *serviceerror.NotFound
			if err == nil {
				continue
			}
			if !errors.As(err, &notFound) {
				return started, fmt.Errorf("describe %s: %w", workflows.JobWorkflowID(job.ID), err)
			}
			if err := s.Start(ctx, job, SpecOf(job)); err != nil {
				return started, err
			}
			started++
		}
		if len(rows) < reconcilePage {
			return started, nil
		}
	}
}

// SpecOf is what starts the workflow of a stored job: its start time and
// the tuning it was created with.
func SpecOf(job store.Job) Spec {
	return Spec{StartAt: job.ScheduledAt, Window: int(job.WindowSize), ChildrenPerRun: int(job.ChildrenPerRun), StepDeadline: job.StepDeadline}
}

// RunReconciler runs Reconcile every interval until ctx ends, logging what
// it starts and what fails; an unreachable Temporal only delays it.
func (s *Service) RunReconciler(ctx context.Context, every, minAge time.Duration, logger *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		n, err := s.Reconcile(ctx, minAge)
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Warn("job reconciler: could not start unstarted jobs", "error", err)
		case n > 0:
			logger.Info("job reconciler: started the workflows of jobs whose start was lost", "jobs", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// haltWithoutWorkflow ends a job that has no workflow to signal.
func (s *Service) haltWithoutWorkflow(ctx context.Context, jobID int64) error {
	q := store.New(s.Pool)
	job, err := q.GetJob(ctx, jobID)
	if err != nil {
		return fmt.Errorf("read job %d: %w", jobID, err)
	}
	if job.CompletedAt != nil {
		return nil
	}
	if _, err := q.HaltJobWithoutWorkflow(ctx, jobID); err != nil {
		return fmt.Errorf("halt job %d, which has no workflow: %w", jobID, err)
	}
	return nil
}
