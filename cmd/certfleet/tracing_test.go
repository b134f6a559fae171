package main

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/certfleet/certfleet/internal/testenv"
)

// TestTracesFollowARequestIntoWorkflows runs the binary exporting traces to
// an OTLP/HTTP receiver the test runs: the API request that creates a job,
// the job's workflow, the device's child workflow, their activities and the
// calls to the device and the CA share one trace; so do an EST enrollment,
// its workflow and the CA's submission.
func TestTracesFollowARequestIntoWorkflows(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const fleetSecret = "tracing-test-fleet-secret-0123456789"
	collector := &otlpReceiver{}
	endpoint := httpServer(t, collector)
	databaseURL := testenv.EmptyDatabase(t)
	temporalAddr, tc := testenv.Temporal(t, testenv.TemporalOptions{})
	simURL, _ := testenv.DeviceSim(t, 1, fleetSecret)
	apiAddr, estAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	env := []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + databaseURL, "TEMPORAL_ADDRESS=" + temporalAddr,
		"CERTFLEET_API_ADDR=" + apiAddr, "CERTFLEET_EST_ADDR=" + estAddr, "CERTFLEET_SCEP_ADDR=" + testenv.FreeAddr(t),
		"CERTFLEET_METRICS_ADDR=" + testenv.FreeAddr(t), "CERTFLEET_OTLP_ENDPOINT=" + endpoint, "OTEL_BSP_SCHEDULE_DELAY=100",
		"CERTFLEET_KEK_FILE=" + filepath.Join(t.TempDir(), "certfleet.kek"), "CERTFLEET_EST_HOSTS=localhost"}
	token, _ := runAll(t, ctx, env, apiAddr)
	api := leakTestClient{t: t, base: "http://" + apiAddr, token: token}

	profile, job := startSimJob(t, api, simURL, fleetSecret, 1)
	waitJobDone(t, ctx, tc, fmt.Sprint(job["workflow_id"]))
	want := []string{"POST /api/v1/jobs", "RunWorkflow:CertificateJob", "RunWorkflow:CertifyDevice",
		"RunActivity:GetCSR", "device.generate_csr", "RunActivity:SubmitCSR", "ca.submit", "device.install"}
	waitUntil(t, ctx, "the job's spans in one trace", func() bool { return collector.hasTrace("POST /api/v1/jobs", want) })

	api.call("POST", "/api/v1/est-labels", map[string]any{"label": "cams", "is_default": true, "profile_id": profile["id"]}, http.StatusCreated)
	api.call("POST", "/api/v1/devices/import", "id,name,device_type,enrollment_otp\r\nest-1,EST 1,camera,tracing-test-otp-0123\r\n", http.StatusOK)
	enrollOverEST(t, estAddr, "est-1", "est-1", "tracing-test-otp-0123")
	want = []string{"POST /.well-known/est/simpleenroll", "RunWorkflow:Enrollment", "ca.submit"}
	waitUntil(t, ctx, "the enrollment's spans in one trace", func() bool { return collector.hasTrace("POST /.well-known/est/simpleenroll", want) })
	assert.True(t, collector.hasTrace("POST /api/v1/jobs", []string{"device.install"}), "still there")
}

// otlpReceiver takes OTLP/HTTP trace exports (protobuf, gzipped or not) and
// keeps span names by trace.
type otlpReceiver struct {
	mu     sync.Mutex
	traces map[string][]string
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" {
		http.NotFound(w, r)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	data, err := io.ReadAll(body)
	var req collectortrace.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(data, &req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.traces == nil {
		o.traces = map[string][]string{}
	}
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, span := range ss.Spans {
				id := hex.EncodeToString(span.TraceId)
				o.traces[id] = append(o.traces[id], span.Name)
			}
		}
	}
	answer, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(answer)
}

// hasTrace reports whether a trace holding a span named root holds spans of
// every name in want (a name matches a span name it prefixes or equals).
func (o *otlpReceiver) hasTrace(root string, want []string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, names := range o.traces {
		joined := "\n" + strings.Join(names, "\n") + "\n"
		if !strings.Contains(joined, "\n"+root+"\n") {
			continue
		}
		all := true
		for _, name := range want {
			all = all && strings.Contains(joined, "\n"+name)
		}
		if all {
			return true
		}
	}
	return false
}
