package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptrace"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Where the time goes: certfleet's own /metrics, scraped before and after a
// run, split a device's or an enrollment's wall time into Temporal's
// scheduling, certfleet's code, Postgres and the calls to devices and CAs.
// Only the dev-server stack has one certfleet process to scrape.

// histogramTotal is one histogram series' sum (seconds) and count.
type histogramTotal struct {
	name   string
	labels map[string]string
	sum    float64
	count  float64
}

// scrape is every histogram series of one scrape.
type scrape []histogramTotal

// scrapeMetrics reads every histogram from certfleet's metrics listener.
func (s *stack) scrapeMetrics(ctx context.Context) (scrape, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.metricsAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape certfleet's metrics: %w", err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse certfleet's metrics: %w", err)
	}
	var out scrape
	for name, f := range families {
		if f.GetType() != dto.MetricType_HISTOGRAM {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out = append(out, histogramTotal{name: name, labels: labels, sum: m.GetHistogram().GetSampleSum(), count: float64(m.GetHistogram().GetSampleCount())})
		}
	}
	return out, nil
}

// since is what was observed between before and sc.
func (sc scrape) since(before scrape) scrape {
	out := make(scrape, 0, len(sc))
	for _, h := range sc {
		for _, b := range before {
			if b.name == h.name && maps.Equal(b.labels, h.labels) {
				h.sum -= b.sum
				h.count -= b.count
				break
			}
		}
		out = append(out, h)
	}
	return out
}

// total is the summed seconds and count of name's series that keep accepts.
func (sc scrape) total(name string, keep func(labels map[string]string) bool) (seconds, count float64) {
	for _, h := range sc {
		if h.name == name && keep(h.labels) {
			seconds += h.sum
			count += h.count
		}
	}
	return seconds, count
}

// every series; labelPrefix: those whose label key starts with prefix;
// label: those whose label key is value.
func every(map[string]string) bool { return true }

func labelPrefix(key, prefix string) func(map[string]string) bool {
	return func(l map[string]string) bool { return strings.HasPrefix(l[key], prefix) }
}

func label(key, value string) func(map[string]string) bool {
	return func(l map[string]string) bool { return l[key] == value }
}

// has tells whether certfleet exports name: a breakdown missing a part
// would read as if it cost nothing.
func (sc scrape) has(names ...string) error {
	for _, name := range names {
		if !slices.ContainsFunc(sc, func(h histogramTotal) bool { return h.name == name }) {
			return fmt.Errorf("certfleet's metrics have no %s", name)
		}
	}
	return nil
}

// The histograms a breakdown reads.
const (
	activityScheduleToStart = "temporal_activity_schedule_to_start_latency_seconds"
	activityExecution       = "temporal_activity_execution_latency_seconds"
	localActivityExecution  = "temporal_local_activity_execution_latency_seconds"
	taskScheduleToStart     = "temporal_workflow_task_schedule_to_start_latency_seconds"
	taskExecution           = "temporal_workflow_task_execution_latency_seconds"
	outsideCalls            = "certfleet_outside_call_duration_seconds"
	queries                 = "certfleet_db_query_duration_seconds"
	caSubmissions           = "certfleet_ca_submission_duration_seconds"
	enrollmentPhases        = "certfleet_enrollment_phase_duration_seconds"
)

// part is one share of a device's or an enrollment's time.
type part struct {
	Name   string  `json:"name"`
	Millis float64 `json:"ms"`
	Within string  `json:"within,omitempty"` // the part this one is a share of
}

// stepCost is one activity type's mean cost per run of it.
type stepCost struct {
	Activity          string  `json:"activity"`
	Local             bool    `json:"local"`
	PerDevice         float64 `json:"runs_per_device"`
	ScheduleToStartMs float64 `json:"schedule_to_start_ms"` // 0 for local activities, which start in the workflow task
	ExecutionMs       float64 `json:"execution_ms"`
}

// queryCost is one query's time per device or enrollment.
type queryCost struct {
	Query  string  `json:"query"`
	Calls  float64 `json:"calls"`
	Millis float64 `json:"ms"`
}

// jobBreakdown is where a job's devices spent their time, per device.
type jobBreakdown struct {
	Parts   []part      `json:"parts"`
	Steps   []stepCost  `json:"steps"`
	Queries []queryCost `json:"top_queries"`
}

// breakDownJob divides what certfleet observed during a job of n devices.
func breakDownJob(d scrape, n int) (*jobBreakdown, error) {
	if err := d.has(activityScheduleToStart, activityExecution, localActivityExecution, taskScheduleToStart, taskExecution, outsideCalls, queries); err != nil {
		return nil, err
	}
	per := func(seconds, _ float64) float64 { return 1000 * seconds / float64(n) }
	b := &jobBreakdown{Parts: []part{
		{Name: "Temporal: activity tasks waiting for a worker slot (schedule-to-start)", Millis: per(d.total(activityScheduleToStart, every))},
		{Name: "Temporal: workflow tasks waiting for a worker slot (schedule-to-start)", Millis: per(d.total(taskScheduleToStart, every))},
		{Name: "Workflow tasks: certfleet's workflow code, in the worker", Millis: per(d.total(taskExecution, every))},
		{Name: "Local activities (Postgres bookkeeping and, with the built-in CA, the submit and revoke steps), while their workflow task waits", Millis: per(d.total(localActivityExecution, every))},
		{Name: "Activities: the steps' code", Millis: per(d.total(activityExecution, every))},
		{Name: "device calls", Millis: per(d.total(outsideCalls, labelPrefix("call", "device."))), Within: "Activities"},
		{Name: "calls to the CA (the built-in CA signs in process)", Millis: per(d.total(outsideCalls, labelPrefix("call", "ca."))), Within: "Activities"},
		{Name: "Postgres, every query of the process", Millis: per(d.total(queries, every))},
	}}
	b.Steps = stepCosts(d, n)
	b.Queries = topQueries(d, float64(n), 8)
	return b, nil
}

// stepCosts is the cost of each activity type, remote and local.
func stepCosts(d scrape, n int) []stepCost {
	var out []stepCost
	for _, name := range []string{activityExecution, localActivityExecution} {
		types := map[string]bool{}
		for _, h := range d {
			if h.name == name && h.count > 0 {
				types[h.labels["activity_type"]] = true
			}
		}
		for t := range types {
			exec, count := d.total(name, label("activity_type", t))
			s := stepCost{Activity: t, Local: name == localActivityExecution, PerDevice: count / float64(n), ExecutionMs: 1000 * exec / count}
			if !s.Local {
				if wait, waits := d.total(activityScheduleToStart, label("activity_type", t)); waits > 0 {
					s.ScheduleToStartMs = 1000 * wait / waits
				}
			}
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Local != out[j].Local {
			return !out[i].Local
		}
		return out[i].Activity < out[j].Activity
	})
	return out
}

// topQueries are the k queries that took the most time, per unit of work.
func topQueries(d scrape, units float64, k int) []queryCost {
	var out []queryCost
	for _, h := range d {
		if h.name == queries && h.count > 0 {
			out = append(out, queryCost{Query: h.labels["query"], Calls: h.count / units, Millis: 1000 * h.sum / units})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Millis > out[j].Millis })
	return out[:min(k, len(out))]
}

// enrollBreakdown is where one EST enrollment's time went, on average.
type enrollBreakdown struct {
	// TLSHandshakeMs is the client's mean time in handshakes per request
	// (0 on a kept-alive connection after the first).
	TLSHandshakeMs float64     `json:"tls_handshake_ms"`
	Parts          []part      `json:"parts"`
	Queries        []queryCost `json:"top_queries"`
}

// The parts of an enrollment besides its phases.
const (
	signingPart         = "CA signing"
	localActivitiesPart = "local activities (ledger, signing, certificate rows)"
	postgresPart        = "Postgres, every query"
)

// estPhases are the server's phases of an EST enrollment, in order.
var estPhases = []string{"label", "authenticate", "csr", "admit", "workflow", "respond"}

// breakDownEnrollment divides what certfleet observed over requests
// enrollments.
func breakDownEnrollment(d scrape, requests int, handshakeMs float64) (*enrollBreakdown, error) {
	if err := d.has(enrollmentPhases, caSubmissions, queries, localActivityExecution); err != nil {
		return nil, err
	}
	b := &enrollBreakdown{TLSHandshakeMs: handshakeMs}
	for _, phase := range estPhases {
		seconds, count := d.total(enrollmentPhases, label("phase", phase))
		if count > 0 {
			b.Parts = append(b.Parts, part{Name: phase, Millis: 1000 * seconds / count})
		}
	}
	signing, signed := d.total(caSubmissions, every)
	local, locals := d.total(localActivityExecution, every)
	all, _ := d.total(queries, every)
	if signed > 0 {
		b.Parts = append(b.Parts, part{Name: signingPart, Millis: 1000 * signing / signed, Within: "workflow"})
	}
	if locals > 0 && requests > 0 {
		b.Parts = append(b.Parts, part{Name: localActivitiesPart, Millis: 1000 * local / float64(requests), Within: "workflow"})
	}
	if requests > 0 {
		b.Parts = append(b.Parts, part{Name: postgresPart, Millis: 1000 * all / float64(requests)})
	}
	b.Queries = topQueries(d, float64(max(requests, 1)), 6)
	return b, nil
}

// handshakes totals the client's time in TLS handshakes during a series.
type handshakes struct{ nanos atomic.Int64 }

// clientHandshakes is the EST series' handshake clock, reset before each.
var clientHandshakes handshakes

// trace times req's TLS handshake, if it makes one.
func (h *handshakes) trace(req *http.Request) *http.Request {
	var began time.Time
	return req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		TLSHandshakeStart: func() { began = time.Now() },
		TLSHandshakeDone:  func(tls.ConnectionState, error) { h.nanos.Add(int64(time.Since(began))) },
	}))
}

// meanMillis is the handshake time per request over requests, and resets.
func (h *handshakes) meanMillis(requests int) float64 {
	return float64(h.nanos.Swap(0)) / 1e6 / float64(max(requests, 1))
}
