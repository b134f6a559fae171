// Package worker builds the Temporal worker that runs certfleet's workflows and
// activities, with the options that govern how much it runs at once.
package worker

import (
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/carenewal"
	"github.com/certfleet/certfleet/renewal"
	"github.com/certfleet/certfleet/webhooks"
	"github.com/certfleet/certfleet/workflows"
)

// Activities are the activity sets a worker runs; the ones left nil are not
// registered.
type Activities struct {
	Jobs     *activities.Activities
	Sweeps   *renewal.SweepActivities
	CAs      *carenewal.Activities
	Webhooks *webhooks.Activities
}

// Options say how much a worker runs at once; zero leaves the SDK's default.
type Options struct {
	// StopTimeout is how long stopping waits for running activities, so that
	// a rolling restart does not waste their attempts.
	StopTimeout time.Duration
	// Activities and WorkflowTasks bound what runs at once; Pollers is how
	// many long polls each kind of task keeps open.
	Activities, WorkflowTasks, Pollers int
	// ActivitiesPerSecond limits this worker's activity starts, and
	// TaskQueueActivitiesPerSecond those of every worker of the task queue
	// (the server enforces it): how hard the fleet's devices and the CA are
	// driven, whatever the number of workers.
	ActivitiesPerSecond, TaskQueueActivitiesPerSecond float64
}

func (o Options) sdk() sdkworker.Options {
	return sdkworker.Options{
		WorkerStopTimeout:                       o.StopTimeout,
		MaxConcurrentActivityExecutionSize:      o.Activities,
		MaxConcurrentLocalActivityExecutionSize: o.Activities,
		MaxConcurrentWorkflowTaskExecutionSize:  o.WorkflowTasks,
		MaxConcurrentActivityTaskPollers:        o.Pollers,
		MaxConcurrentWorkflowTaskPollers:        o.Pollers,
		WorkerActivitiesPerSecond:               o.ActivitiesPerSecond,
		TaskQueueActivitiesPerSecond:            o.TaskQueueActivitiesPerSecond,
	}
}

// New returns a worker on taskQueue running certfleet's workflows with the
// given activities, within opts.
func New(c client.Client, taskQueue string, opts Options, acts Activities) sdkworker.Worker {
	w := sdkworker.New(c, taskQueue, opts.sdk())
	RegisterWorkflows(w)
	if acts.Jobs != nil {
		w.RegisterActivity(acts.Jobs)
	}
	if acts.Sweeps != nil {
		w.RegisterActivity(acts.Sweeps)
	}
	if acts.CAs != nil {
		w.RegisterActivity(acts.CAs)
	}
	if acts.Webhooks != nil {
		w.RegisterActivity(acts.Webhooks)
	}
	return w
}

// RegisterWorkflows adds certfleet's workflows to a worker, or to a replayer
// that checks recorded histories against them.
func RegisterWorkflows(w interface{ RegisterWorkflow(any) }) {
	w.RegisterWorkflow(workflows.CertificateJob)
	w.RegisterWorkflow(workflows.CertifyDeviceV2)
	w.RegisterWorkflow(workflows.CertifyDevice)
	w.RegisterWorkflow(workflows.DeviceCertificate)
	w.RegisterWorkflow(workflows.Enrollment)
	w.RegisterWorkflow(workflows.DeviceInventory)
	w.RegisterWorkflow(renewal.RenewalSweep)
	w.RegisterWorkflow(carenewal.CARenewal)
	w.RegisterWorkflow(webhooks.WebhookDelivery)
}
