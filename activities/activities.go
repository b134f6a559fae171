// Package activities holds the steps of certificate jobs: the Temporal
// activities that touch devices, CAs and Postgres. They are methods of
// Activities, which carries their dependencies. Every side effect is
// idempotent by a business key, because Temporal runs an activity at least
// once, and each step records its own progress in job_items, so that
// bookkeeping costs no extra round trip to the Temporal server.
package activities

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/certfleet/certfleet/changefeed"
	"github.com/certfleet/certfleet/credentials"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/metrics"
	"github.com/certfleet/certfleet/tracing"
	"github.com/certfleet/certfleet/vocab"
)

// Drivers finds the driver for a profile's CA and for a device.
type Drivers interface {
	CA(ctx context.Context, profile store.Profile) (ca.Driver, error)
	Device(name string) (device.Driver, error)
}

// Activities are the job steps with their dependencies.
type Activities struct {
	Pool    *pgxpool.Pool
	Drivers Drivers
	// Credentials opens a device's credential inside the step that uses it,
	// so that no secret travels through workflow history.
	Credentials *credentials.Store
	// Outcomes tells requests waiting in this process for their
	// enrollments' outcomes (nil: none wait here).
	Outcomes *Outcomes
	// Runs tells AwaitItems which device workflows have ended (a Temporal
	// client does; nil: it does not look).
	Runs Runs
	// Profiles, unless nil, keeps the profiles the CA steps read until the
	// profiles table changes.
	Profiles *changefeed.Cache[int64, store.Profile]
}

// Runs describes workflow runs.
type Runs interface {
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
}

// Item is one device of one job: what every step is about.
type Item struct {
	JobID     int64
	DeviceID  string
	ProfileID int64
	CertType  string
	// Step is the step of the activity the item is handed to: the workflow
	// names it, the one place a step is named, and the activity records it.
	// It is empty outside a step.
	Step vocab.Step
	// CAInProcess: the profile's CA answers in process, so that the submit
	// and revoke steps run as local activities.
	CAInProcess bool `json:",omitempty"`
}

// The Temporal application error types certfleet raises, all of them: an
// activity raises one by its constant, and workflows' retry policies and
// outcomes go by the same constant, never by a string of their own.
const (
	// ErrDevicePermanent, ErrCAPermanent and ErrCSRRefused are final:
	// retrying cannot help.
	ErrDevicePermanent = "DevicePermanent"
	ErrCAPermanent     = "CAPermanent"
	ErrCSRRefused      = "CSRRefused"
	// ErrCAPending is a request the CA still holds; polling retries it.
	ErrCAPending = "CAPending"
	// ErrDeviceSkipped ends an item as skipped: its device was disabled.
	ErrDeviceSkipped = "DeviceSkipped"
	// ErrBadPolicy is a stored renewal policy that does not read; its sweep
	// gives up rather than retry.
	ErrBadPolicy = "BadPolicy"
	// ErrItemClosed is a step of an item that already has its outcome, such
	// as one a halt ended before it started: the device is not contacted,
	// and the item ends as halted.
	ErrItemClosed = "ItemClosed"
	// ErrCANotInProcess is a CA step run as a local activity whose
	// profile's CA no longer answers in process: the workflow runs the
	// step again as an activity.
	ErrCANotInProcess = "CANotInProcess"
	// ErrDeviceTaken is an enrollment that would register a device whose
	// ID another credential's device took first; the enrollment server
	// answers it as a conflict.
	ErrDeviceTaken = "DeviceTaken"
)

// DeviceTakenRefusal is err's ErrDeviceTaken refusal, if it holds one
// (however deeply a workflow or activity error wraps it).
func DeviceTakenRefusal(err error) (*temporal.ApplicationError, bool) {
	var refused *temporal.ApplicationError
	if errors.As(err, &refused) && refused.Type() == ErrDeviceTaken {
		return refused, true
	}
	return nil, false
}

// classify turns a permanent driver error into a non-retryable application
// error of errType, so that Temporal stops retrying; transient errors are
// returned as they are and retried under the step's policy.
func classify(err error, errType string) error {
	if err == nil {
		return nil
	}
	if drivers.IsPermanent(err) {
		return temporal.NewNonRetryableApplicationError(err.Error(), errType, nil)
	}
	return err
}

func (a *Activities) queries() *store.Queries { return store.New(a.Pool) }

// traced makes call, one call to a device or a CA, in a span of its own, a
// child of the activity's (see tracing), and times it by name in the
// metrics, which is how a benchmark separates these calls from the rest of
// a step.
func traced(ctx context.Context, name string, attrs []attribute.KeyValue, call func(context.Context) error) error {
	ctx, span := tracing.Start(ctx, name, attrs...)
	began := time.Now()
	err := call(ctx)
	metrics.OutsideCall(name, time.Since(began))
	tracing.End(span, err)
	return err
}

func deviceAttrs(it Item) []attribute.KeyValue {
	return []attribute.KeyValue{attribute.String("certfleet.device_id", it.DeviceID), attribute.Int64("certfleet.job_id", it.JobID)}
}

func caAttrs(driver, deviceID string) []attribute.KeyValue {
	return []attribute.KeyValue{attribute.String("certfleet.ca_driver", driver), attribute.String("certfleet.device_id", deviceID)}
}

// idempotencyKey is the business key of an item's CA request,
// "<jobID>/<deviceID>": one certificate per device per job, however often a
// step is retried.
func (it Item) idempotencyKey() string { return strconv.FormatInt(it.JobID, 10) + "/" + it.DeviceID }

var errNoCertificate = errors.New("the device does not hold the new certificate after the install")

// startStep records that an item is now on the step its workflow named, and
// which attempt of the step this is, so that job counts per step and retried
// items are plain SQL. An item that already has its outcome when its first
// step starts (a halt ended it before it started) fails the step with
// ErrItemClosed before anything is contacted. An activity scheduled before items carried their step (by a
// worker of an older version) has none to record, and leaves the item's
// recorded step as it was.
func (a *Activities) startStep(ctx context.Context, it Item) error {
	if it.Step == "" {
		return nil
	}
	var attempt int32 = 1
	if activity.IsActivity(ctx) {
		attempt = activity.GetInfo(ctx).Attempt
	}
	n, err := a.queries().StartItemStep(ctx, store.StartItemStepParams{JobID: it.JobID, DeviceID: it.DeviceID, Step: string(it.Step), Attempts: attempt})
	if err != nil {
		return fmt.Errorf("record step %s of %s: %w", it.Step, it.DeviceID, err)
	}
	// Only the first step can find its item closed by a halt; a later step
	// finding it closed is a retry of the step that closed it (RevokePrior
	// records the outcome, and the worker may die before Temporal hears),
	// which must run again to the same end.
	if n == 0 && it.Step == vocab.StepCSR {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("item %s of job %d already has its outcome (the job was halted before it started); it is not contacted", it.DeviceID, it.JobID),
			ErrItemClosed, nil)
	}
	return nil
}
