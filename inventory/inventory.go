// Package inventory finds out what devices hold: it runs a device's
// DeviceInventory workflow, which reads its certificates through its driver
// and records them, and answers with what was found.
package inventory

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/temporalconn"
	"github.com/certfleet/certfleet/workflows"
)

// Service starts discoveries.
type Service struct {
	Pool      *pgxpool.Pool
	Temporal  client.Client
	TaskQueue string
}

// Discover reads and records the certificates device id holds, and waits for
// the answer as long as ctx lets it. A request made while a discovery of the
// device runs joins it.
func (s *Service) Discover(ctx context.Context, id string) ([]activities.Discovered, error) {
	row, err := store.New(s.Pool).GetDevice(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errkind.NotFound("no device %q", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read device %s: %w", id, err)
	}
	switch row.Mode {
	case "DISABLED":
		return nil, errkind.Conflict("device %s is disabled; it is not contacted", id)
	}
	if row.Driver == device.SelfEnrolling {
		return nil, errkind.Conflict("device %s enrolls itself over EST; certfleet cannot reach it", id)
	}
	run, err := s.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.InventoryWorkflowID(id),
		TaskQueue:                s.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "inventory of device " + id,
	}, workflows.DeviceInventory, id)
	if temporalconn.IsUnavailable(err) {
		return nil, errkind.Unavailable(err, "Temporal did not answer; try again")
	}
	if err != nil {
		return nil, fmt.Errorf("start the inventory of %s: %w", id, err)
	}
	var found []activities.Discovered
	err = run.Get(ctx, &found)
	var app *temporal.ApplicationError
	switch {
	case errors.As(err, &app) && app.Type() == activities.ErrDevicePermanent:
		return nil, errkind.Conflict("device %s: %s", id, app.Message())
	case err != nil:
		return nil, errkind.Unavailable(err, "device %s could not be read; the run %s in the Temporal UI says why", id, workflows.InventoryWorkflowID(id))
	}
	return found, nil
}
