package activities

import "sync"

// Outcomes lets a request waiting for its enrollment in this process hear
// the outcome the moment the enrollment's local activities make it certain
// (a certificate booked, a rejection from the CA), without the round trip
// of the workflow task's completion and the history long poll behind
// client.WorkflowRun.Get, about 5 ms at one caller. The workflow still runs
// to its end; since every step is idempotent by the enrollment's key, a run
// replayed after a crash reaches the same outcome. A nil *Outcomes tells no
// one: a process without a worker hears outcomes from Temporal only.
type Outcomes struct {
	mu      sync.Mutex
	waiting map[string][]chan Submission
}

// Await returns where the outcome of enrollment key will come, and a stop
// to call once it is no longer awaited.
func (o *Outcomes) Await(key string) (outcome <-chan Submission, stop func()) {
	if o == nil {
		return nil, func() {}
	}
	ch := make(chan Submission, 1)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.waiting == nil {
		o.waiting = map[string][]chan Submission{}
	}
	o.waiting[key] = append(o.waiting[key], ch)
	return ch, func() { o.forget(key, ch) }
}

func (o *Outcomes) forget(key string, ch chan Submission) {
	o.mu.Lock()
	defer o.mu.Unlock()
	rest := o.waiting[key][:0]
	for _, c := range o.waiting[key] {
		if c != ch {
			rest = append(rest, c)
		}
	}
	if len(rest) == 0 {
		delete(o.waiting, key)
	} else {
		o.waiting[key] = rest
	}
}

// settle tells every request awaiting enrollment key its outcome.
func (o *Outcomes) settle(key string, sub Submission) {
	if o == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, ch := range o.waiting[key] {
		select {
		case ch <- sub:
		default: // told already
		}
	}
}
