// Package carenewal renews the built-in CAs ahead of their expiry, on a
// Temporal Schedule: once a day a CARenewal run makes the next issuing CA of
// each CA whose active one ends within the renewal window (local.Set.Renew),
// so that the rollover's overlap starts in time. A run that fails is retried,
// shows failed in the Temporal UI and is tried again the next day; the
// dashboard lists CA certificates nearing their end all along.
package carenewal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/workflows"
)

// Result is what a run did.
type Result struct {
	Renewed []string `json:",omitempty"` // CA names given a next CA
	// Outside are CAs due whose root is outside certfleet: an operator adds a
	// new issuing CA under that root.
	Outside []string `json:",omitempty"`
}

// Activities renew the CAs of one process.
type Activities struct {
	CAs *local.Set
	// RenewBefore is the window: a CA whose active issuing certificate ends
	// within it is renewed.
	RenewBefore time.Duration
	// Overlap is how long the next CA is published before it issues.
	Overlap time.Duration
	Logger  *slog.Logger
}

// acts is only a name for activity methods; Temporal calls the worker's instance.
var acts *Activities

// CARenewal is what the schedule runs: one local activity, retried.
func CARenewal(ctx workflow.Context) (Result, error) {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: time.Minute, ScheduleToCloseTimeout: time.Hour,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 10 * time.Second, MaximumInterval: 10 * time.Minute},
	})
	var r Result
	err := workflow.ExecuteLocalActivity(lctx, acts.RenewDue, workflow.Now(ctx)).Get(lctx, &r)
	return r, err
}

// RenewDue gives each CA due at `at` its next CA. A CA that already has one
// is not due, so a retried or repeated run renews nothing twice.
func (a *Activities) RenewDue(ctx context.Context, at time.Time) (Result, error) {
	var r Result
	var errs []error
	for _, due := range a.CAs.DueForRenewal(ctx, at, a.RenewBefore) {
		if due.OutsideRoot {
			r.Outside = append(r.Outside, due.Name)
			a.Logger.Warn("CA due for renewal is under an outside root: add a new issuing CA under it", "ca", due.Name, "not_after", due.NotAfter)
			continue
		}
		details, err := json.Marshal(map[string]any{"overlap": a.Overlap.String(), "not_after": due.NotAfter})
		if err != nil {
			return r, err
		}
		_, err = a.CAs.Renew(ctx, due.Name, a.Overlap, func(q *store.Queries) error {
			return q.RecordAudit(ctx, store.RecordAuditParams{Actor: "schedule:" + workflows.CARenewalScheduleID, Action: "ca.renew", ObjectType: "ca",
				ObjectIds: []string{due.Name}, Details: details})
		})
		if kinded, ok := errkind.As(err); ok && kinded.Kind() == errkind.KindConflict {
			continue // another process renewed it since
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("renew CA %s: %w", due.Name, err))
			continue
		}
		r.Renewed = append(r.Renewed, due.Name)
	}
	return r, errors.Join(errs...)
}

// EnsureSchedule creates the daily schedule unless it exists.
func EnsureSchedule(ctx context.Context, c client.Client, taskQueue string) error {
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:      workflows.CARenewalScheduleID,
		Spec:    client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: 24 * time.Hour}}},
		Action:  &client.ScheduleWorkflowAction{ID: workflows.CARenewalScheduleID, Workflow: CARenewal, TaskQueue: taskQueue},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		// A day's run missed while the server was down is not worth two.
		CatchupWindow: 24 * time.Hour,
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return nil
	}
	return err
}
