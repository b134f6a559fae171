package main

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"
)

// The floors: the same shape of Temporal work as certfleet's, with nothing
// inside, run by a worker with certfleet's worker options on the same server.

// FloorInput is the job floor: Children children of Activities no-op
// activities each, at most Window in flight, continuing as new every PerRun.
type FloorInput struct {
	Children, Activities, Window, PerRun int
	Started                              int
}

// FloorJob starts the children in a sliding window, as CertificateJob does.
func FloorJob(ctx workflow.Context, in FloorInput) error {
	runEnd := min(in.Children, in.Started+in.PerRun)
	sel := workflow.NewSelector(ctx)
	inFlight := 0
	var failed error
	for next := in.Started; next < runEnd || inFlight > 0; {
		for next < runEnd && inFlight < in.Window {
			cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
				WorkflowID: fmt.Sprintf("%s/child/%d", workflow.GetInfo(ctx).WorkflowExecution.ID, next),
			})
			sel.AddFuture(workflow.ExecuteChildWorkflow(cctx, FloorChild, in.Activities), func(f workflow.Future) {
				inFlight--
				if err := f.Get(ctx, nil); err != nil {
					failed = err
				}
			})
			inFlight++
			next++
		}
		sel.Select(ctx)
	}
	if failed != nil || runEnd == in.Children {
		return failed
	}
	in.Started = runEnd
	return workflow.NewContinueAsNewError(ctx, FloorJob, in)
}

// FloorChild runs n no-op activities one after another, as a device's steps run.
func FloorChild(ctx workflow.Context, n int) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	for range n {
		if err := workflow.ExecuteActivity(ctx, Noop).Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// FloorEnrollment is the EST floor: one local activity, as an enrollment
// the CA answers at once.
func FloorEnrollment(ctx workflow.Context) error {
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: time.Minute})
	return workflow.ExecuteLocalActivity(ctx, Noop).Get(ctx, nil)
}

// Noop does nothing.
func Noop(context.Context) error { return nil }
