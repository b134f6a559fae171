package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
)

// Retry creates and starts a job over the items of a finished job that
// failed (device_failure, ca_failure) or were halted, linked to it by
// retry_of; audit, unless nil, records it in the new job's transaction. A job
// not finished yet, or with nothing to retry, is a conflict; the devices are
// refused or skipped as for Create (one now in another active job is a
// conflict, one disabled since is skipped).
func (s *Service) Retry(ctx context.Context, jobID int64, createdBy string, audit Audit) (Created, error) {
	q := store.New(s.Pool)
	prior, err := q.GetJob(ctx, jobID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Created{}, errkind.NotFound("no job %d", jobID)
	}
	if err != nil {
		return Created{}, err
	}
	if prior.CompletedAt == nil {
		return Created{}, errkind.Conflict("job %d has not finished (%s): halt it, or wait for it to end", jobID, prior.Status)
	}
	devices, err := q.RetryableJobItems(ctx, jobID)
	if err != nil {
		return Created{}, fmt.Errorf("read the failed items of job %d: %w", jobID, err)
	}
	if len(devices) == 0 {
		return Created{}, errkind.Conflict("job %d has nothing to retry: no item failed or was halted", jobID)
	}
	name := fmt.Sprintf("retry of job %d: %s", jobID, prior.Name)
	if r := []rune(name); len(r) > 200 {
		name = string(r[:200])
	}
	spec := Spec{Name: name, CertType: prior.CertType, CreatedBy: createdBy, DeviceIDs: devices}
	job, err := s.Create(ctx, spec, func(q *store.Queries, job Created) error {
		if err := q.SetJobRetryOf(ctx, store.SetJobRetryOfParams{ID: job.ID, RetryOf: pgtype.Int8{Int64: jobID, Valid: true}}); err != nil {
			return fmt.Errorf("link job %d to job %d: %w", job.ID, jobID, err)
		}
		if audit == nil {
			return nil
		}
		job.RetryOf = pgtype.Int8{Int64: jobID, Valid: true}
		return audit(q, job)
	})
	if err != nil {
		return Created{}, err
	}
	job.RetryOf = pgtype.Int8{Int64: jobID, Valid: true}
	return job, nil
}

// LiveTimeout bounds how long a job's reader waits for its workflow's live
// progress; Temporal being down or busy must not hold up what Postgres knows.
const LiveTimeout = time.Second

// Live is the part of a running job's state only its workflow knows: whether
// it is still scheduled, running or halting, and how many devices it has
// started that have not reported. The counts of items are Postgres's.
type Live struct {
	Status   string `json:"status"`
	InFlight int    `json:"in_flight"`
}

// LiveProgress asks the job's workflow for its live state, waiting at most
// LiveTimeout; ok is false when it did not answer in time or at all.
func (s *Service) LiveProgress(ctx context.Context, jobID int64) (Live, bool) {
	ctx, cancel := context.WithTimeout(ctx, LiveTimeout)
	defer cancel()
	p, err := s.Progress(ctx, jobID)
	if err != nil {
		return Live{}, false
	}
	return Live{Status: p.Status, InFlight: p.InFlight}, true
}
