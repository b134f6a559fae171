// Package metrics is certfleet's Prometheus instrumentation: one registry per
// process, served at /metrics on a listener of its own; HTTP requests of the
// API, EST and SCEP; what happens to enrollments, job items and CA
// submissions as it happens; the fleet's state, read from Postgres on a
// schedule rather than per scrape (see Fleet); and the Temporal SDK's worker
// metrics (see Temporal).
//
// Every label value comes from a bounded set (routes, operations, outcomes,
// steps, and names an admin gives: labels, profiles, CAs); never a device
// ID, a serial or anything a client sends.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/certfleet/certfleet/vocab"
)

// Registry holds every certfleet metric of this process, with the Go
// runtime's and the process's.
var Registry = newRegistry()

func newRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

func counter(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	Registry.MustRegister(c)
	return c
}

func gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	Registry.MustRegister(g)
	return g
}

// single is a gauge without labels.
func single(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	Registry.MustRegister(g)
	return g
}

func histogram(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	Registry.MustRegister(h)
	return h
}

// Handler serves the registry in Prometheus' exposition format.
func Handler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{Registry: Registry})
}

var (
	httpRequests = counter("certfleet_http_requests_total",
		"HTTP requests answered, by server (api, est, scep), route, method and status class.", "server", "route", "method", "code")
	httpDuration = histogram("certfleet_http_request_duration_seconds",
		"Time to answer an HTTP request, by server and route.", prometheus.DefBuckets, "server", "route")

	enrollments = counter("certfleet_enrollments_total",
		"Enrollment requests by protocol (est, scep), label and outcome: issued, pending, rejected (by the CA), refused (4xx before the CA) or failed.",
		"protocol", "label", "outcome")

	jobItemsFinished = counter("certfleet_job_items_finished_total",
		"Job items that ended, by outcome and the step they ended on.", "outcome", "step")

	caSubmissions = counter("certfleet_ca_submissions_total",
		"CSRs submitted to a CA, by CA driver and result: issued, pending, rejected or error.", "driver", "result")
	caSubmitDuration = histogram("certfleet_ca_submission_duration_seconds",
		"Time a CA took to answer a submission, by CA driver.", callBuckets, "driver")

	outsideCallDuration = histogram("certfleet_outside_call_duration_seconds",
		"Time of each call to a device or a CA from a job's steps, by call (device.generate_csr, device.install, ca.submit, ca.poll, ca.revoke).", callBuckets, "call")
	enrollmentPhaseDuration = histogram("certfleet_enrollment_phase_duration_seconds",
		"Time of each phase of an enrollment request, by protocol and phase, in the order they run: label, authenticate, csr, admit, workflow (the enrollment run: signing and its inventory writes), respond.", queryBuckets, "protocol", "phase")
	dbQueryDuration = histogram("certfleet_db_query_duration_seconds",
		"Time of each Postgres query, by its sqlc name (begin, commit, rollback, or other for queries written by hand).", queryBuckets, "query")
)

var (
	callBuckets  = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	queryBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5}
)

func init() {
	// Every outcome of every step starts at zero, so that an alert on an
	// increase sees the first failure of a process.
	for _, o := range vocab.Outcomes {
		for _, s := range vocab.Steps {
			jobItemsFinished.WithLabelValues(string(o), string(s))
		}
	}
}

// Request records an answered HTTP request; route must be one of a bounded
// set (a route pattern or an operation, never a path as sent).
func Request(server, route, httpMethod string, status int, took time.Duration) {
	httpRequests.WithLabelValues(server, route, method(httpMethod), statusClass(status)).Inc()
	httpDuration.WithLabelValues(server, route).Observe(took.Seconds())
}

func statusClass(status int) string {
	return string(rune('0'+status/100)) + "xx"
}

// Enrollment records how an enrollment request of protocol through label
// ended (see the outcome constants).
func Enrollment(protocol, label, outcome string) {
	enrollments.WithLabelValues(protocol, label, outcome).Inc()
}

// Enrollment outcomes.
const (
	Issued   = "issued"
	Pending  = "pending"
	Rejected = "rejected"
	Refused  = "refused"
	Failed   = "failed"
)

// JobItemFinished records a job item's outcome, counted once when it is
// recorded in Postgres.
func JobItemFinished(outcome vocab.Outcome, step string) {
	jobItemsFinished.WithLabelValues(string(outcome), step).Inc()
}

// OutsideCall records how long one call to a device or a CA took; call
// is one of a bounded set of names.
func OutsideCall(call string, took time.Duration) {
	outsideCallDuration.WithLabelValues(call).Observe(took.Seconds())
}

// Phases times the phases of one enrollment request one after another.
type Phases struct {
	protocol string
	last     time.Time
}

// StartPhases starts timing a request of protocol.
func StartPhases(protocol string) *Phases { return &Phases{protocol: protocol, last: time.Now()} }

// Done records that phase, begun when the one before it ended, has ended.
func (p *Phases) Done(phase string) {
	now := time.Now()
	enrollmentPhaseDuration.WithLabelValues(p.protocol, phase).Observe(now.Sub(p.last).Seconds())
	p.last = now
}

// CASubmission records a CA's answer to a submission and how long it took.
func CASubmission(driver, result string, took time.Duration) {
	caSubmissions.WithLabelValues(driver, result).Inc()
	caSubmitDuration.WithLabelValues(driver).Observe(took.Seconds())
}
