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
