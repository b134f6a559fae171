// Package vocab holds the names that certfleet's parts share with each other
// and with the outside: the steps of a job item, how an item ends, and where
// a CA request stands. Workflows, activities, the API, its OpenAPI document,
// the benchmark and the migrations' CHECK constraints all use these values;
// a test keeps the constraints and the document in step with the lists here.
// It imports nothing of certfleet, so that every package may import it.
package vocab

// Step is a step of a job item, as the API reports it (job_items.step), the
// CertStep search attribute shows it, and the Temporal UI summarises the
// step's activity.
type Step string

// The steps of a job item, in the order a device goes through them.
const (
	StepCSR     Step = "csr"
	StepSubmit  Step = "submit"
	StepPoll    Step = "poll"
	StepInstall Step = "install"
	StepRevoke  Step = "revoke"
)

// Steps lists every step a job item can be on: job_items.step's CHECK.
var Steps = []Step{StepCSR, StepSubmit, StepPoll, StepInstall, StepRevoke}

// StepDiscard is the step of an EST enrollment whose certificate will not
// reach the device. Only CertStep shows it: an enrollment is no job item.
const StepDiscard Step = "discard"

// Outcome is how a job item ended: its state (job_items.state) from then on.
type Outcome string

// The outcomes of a job item.
const (
	Succeeded     Outcome = "succeeded"
	RevokeWarning Outcome = "revoke_warning"
	RevokeNA      Outcome = "revoke_na"
	DeviceFailure Outcome = "device_failure"
	CAFailure     Outcome = "ca_failure"
	Halted        Outcome = "halted"
	// Skipped is a disabled device, never contacted.
	Skipped Outcome = "skipped"
)

// Outcomes lists every outcome of a job item.
var Outcomes = []Outcome{Succeeded, RevokeWarning, RevokeNA, DeviceFailure, CAFailure, Halted, Skipped}

// ItemState is where a job item stands (job_items.state): pending, in
// progress, or the Outcome it ended with.
type ItemState string

// The states of a job item before it has an outcome.
const (
	ItemPending    ItemState = "pending"
	ItemInProgress ItemState = "in_progress"
)

// ItemStates lists every state of a job item: job_items.state's CHECK.
var ItemStates = append([]ItemState{ItemPending, ItemInProgress}, outcomeStates()...)

func outcomeStates() []ItemState {
	states := make([]ItemState, len(Outcomes))
	for i, o := range Outcomes {
		states[i] = ItemState(o)
	}
	return states
}

// RequestStatus is where a CA request stands (ca_requests.status).
type RequestStatus string

// The statuses of a CA request.
const (
	RequestPending  RequestStatus = "pending"
	RequestIssued   RequestStatus = "issued"
	RequestRejected RequestStatus = "rejected"
)

// RequestStatuses lists every status of a CA request: ca_requests.status's CHECK.
var RequestStatuses = []RequestStatus{RequestPending, RequestIssued, RequestRejected}

// JobStatus is where a job stands (jobs.status): scheduled, running or
// halting, then how it ended.
type JobStatus string

// The statuses of a job.
const (
	JobScheduled JobStatus = "scheduled"
	JobRunning   JobStatus = "running"
	JobHalting   JobStatus = "halting"
	// JobSucceeded: no item failed (skipped ones do not count).
	JobSucceeded JobStatus = "succeeded"
	// JobCompletedWithFailures: some items failed or warn (revoke_warning),
	// and some got their certificate.
	JobCompletedWithFailures JobStatus = "completed_with_failures"
	// JobFailed: items failed and none got a certificate.
	JobFailed JobStatus = "failed"
	JobHalted JobStatus = "halted"
)

// JobStatuses lists every status of a job: jobs.status's CHECK.
var JobStatuses = []JobStatus{JobScheduled, JobRunning, JobHalting, JobSucceeded, JobCompletedWithFailures, JobFailed, JobHalted}

// FinishedJobStatuses are the statuses of a job that has ended.
var FinishedJobStatuses = []JobStatus{JobSucceeded, JobCompletedWithFailures, JobFailed, JobHalted}

// Failing tells the outcomes that make a finished job not succeeded.
func (o Outcome) Failing() bool { return o == DeviceFailure || o == CAFailure || o == RevokeWarning }

// Installed tells the outcomes of an item whose device got its certificate.
func (o Outcome) Installed() bool { return o == Succeeded || o == RevokeWarning || o == RevokeNA }

// JobOutcome is the status a job that ran to its end earns from its items'
// outcomes, as FinishJob stores it: succeeded when none is failing, failed
// when some are and none was installed, completed_with_failures otherwise.
func JobOutcome(counts map[Outcome]int) JobStatus {
	failing, installed := 0, 0
	for o, n := range counts {
		if o.Failing() {
			failing += n
		}
		if o.Installed() {
			installed += n
		}
	}
	switch {
	case failing == 0:
		return JobSucceeded
	case installed == 0:
		return JobFailed
	}
	return JobCompletedWithFailures
}
