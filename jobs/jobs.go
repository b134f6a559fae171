// Package jobs creates, starts, halts and reads certificate jobs: the rows in
// Postgres and the CertificateJob workflow that runs them. The CLI and the API
// both go through it.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/temporalconn"
	"github.com/certfleet/certfleet/workflows"
)

// Service runs jobs against one database and one Temporal namespace.
type Service struct {
	Pool      *pgxpool.Pool
	Temporal  client.Client
	TaskQueue string
	// Horizon bounds how far ahead a job may start (0: DefaultHorizon).
	Horizon time.Duration
	// AfterCommit, unless nil, runs between the commit of a job's rows and
	// the start of its workflow; an error ends Create there, as a crash of
	// the process would (tests use it). The reconciler starts such jobs.
	AfterCommit func(store.Job) error
}

// DefaultHorizon is how far ahead a job may start unless Service.Horizon says.
const DefaultHorizon = 365 * 24 * time.Hour

// startTimeout bounds the start of a job's workflow, and of the check whether
// it started, within Create; it is well below UnstartedAge, so the
// reconciler never starts a job that Create is still starting.
const startTimeout = 10 * time.Second

// Spec is a job to create.
type Spec struct {
	Name      string
	CertType  string
	CreatedBy string
	DeviceIDs []string
	// StartAt is when the job starts; the zero time means now.
	StartAt time.Time
	// Window, ChildrenPerRun and StepDeadline tune the workflow (0: defaults).
	Window         int
	ChildrenPerRun int
	StepDeadline   time.Duration
	// DrainLimit is how long a run waits for its devices before continuing
	// as new without them (0: a minute); tests shorten it.
	DrainLimit time.Duration
}

// listed names the first of devices, and how many more there are, for a
// refusal's message; its details list them all.
func listed(devices []string) string {
	shown := devices[:min(len(devices), 20)]
	more := ""
	if len(devices) > len(shown) {
		more = fmt.Sprintf(" and %d more", len(devices)-len(shown))
	}
	return strings.Join(shown, ", ") + more
}

// ReasonDisabled is why a job skips a device disabled when the job was created.
const ReasonDisabled = "the device is disabled"

// Skipped is a device a job leaves out, and why.
type Skipped struct {
	DeviceID string `json:"device_id"`
	Reason   string `json:"reason"`
}

// Created is a stored job and the devices it skipped from the start: they
// are items of the job, finished as skipped, and are never contacted.
type Created struct {
	store.Job
	Skipped []Skipped
}

// Audit writes the audit row of a job's creation in the creation's own
// transaction, so that the row exists if and only if the job does.
type Audit func(q *store.Queries, job Created) error

// Create stores the job and its items in one transaction and starts its
// workflow. A device without a profile for the certificate type (an invalid
// device_ids), or already in an active job for it (a conflict), refuses the
// whole job with an errkind.Error whose details list the devices; disabled
// devices are skipped. audit, unless nil, records the creation in
// the same transaction.
func (s *Service) Create(ctx context.Context, spec Spec, audit Audit) (Created, error) {
	horizon := s.Horizon
	if horizon <= 0 {
		horizon = DefaultHorizon
	}
	if limit := time.Now().Add(horizon); spec.StartAt.After(limit) {
		return Created{}, errkind.Invalid("start_at", "at most %s ahead (until %s), got %s",
			horizon, limit.UTC().Format(time.RFC3339), spec.StartAt.UTC().Format(time.RFC3339))
	}
	var job Created
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var err error
		if job, err = Insert(ctx, tx, spec); err != nil || audit == nil {
			return err
		}
		return audit(store.New(tx), job)
	})
	if err != nil {
		return Created{}, err
	}
	if s.AfterCommit != nil {
		if err := s.AfterCommit(job.Job); err != nil {
			return Created{}, err
		}
	}
	startCtx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := s.Start(startCtx, job.Job, spec); err != nil {
		return Created{}, s.undo(ctx, job.Job, err)
	}
	return job, nil
}

// Insert stores a job and its items in tx without starting it; Start does.
// Refusals and skips are as for Create.
func Insert(ctx context.Context, tx pgx.Tx, spec Spec) (Created, error) {
	ids, err := normalize(&spec)
	if err != nil {
		return Created{}, err
	}
	q := store.New(tx)
	job, err := q.CreateJob(ctx, store.CreateJobParams{Name: spec.Name, CertType: spec.CertType, CreatedBy: spec.CreatedBy, ScheduledAt: spec.StartAt,
		WindowSize: int32(spec.Window), ChildrenPerRun: int32(max(spec.ChildrenPerRun, 0)), StepDeadline: max(spec.StepDeadline, 0)})
	if err != nil {
		return Created{}, fmt.Errorf("create job: %w", err)
	}
	profiles, err := q.DeviceProfilesFor(ctx, store.DeviceProfilesForParams{DeviceIds: ids, CertType: spec.CertType})
	if err != nil {
		return Created{}, err
	}
	if err := checkProfiles(ctx, q, ids, profiles, spec.CertType); err != nil {
		return Created{}, err
	}
	run, skip := splitDisabled(profiles)
	if err := addItems(ctx, tx, job, run); err != nil {
		return Created{}, err
	}
	skipped, err := addSkipped(ctx, q, job, skip)
	if err != nil {
		return Created{}, err
	}
	return Created{Job: job, Skipped: skipped}, nil
}

// splitDisabled separates the devices a job runs from the disabled ones it skips.
func splitDisabled(profiles []store.DeviceProfilesForRow) (run, skip []store.DeviceProfilesForRow) {
	for _, p := range profiles {
		if p.Mode == "DISABLED" {
			skip = append(skip, p)
		} else {
			run = append(run, p)
		}
	}
	return run, skip
}

// addItems stores the items the job runs. A device already in an active job
// of the type refuses the job with a conflict.
func addItems(ctx context.Context, tx pgx.Tx, job store.Job, run []store.DeviceProfilesForRow) error {
	q := store.New(tx)
	ids := make([]string, len(run))
	rows := make([]store.AddJobItemsParams, len(run))
	for i, p := range run {
		ids[i] = p.DeviceID
		rows[i] = store.AddJobItemsParams{JobID: job.ID, DeviceID: p.DeviceID, CertType: job.CertType, ProfileID: p.ProfileID}
	}
	if err := busy(ctx, q, ids, job.CertType); err != nil {
		return err
	}
	// A savepoint, so that a clash leaves tx usable for reading who is busy.
	err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		_, err := store.New(sp).AddJobItems(ctx, rows)
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.ConstraintName == "job_items_one_active_job_per_device" {
		if busyErr := busy(ctx, q, ids, job.CertType); busyErr != nil {
			return busyErr // a concurrent job took them
		}
	}
	return err
}

// addSkipped records the disabled devices as items finished as skipped, so
// that the job's counts and items show them with why. Being in another
// active job does not matter for a device this job never contacts.
func addSkipped(ctx context.Context, q *store.Queries, job store.Job, skip []store.DeviceProfilesForRow) ([]Skipped, error) {
	if len(skip) == 0 {
		return nil, nil
	}
	params := store.AddSkippedJobItemsParams{JobID: job.ID, CertType: job.CertType, Reason: ReasonDisabled}
	skipped := make([]Skipped, len(skip))
	for i, p := range skip {
		params.DeviceIds = append(params.DeviceIds, p.DeviceID)
		params.ProfileIds = append(params.ProfileIds, p.ProfileID)
		skipped[i] = Skipped{DeviceID: p.DeviceID, Reason: ReasonDisabled}
	}
	if err := q.AddSkippedJobItems(ctx, params); err != nil {
		return nil, fmt.Errorf("record the skipped devices of job %d: %w", job.ID, err)
	}
	return skipped, nil
}

// undoActor names the removal of a job that never started in the audit log.
const undoActor = "system:job-start"

// undo removes a job whose workflow did not start, so that its devices are
// not held by a job that will never run, and records that beside the job's
// creation. If the workflow did start after all (the error came after the
// server accepted it), the job stands.
//
// When Temporal does not answer, whether the workflow started cannot be
// known: the job is kept, and the reconciler (Reconcile) starts it once
// Temporal answers again, or finds it started. The answer is then
// errkind.Unavailable naming the job, whose devices stay with it.
func (s *Service) undo(ctx context.Context, job store.Job, startErr error) error {
	describeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startTimeout)
	defer cancel()
	_, err := s.Temporal.DescribeWorkflowExecution(describeCtx, workflows.JobWorkflowID(job.ID), "")
	var notFound *serviceerror.NotFound
	if !errors.As(err, &notFound) && (temporalconn.IsUnavailable(startErr) || temporalconn.IsUnavailable(err) ||
		errors.Is(startErr, context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded)) {
		return errkind.Unavailable(startErr, "Temporal did not answer; job %d is stored and starts within a minute of Temporal answering again "+
			"(GET /api/v1/jobs/%d); do not create it again", job.ID, job.ID).With(map[string]any{"job_id": job.ID})
	}
	if !errors.As(err, &notFound) {
		return fmt.Errorf("job %d may have started; check %s: %w", job.ID, workflows.JobWorkflowID(job.ID), startErr)
	}
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		q := store.New(tx)
		if n, err := q.DeleteUnstartedJob(ctx, job.ID); err != nil || n == 0 {
			return err
		}
		details, err := json.Marshal(map[string]string{"name": job.Name, "error": startErr.Error()})
		if err != nil {
			return err
		}
		return q.RecordAudit(ctx, store.RecordAuditParams{
			Actor: undoActor, Action: "job.delete_unstarted", ObjectType: "job", ObjectIds: []string{strconv.FormatInt(job.ID, 10)}, Details: details,
		})
	})
	if err != nil {
		return fmt.Errorf("%w (and removing the unstarted job %d failed: %v)", startErr, job.ID, err)
	}
	if temporalconn.IsUnavailable(startErr) {
		return errkind.Unavailable(startErr, "Temporal did not answer, so nothing was created; try again")
	}
	return fmt.Errorf("nothing was created: %w", startErr)
}

// Start starts the workflow of a stored job. Starting it twice is harmless.
func (s *Service) Start(ctx context.Context, job store.Job, spec Spec) error {
	_, err := s.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    workflows.JobWorkflowID(job.ID),
		TaskQueue:             s.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		StaticSummary:         job.Name,
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.CertJobID.ValueSet(strconv.FormatInt(job.ID, 10))),
	}, workflows.CertificateJob, workflows.JobInput{
		JobID: job.ID, StartAt: spec.StartAt, Window: spec.Window, ChildrenPerRun: spec.ChildrenPerRun, StepDeadline: spec.StepDeadline,
		DrainLimit: spec.DrainLimit,
	})
	if err != nil && !temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		return fmt.Errorf("start workflow of job %d: %w", job.ID, err)
	}
	return nil
}

// Halt stops a job from starting devices and cancels those in flight. A job
// without a running workflow (its start was lost, or its workflow ended
// without closing it) is ended here: its unfinished items are halted, which
// frees their devices, and the job is closed as halted.
func (s *Service) Halt(ctx context.Context, jobID int64) error {
	err := s.Temporal.SignalWorkflow(ctx, workflows.JobWorkflowID(jobID), "", workflows.SignalHalt, nil)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return s.haltWithoutWorkflow(ctx, jobID)
	}
	if temporalconn.IsUnavailable(err) {
		return errkind.Unavailable(err, "Temporal did not answer, so the halt was not sent; try again")
	}
	return err
}

// Progress is the job's live state, from its workflow.
func (s *Service) Progress(ctx context.Context, jobID int64) (workflows.Progress, error) {
	value, err := s.Temporal.QueryWorkflow(ctx, workflows.JobWorkflowID(jobID), "", workflows.QueryProgress)
	if err != nil {
		return workflows.Progress{}, err
	}
	var p workflows.Progress
	return p, value.Get(&p)
}

// normalize checks a spec and fills in its start; a refusal is an
// errkind.Invalid naming the field as the API's job body does.
func normalize(spec *Spec) ([]string, error) {
	ids := slices.Compact(slices.Sorted(slices.Values(spec.DeviceIDs)))
	name := len(strings.TrimSpace(spec.Name))
	switch {
	case name == 0 || name > 200:
		return nil, errkind.Invalid("name", "1 to 200 characters")
	case spec.CertType != pki.CertTypeTLS && spec.CertType != pki.CertTypeIEEE8021X:
		return nil, errkind.Invalid("cert_type", "want %s or %s, not %q", pki.CertTypeTLS, pki.CertTypeIEEE8021X, spec.CertType)
	case spec.CreatedBy == "":
		return nil, errkind.Invalid("created_by", "required")
	case spec.Window < 0 || spec.Window > workflows.MaxWindow:
		return nil, errkind.Invalid("window", "1 to %d", workflows.MaxWindow)
	case len(ids) == 0:
		return nil, errkind.Invalid("device_ids", "at least one")
	}
	if spec.StartAt.IsZero() {
		spec.StartAt = time.Now()
	}
	return ids, nil
}

// checkProfiles refuses a job with devices that do not exist, or that have
// no profile for the certificate type, saying which is which: details.devices
// lists them all, details.unknown and details.without_profile each kind.
func checkProfiles(ctx context.Context, q *store.Queries, ids []string, profiles []store.DeviceProfilesForRow, certType string) error {
	if len(profiles) == len(ids) {
		return nil
	}
	has := make(map[string]bool, len(profiles))
	for _, p := range profiles {
		has[p.DeviceID] = true
	}
	var missing []string
	for _, id := range ids {
		if !has[id] {
			missing = append(missing, id)
		}
	}
	existing, err := q.ExistingDevices(ctx, missing)
	if err != nil {
		return err
	}
	unknown, withoutProfile := []string{}, []string{}
	for _, id := range missing {
		if slices.Contains(existing, id) {
			withoutProfile = append(withoutProfile, id)
		} else {
			unknown = append(unknown, id)
		}
	}
	var says []string
	if len(unknown) > 0 {
		says = append(says, "no such devices: "+listed(unknown))
	}
	if len(withoutProfile) > 0 {
		says = append(says, fmt.Sprintf("no %s profile is assigned to %s (assign one with POST /api/v1/profile-assignments)", certType, listed(withoutProfile)))
	}
	return errkind.Invalid("device_ids", "%s", strings.Join(says, "; ")).
		With(map[string]any{"devices": missing, "unknown": unknown, "without_profile": withoutProfile})
}

func busy(ctx context.Context, q *store.Queries, ids []string, certType string) error {
	rows, err := q.BusyDevices(ctx, store.BusyDevicesParams{DeviceIds: ids, CertType: certType})
	if err != nil || len(rows) == 0 {
		return err
	}
	return BusyError(rows, certType)
}

// BusyError is the one refusal of devices held by active jobs of a
// certificate type, wherever a change meets them (a new job, a profile
// assignment): a conflict whose details.devices lists the device IDs, and
// details.jobs each one's job ID.
func BusyError(rows []store.BusyDevicesRow, certType string) error {
	devices, named := make([]string, len(rows)), make([]string, len(rows))
	jobIDs := make(map[string]int64, len(rows))
	for i, r := range rows {
		devices[i], named[i] = r.DeviceID, fmt.Sprintf("%s (job %d)", r.DeviceID, r.JobID)
		jobIDs[r.DeviceID] = r.JobID
	}
	return errkind.Conflict("already in an active %s job: %s", certType, listed(named)).
		With(map[string]any{"devices": devices, "jobs": jobIDs})
}
