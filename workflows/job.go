package workflows

import (
	"errors"
	"slices"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/vocab"
)

// Defaults of a job's fan-out. The window stays far below Temporal's limit of
// 2,000 pending children, and a run continues as new after starting
// ChildrenPerRun devices, about 4 history events each, far below 10,000.
const (
	DefaultWindow         = 500
	MaxWindow             = 500
	DefaultChildrenPerRun = 1000
)

// JobInput starts, or continues, a CertificateJob.
type JobInput struct {
	JobID   int64
	StartAt time.Time
	// Window is how many devices may be in flight at once (≤ MaxWindow).
	Window int
	// ChildrenPerRun is how many devices a run starts before it continues as new.
	ChildrenPerRun int
	// StepDeadline bounds each device and CA step of the devices (0: defaults).
	StepDeadline time.Duration
	// DrainLimit bounds how long a full run waits for its children (0:
	// DefaultDrainLimit).
	DrainLimit time.Duration `json:",omitempty"`
	// State is carried over continue-as-new; nil on the first run.
	State *JobState
}

// JobState is the job's progress, small whatever the job's size: the devices
// in flight (≤ Window) and counters, never the list of items.
type JobState struct {
	Started    bool
	CertType   string
	Total      int
	Cursor     string   // last device ID started, in device ID order
	Exhausted  bool     // every item has been started
	InFlight   []string // device IDs started and not yet reported, sorted
	Outcomes   Outcomes
	Halted     bool
	CancelSent bool
	// ReportsByResult: a run has started CertifyDeviceV2 children, which
	// report to that run only; a later run awaits those it carried over
	// from Postgres (AwaitItems).
	ReportsByResult bool `json:",omitempty"`
}

// Outcomes counts finished items by outcome. Skipped counts the devices
// skipped when the job was created as well as those found disabled later.
type Outcomes struct {
	Succeeded, RevokeWarning, RevokeNA, DeviceFailure, CAFailure, Halted, Skipped int
}

// counter is where o counts outcome; nil for a value that is no outcome.
func (o *Outcomes) counter(outcome vocab.Outcome) *int {
	switch outcome {
	case vocab.Succeeded:
		return &o.Succeeded
	case vocab.RevokeWarning:
		return &o.RevokeWarning
	case vocab.RevokeNA:
		return &o.RevokeNA
	case vocab.DeviceFailure:
		return &o.DeviceFailure
	case vocab.CAFailure:
		return &o.CAFailure
	case vocab.Halted:
		return &o.Halted
	case vocab.Skipped:
		return &o.Skipped
	}
	return nil
}

func (o *Outcomes) add(outcome vocab.Outcome) {
	if c := o.counter(outcome); c != nil {
		*c++
	}
}

// ByOutcome is the counts under the outcomes' names, as the API and the
// benchmark report them.
func (o Outcomes) ByOutcome() map[vocab.Outcome]int {
	counts := make(map[vocab.Outcome]int, len(vocab.Outcomes))
	for _, outcome := range vocab.Outcomes {
		counts[outcome] = *o.counter(outcome)
	}
	return counts
}

// Done is the number of finished items.
func (o Outcomes) Done() int {
	return o.Succeeded + o.RevokeWarning + o.RevokeNA + o.DeviceFailure + o.CAFailure + o.Halted + o.Skipped
}

// Progress answers the progress query and ends the workflow.
type Progress struct {
	JobID    int64
	Status   string // scheduled, running, halting, then the job's end: a finished vocab.JobStatus
	Total    int
	InFlight int
	Outcomes Outcomes
}

// CertificateJob renews or issues certificates for a job's devices: it waits
// for the start time, then keeps a window of CertifyDeviceV2 children in
// flight, reading items from Postgres a page at a time, until all have
// reported or the job is halted.
func CertificateJob(ctx workflow.Context, in JobInput) (Progress, error) {
	j := &job{in: in, state: in.State}
	if j.state == nil {
		j.state = &JobState{}
	}
	j.in.Window = min(orDefaultInt(in.Window, DefaultWindow), MaxWindow)
	j.in.ChildrenPerRun = orDefaultInt(in.ChildrenPerRun, DefaultChildrenPerRun)
	j.done = workflow.GetSignalChannel(ctx, SignalItemDone)
	j.halt = workflow.GetSignalChannel(ctx, SignalHalt)
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (Progress, error) { return j.progress(), nil }); err != nil {
		return Progress{}, err
	}
	ctx = workflow.WithLocalActivityOptions(ctx, localOptions)
	if !j.state.Started {
		if err := j.start(ctx); err != nil {
			return Progress{}, err
		}
	}
	return j.run(ctx)
}

type job struct {
	in      JobInput
	state   *JobState
	done    workflow.ReceiveChannel
	halt    workflow.ReceiveChannel
	started int // children started by this run
	// haltRecorded: this run has marked the job halting in Postgres.
	haltRecorded bool
	// asked: the run has chosen its device workflow (deviceWorkflow).
	asked, currentPaths, byResult bool
	// results waits for the signals, the results of the CertifyDeviceV2
	// children the run started (own), AwaitItems for the other devices in
	// flight (watching: one is out) and the end of the drain (drainOver:
	// the full run waited its drain limit for its children); failed is why
	// settling a device failed.
	results                       workflow.Selector
	own                           map[string]bool
	watching, draining, drainOver bool
	failed                        error
}

// start waits for the start time, on a timer the UI shows, unless halted first.
func (j *job) start(ctx workflow.Context) error {
	if wait := j.in.StartAt.Sub(workflow.Now(ctx)); wait > 0 {
		timerCtx, cancelTimer := workflow.WithCancel(ctx)
		timer := workflow.NewTimer(timerCtx, wait)
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(timer, func(workflow.Future) {})
		sel.AddReceive(j.halt, func(c workflow.ReceiveChannel, _ bool) {
			c.Receive(ctx, nil)
			j.state.Halted = true
			cancelTimer()
		})
		sel.Select(ctx)
		if j.state.Halted {
			return nil // run() halts the job without starting anything
		}
	}
	var info activities.JobInfo
	if err := workflow.ExecuteLocalActivity(ctx, acts.StartJob, j.in.JobID).Get(ctx, &info); err != nil {
		return err
	}
	j.state.Started, j.state.CertType, j.state.Total = true, info.CertType, info.Total
	j.state.Outcomes.Skipped = info.Skipped // never loaded, so never counted as they report
	return nil
}

func (j *job) run(ctx workflow.Context) (Progress, error) {
	for {
		j.drainSignals(ctx)
		if j.state.Halted && !j.state.CancelSent {
			if err := j.cancelAll(ctx); err != nil {
				return Progress{}, err
			}
		}
		if len(j.state.InFlight) == 0 && (j.state.Exhausted || j.state.Halted) {
			return j.finish(ctx)
		}
		if j.shouldContinueAsNew(ctx) {
			j.drainSignals(ctx)
			next := j.in
			next.State = j.state
			return Progress{}, workflow.NewContinueAsNewError(ctx, CertificateJob, next)
		}
		if !j.state.Halted && !j.state.Exhausted && len(j.state.InFlight) < j.in.Window && !j.runFull(ctx) {
			if err := j.startBatch(ctx); err != nil {
				return Progress{}, err
			}
			continue
		}
		if err := j.waitForReport(ctx); err != nil {
			return Progress{}, err
		}
	}
}

// shouldContinueAsNew: the run has started as many children as it may, and
// a run whose children report by their result has heard from all of them or
// waited its drain limit.
func (j *job) shouldContinueAsNew(ctx workflow.Context) bool {
	if j.state.Halted {
		return false // a halting job ends soon; keep its last run whole
	}
	return j.runFull(ctx) && (!j.byResult || len(j.state.InFlight) == 0 || j.drainOver)
}

// DefaultDrainLimit bounds how long a full run waits for its children
// before it continues as new with those still going, which the next run
// awaits from Postgres: a device waiting days for a CA's approval does not
// hold the job's window. At saturation a window drains in seconds.
const DefaultDrainLimit = time.Minute

// runFull: the run starts no more children, and continues as new once it may.
func (j *job) runFull(ctx workflow.Context) bool {
	return j.started >= j.in.ChildrenPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
}

// startBatch loads the next page of items and starts a child for each,
// waiting until all have started so that none is lost to continue-as-new.
func (j *job) startBatch(ctx workflow.Context) error {
	room := min(j.in.Window-len(j.state.InFlight), j.in.ChildrenPerRun-j.started)
	if workflow.GetVersion(ctx, versionStartInChunks, workflow.DefaultVersion, 1) != workflow.DefaultVersion {
		room = min(room, startChunk)
	}
	var items []activities.ItemRef
	if err := workflow.ExecuteLocalActivity(ctx, acts.LoadItems, j.in.JobID, j.state.Cursor, room).Get(ctx, &items); err != nil {
		return err
	}
	if len(items) < room {
		j.state.Exhausted = true
	}
	futures := make([]workflow.ChildWorkflowFuture, len(items))
	device, reportTo := j.deviceWorkflow(ctx)
	for i, item := range items {
		it := activities.Item{JobID: j.in.JobID, DeviceID: item.DeviceID, ProfileID: item.ProfileID, CertType: j.state.CertType, CAInProcess: item.CAInProcess}
		futures[i] = workflow.ExecuteChildWorkflow(j.childContext(ctx, item), device, DeviceInput{
			Item: it, JobWorkflowID: reportTo, StepDeadline: j.in.StepDeadline,
		})
	}
	if workflow.GetVersion(ctx, versionPromptHalt, workflow.DefaultVersion, 1) != workflow.DefaultVersion {
		if err := j.awaitStarts(ctx, futures); err != nil {
			return err
		}
	}
	for i, f := range futures {
		err := f.GetChildWorkflowExecution().Get(ctx, nil)
		if err != nil && !temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			return err
		}
		if err == nil && j.byResult {
			j.awaitResult(ctx, f, items[i])
		}
		// One already running (the job was reset) reports to no run of
		// this job: it is awaited from Postgres, as one carried over.
		j.state.InFlight = insertSorted(j.state.InFlight, items[i].DeviceID)
		j.state.Cursor = items[i].DeviceID
		j.started++
	}
	return nil
}

// deviceWorkflow is the workflow the run starts for each device and the ID
// it signals its outcome to, empty when it reports by its result. The run
// asks once, at its first batch.
func (j *job) deviceWorkflow(ctx workflow.Context) (device any, reportTo string) {
	if !j.asked {
		j.asked = true
		j.currentPaths = workflow.GetVersion(ctx, versionDevicePaths, workflow.DefaultVersion, 1) != workflow.DefaultVersion
		j.byResult = j.currentPaths && workflow.GetVersion(ctx, versionReportByResult, workflow.DefaultVersion, 1) != workflow.DefaultVersion
	}
	switch {
	case j.byResult:
		j.state.ReportsByResult = true
		return CertifyDeviceV2, ""
	case j.currentPaths:
		return CertifyDevice, JobWorkflowID(j.in.JobID)
	}
	return DeviceCertificate, JobWorkflowID(j.in.JobID)
}

// awaitResult counts the device's outcome when its CertifyDeviceV2 run
// ends. A run that ends without one (terminated, timed out) is settled from
// its item (SettleItem).
func (j *job) awaitResult(ctx workflow.Context, f workflow.ChildWorkflowFuture, item activities.ItemRef) {
	j.ensureResults(ctx)
	j.own[item.DeviceID] = true
	j.results.AddFuture(f, func(f workflow.Future) {
		var outcome vocab.Outcome
		err := f.Get(ctx, &outcome)
		if err != nil {
			outcome = outcomeOf(err)
		}
		if outcome == "" {
			reason := "the device's workflow ended without an outcome"
			if err != nil {
				reason += ": " + err.Error()
			}
			outcome = j.settle(ctx, item.DeviceID, reason)
		}
		j.record(ItemDone{DeviceID: item.DeviceID, Outcome: outcome})
	})
}

// settle is the outcome of an item whose device workflow ended without one,
// from its item (SettleItem, retried until Postgres answers); empty only
// when the job is being cancelled, and then failed says so.
func (j *job) settle(ctx workflow.Context, deviceID, reason string) vocab.Outcome {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute},
		Summary:             "settle " + deviceID,
	})
	it := activities.Item{JobID: j.in.JobID, DeviceID: deviceID, CertType: j.state.CertType}
	var outcome vocab.Outcome
	if err := workflow.ExecuteActivity(actx, acts.SettleItem, it, reason).Get(ctx, &outcome); err != nil {
		j.failed = err
	}
	return outcome
}

// ensureResults makes the run's selector of reports.
func (j *job) ensureResults(ctx workflow.Context) {
	if j.results != nil {
		return
	}
	j.own = map[string]bool{}
	j.results = workflow.NewSelector(ctx)
	j.results.AddReceive(j.done, func(c workflow.ReceiveChannel, _ bool) {
		var msg ItemDone
		c.Receive(ctx, &msg)
		j.record(msg)
	})
	j.results.AddReceive(j.halt, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		j.state.Halted = true
	})
}

// watchOthers awaits, from Postgres, the devices in flight that report to
// no run of this job's: those not among the run's own children.
func (j *job) watchOthers(ctx workflow.Context) {
	var others []activities.AwaitedItem
	for _, id := range j.state.InFlight {
		if !j.own[id] {
			others = append(others, activities.AwaitedItem{DeviceID: id, WorkflowID: DeviceWorkflowID(j.in.JobID, id)})
		}
	}
	if j.watching || len(others) == 0 || ctx.Err() != nil {
		return
	}
	j.watching = true
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute, HeartbeatTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute},
		Summary:     "await devices carried over",
	})
	j.results.AddFuture(workflow.ExecuteActivity(actx, acts.AwaitItems, j.in.JobID, others), func(f workflow.Future) {
		j.watching = false
		var outcomes []activities.ItemOutcome
		if f.Get(ctx, &outcomes) != nil {
			return // only when cancelled
		}
		for _, o := range outcomes {
			if o.Outcome == "" {
				o.Outcome = j.settle(ctx, o.DeviceID, "the device's workflow ended without an outcome")
			}
			j.record(ItemDone{DeviceID: o.DeviceID, Outcome: o.Outcome})
		}
	})
}

// limitDrain starts the run's drain limit once it is full.
func (j *job) limitDrain(ctx workflow.Context) {
	if j.draining || !j.byResult || !j.runFull(ctx) {
		return
	}
	j.draining = true
	j.results.AddFuture(workflow.NewTimer(ctx, orDefault(j.in.DrainLimit, DefaultDrainLimit)), func(f workflow.Future) {
		j.drainOver = f.Get(ctx, nil) == nil // not when cancelled
	})
}

// outcomeOf is the outcome a CertifyDeviceV2 run failed with, the type of
// its error; empty when it ended any other way.
func outcomeOf(err error) vocab.Outcome {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && new(Outcomes).counter(vocab.Outcome(appErr.Type())) != nil {
		return vocab.Outcome(appErr.Type())
	}
	return ""
}

// versionReportByResult marks job runs that start CertifyDeviceV2 children
// and wait for them, up to the drain limit, before continuing as new.
const versionReportByResult = "report-by-result"

// startChunk bounds the children one batch starts: a halt arriving while a
// batch starts still lets that batch start (and cancels it), so a smaller
// batch makes a halt end the job in seconds, at the cost of a workflow task
// per chunk while the window fills.
const startChunk = 100

// versionStartInChunks marks runs that start at most startChunk children
// per batch.
const versionStartInChunks = "start-in-chunks"

// versionDevicePaths marks job runs that start CertifyDevice children,
// DeviceCertificate on current paths: one marker per job run instead of one
// per change and device.
const versionDevicePaths = "device-current-paths"

// versionPromptHalt marks runs that act on a halt while a batch of children
// is starting, instead of once all of them have started.
const versionPromptHalt = "prompt-halt"

// awaitStarts waits until every child of a batch has started, acting on a
// halt at once: it halts the items not started yet in Postgres, so that a
// child starting after that finds its item ended and contacts no device.
// The children that did start are cancelled with the rest once the batch is
// in flight.
func (j *job) awaitStarts(ctx workflow.Context, futures []workflow.ChildWorkflowFuture) error {
	pending := len(futures)
	sel := workflow.NewSelector(ctx)
	for _, f := range futures {
		sel.AddFuture(f.GetChildWorkflowExecution(), func(workflow.Future) { pending-- })
	}
	sel.AddReceive(j.halt, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		j.state.Halted = true
	})
	for pending > 0 {
		if j.state.Halted && !j.haltRecorded {
			if err := j.recordHalt(ctx); err != nil {
				return err
			}
		}
		sel.Select(ctx)
	}
	if j.state.Halted && !j.haltRecorded {
		return j.recordHalt(ctx)
	}
	return nil
}

// recordHalt marks the job halting and its items not yet started halted:
// the halt is acknowledged.
func (j *job) recordHalt(ctx workflow.Context) error {
	if err := workflow.ExecuteLocalActivity(ctx, acts.HaltJob, j.in.JobID).Get(ctx, nil); err != nil {
		return err
	}
	j.haltRecorded = true
	return nil
}

func (j *job) childContext(ctx workflow.Context, item activities.ItemRef) workflow.Context {
	return workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID: DeviceWorkflowID(j.in.JobID, item.DeviceID),
		// A child may outlive the run that started it: one carried over
		// when the job continues as new, or one the job halts by ID.
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
		StaticSummary:     item.DeviceName + " · " + item.ProfileName,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			CertJobID.ValueSet(strconv.FormatInt(j.in.JobID, 10)),
			DeviceID.ValueSet(item.DeviceID),
			CertProfile.ValueSet(item.ProfileName),
			CertStep.ValueSet(string(vocab.StepCSR)),
		),
	})
}

// waitForReport waits for a device to report, or a halt, and takes every
// report already there: the next batch then fills every freed slot at once
// instead of one workflow task per slot. Runs from before
// versionReportByResult wait for signals alone.
func (j *job) waitForReport(ctx workflow.Context) error {
	if !j.byResult && !j.state.ReportsByResult {
		j.waitForSignal(ctx)
		return nil
	}
	j.ensureResults(ctx)
	j.watchOthers(ctx)
	j.limitDrain(ctx)
	j.results.Select(ctx)
	for j.failed == nil && j.results.HasPending() {
		j.results.Select(ctx)
	}
	return j.failed
}

func (j *job) waitForSignal(ctx workflow.Context) {
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(j.done, func(c workflow.ReceiveChannel, _ bool) {
		var msg ItemDone
		c.Receive(ctx, &msg)
		j.record(msg)
	})
	sel.AddReceive(j.halt, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		j.state.Halted = true
	})
	sel.Select(ctx)
}

// drainSignals takes every signal already delivered; continue-as-new must
// never leave one behind.
func (j *job) drainSignals(ctx workflow.Context) {
	for {
		var msg ItemDone
		if !j.done.ReceiveAsync(&msg) {
			break
		}
		j.record(msg)
	}
	for j.halt.ReceiveAsync(nil) {
		j.state.Halted = true
	}
}

// record counts an item once: a duplicate signal finds it no longer in flight.
func (j *job) record(msg ItemDone) {
	i, found := slices.BinarySearch(j.state.InFlight, msg.DeviceID)
	if !found {
		return
	}
	j.state.InFlight = slices.Delete(j.state.InFlight, i, i+1)
	j.state.Outcomes.add(msg.Outcome)
}

// cancelAll halts items not started yet and asks every running device
// workflow to cancel; each then reports itself halted.
func (j *job) cancelAll(ctx workflow.Context) error {
	if !j.haltRecorded {
		if err := j.recordHalt(ctx); err != nil {
			return err
		}
	}
	futures := make([]workflow.Future, len(j.state.InFlight))
	for i, id := range j.state.InFlight {
		futures[i] = workflow.RequestCancelExternalWorkflow(ctx, DeviceWorkflowID(j.in.JobID, id), "")
	}
	for _, f := range futures {
		_ = f.Get(ctx, nil) // a device that already finished has nothing to cancel
	}
	j.state.CancelSent = true
	return nil
}

// finish records the end of the job. FinishJob stores the state the items
// earned (vocab.JobOutcome) when told "completed", as every run has told it;
// the workflow's result says the same from its own counts.
func (j *job) finish(ctx workflow.Context) (Progress, error) {
	status, result := "completed", vocab.JobOutcome(j.state.Outcomes.ByOutcome())
	if j.state.Halted {
		status, result = "halted", vocab.JobHalted
	}
	if err := workflow.ExecuteLocalActivity(ctx, acts.FinishJob, j.in.JobID, status).Get(ctx, nil); err != nil {
		return Progress{}, err
	}
	p := j.progress()
	p.Status = string(result)
	return p, nil
}

func (j *job) progress() Progress {
	status := "running"
	switch {
	case j.state.Halted:
		status = "halting"
	case !j.state.Started:
		status = "scheduled"
	}
	return Progress{JobID: j.in.JobID, Status: status, Total: j.state.Total, InFlight: len(j.state.InFlight), Outcomes: j.state.Outcomes}
}

func insertSorted(ids []string, id string) []string {
	i, found := slices.BinarySearch(ids, id)
	if found {
		return ids
	}
	return slices.Insert(ids, i, id)
}

func orDefaultInt(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}
