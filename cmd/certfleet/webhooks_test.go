package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"

	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/webhooks"
	"github.com/certfleet/certfleet/workflows"
)

// TestWebhooksDeliverEveryEventOnce runs the binary with two webhooks. The
// first one's receiver is down (nothing listens) while a job runs over a
// simulated fleet with one failing device: once it is up, every event
// (job.finished, job.items_failed, a ping) arrives exactly once per event ID,
// signed with the webhook's secret. The second one's receiver answers 500
// forever: its delivery ends in the log as failed after the configured
// attempts. A third, mailto:, gets job.finished by mail through an SMTP
// server the test runs on loopback.
func TestWebhooksDeliverEveryEventOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const fleetSecret = "webhook-test-fleet-secret-0123456789"
	const signingSecret = "webhook-test-signing-secret-0123456789"
	databaseURL := testenv.EmptyDatabase(t)
	temporalAddr, tc := testenv.Temporal(t, testenv.TemporalOptions{})
	simURL, _ := testenv.DeviceSim(t, 3, fleetSecret)
	resp := testenv.SimAdmin(t, simURL, fleetSecret, http.MethodPut, "/devices/sim-00003/faults", map[string]bool{"csr_failure": true})
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	apiAddr := testenv.FreeAddr(t)
	smtpAddr, mailbox := startSMTPSink(t)
	env := []string{"CERTFLEET_SMTP_ADDR=" + smtpAddr, "CERTFLEET_SMTP_FROM=certfleet@fleet.example", "PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + databaseURL, "TEMPORAL_ADDRESS=" + temporalAddr,
		"CERTFLEET_API_ADDR=" + apiAddr, "CERTFLEET_EST_ADDR=" + testenv.FreeAddr(t), "CERTFLEET_SCEP_ADDR=" + testenv.FreeAddr(t),
		"CERTFLEET_METRICS_ADDR=" + testenv.FreeAddr(t), "CERTFLEET_WEBHOOK_ATTEMPTS=8", "CERTFLEET_WEBHOOK_BACKOFF=200ms",
		"CERTFLEET_KEK_FILE=" + filepath.Join(t.TempDir(), "certfleet.kek")}
	token, proc := runAll(t, ctx, env, apiAddr)
	api := leakTestClient{t: t, base: "http://" + apiAddr, token: token}

	downAddr := testenv.FreeAddr(t) // nothing listens there until the receiver starts
	receiver := &webhookReceiver{secret: []byte(signingSecret), seen: map[string]int{}}
	broken := httpServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "receiver broken", http.StatusInternalServerError)
	}))
	api.call("POST", "/api/v1/credentials", map[string]any{"name": "hooks", "kind": "bearer", "secret": signingSecret}, http.StatusCreated)
	api.call("POST", "/api/v1/webhooks", map[string]any{"name": "ops", "url": "http://" + downAddr + "/hooks",
		"events": []string{webhooks.JobFinished, webhooks.JobItemsFailed}, "secret_credential": "hooks"}, http.StatusCreated)
	api.call("POST", "/api/v1/webhooks", map[string]any{"name": "broken", "url": broken + "/hooks",
		"events": []string{webhooks.JobFinished}, "secret_credential": "hooks"}, http.StatusCreated)
	api.call("POST", "/api/v1/webhooks", map[string]any{"name": "mail", "url": "mailto:pki-team@fleet.example,oncall@fleet.example",
		"events": []string{webhooks.JobFinished}}, http.StatusCreated)
	for field, bad := range map[string]map[string]any{
		"url (ftp)":         {"url": "ftp://example.com"},
		"url (mailto)":      {"url": "mailto:not an address"},
		"events":            {"events": []string{"job.exploded"}},
		"secret_credential": {"secret_credential": "nope"},
	} {
		body := map[string]any{"name": "bad", "url": "https://example.com", "events": []string{webhooks.JobFinished}, "secret_credential": "hooks"}
		for k, v := range bad {
			body[k] = v
		}
		refusal := api.call("POST", "/api/v1/webhooks", body, http.StatusBadRequest)
		assert.Equal(t, strings.Fields(field)[0], refusal["error"].(map[string]any)["details"].(map[string]any)["field"], refusal)
	}
	_, job := startSimJob(t, api, simURL, fleetSecret, 3)
	waitJobDone(t, ctx, tc, fmt.Sprint(job["workflow_id"]))
	jobID := fmt.Sprint(job["id"])
	ping := api.call("POST", "/api/v1/webhooks/ops/ping", nil, http.StatusAccepted)["event_id"].(string)
	waitUntil(t, ctx, "failed attempts to reach the receiver that is down", func() bool {
		log := api.call("GET", "/api/v1/webhooks/ops/deliveries", nil, http.StatusOK)["items"].([]any)
		for _, entry := range log {
			if entry.(map[string]any)["attempts"].(float64) < 1 {
				return false
			}
		}
		return len(log) == 3
	})

	receiver.listen(t, downAddr)
	want := []string{ping, "job.finished/" + jobID, "job.items_failed/" + jobID}
	waitUntil(t, ctx, "every event at the receiver once it is up", func() bool { return receiver.count() == len(want) })
	waitUntil(t, ctx, "the delivery log to say delivered", func() bool {
		log := api.call("GET", "/api/v1/webhooks/ops/deliveries?status=delivered", nil, http.StatusOK)["items"].([]any)
		return len(log) == len(want)
	})
	for _, id := range want {
		assert.Equal(t, 1, receiver.times(id), "event %s arrives once", id)
	}
	assert.Zero(t, receiver.badSignatures(), "every delivery is signed with the webhook's secret")
	failed := receiver.event("job.items_failed/" + jobID)
	assert.Equal(t, 1.0, failed["data"].(map[string]any)["failed"])
	assert.Equal(t, "sim-00003", failed["data"].(map[string]any)["items"].([]any)[0].(map[string]any)["device_id"])
	finished := receiver.event("job.finished/" + jobID)
	assert.Equal(t, "completed_with_failures", finished["data"].(map[string]any)["status"])
	assert.Equal(t, map[string]any{"revoke_na": 2.0, "device_failure": 1.0}, finished["data"].(map[string]any)["counts"])

	waitUntil(t, ctx, "the broken receiver's delivery to be given up", func() bool {
		log := api.call("GET", "/api/v1/webhooks/broken/deliveries?status=failed", nil, http.StatusOK)["items"].([]any)
		return len(log) == 1
	})
	entry := api.call("GET", "/api/v1/webhooks/broken/deliveries", nil, http.StatusOK)["items"].([]any)[0].(map[string]any)
	assert.Equal(t, 8.0, entry["attempts"], "every configured attempt was made")
	assert.Equal(t, 500.0, entry["last_status"])
	assert.Contains(t, entry["last_error"], "HTTP 500")
	assert.NotContains(t, proc.Output(), signingSecret, "the signing secret is in no log line")

	waitUntil(t, ctx, "the mail", func() bool { return len(mailbox.received()) == 1 })
	m := mailbox.received()[0]
	assert.Equal(t, "certfleet@fleet.example", m.from)
	assert.Equal(t, []string{"pki-team@fleet.example", "oncall@fleet.example"}, m.to)
	assert.Contains(t, m.data, "Message-ID: <job.finished.1.3@certfleet>")
	assert.Contains(t, m.data, "X-Certfleet-Event-Id: job.finished/"+jobID)
	assert.Contains(t, m.data, `"status": "completed_with_failures"`)

	// Webhooks are numbered in the order they were made: ops 1, broken 2.
	histories := map[string]*historypb.History{}
	for name, id := range map[string]string{
		"webhook-delivery/delivered-once-the-receiver-is-up.json": workflows.WebhookDeliveryWorkflowID(1, "job.finished/"+jobID),
		"webhook-delivery/given-up-after-every-attempt.json":      workflows.WebhookDeliveryWorkflowID(2, "job.finished/"+jobID),
	} {
		_ = tc.GetWorkflow(ctx, id, "").Get(ctx, nil) // its end, whichever it is
		histories[name] = testenv.History(t, tc, id, testenv.Runs(t, tc, id)[0])
	}
	testenv.ReplayHistories(t, histories)
}

// webhookReceiver counts the events it gets by ID and checks their signatures.
type webhookReceiver struct {
	secret []byte
	mu     sync.Mutex
	seen   map[string]int
	bodies map[string]map[string]any
	bad    int
}

func (r *webhookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	ts, _ := strconv.ParseInt(req.Header.Get(webhooks.HeaderTimestamp), 10, 64)
	var event map[string]any
	_ = json.Unmarshal(body, &event)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !webhooks.Verify(r.secret, ts, body, req.Header.Get(webhooks.HeaderSignature)) || event["id"] != req.Header.Get(webhooks.HeaderEventID) {
		r.bad++
	}
	id := req.Header.Get(webhooks.HeaderEventID)
	r.seen[id]++
	if r.bodies == nil {
		r.bodies = map[string]map[string]any{}
	}
	r.bodies[id] = event
	w.WriteHeader(http.StatusNoContent)
}

func (r *webhookReceiver) listen(t *testing.T, addr string) {
	l, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	s := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go s.Serve(l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { s.Close() })
}

func (r *webhookReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func (r *webhookReceiver) times(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[id]
}

func (r *webhookReceiver) badSignatures() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bad
}

func (r *webhookReceiver) event(id string) map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies[id]
}

// httpServer serves h on a free loopback port until the test ends.
func httpServer(t *testing.T, h http.Handler) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go s.Serve(l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { s.Close() })
	return "http://" + l.Addr().String()
}

// smtpSink is an SMTP server that keeps what it is sent: enough of RFC 5321
// for net/smtp (no TLS, no AUTH offered).
type smtpSink struct {
	mu       sync.Mutex
	messages []smtpMessage
}

type smtpMessage struct {
	from string
	to   []string
	data string
}

func startSMTPSink(t *testing.T) (string, *smtpSink) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	sink := &smtpSink{}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go sink.serve(conn)
		}
	}()
	return l.Addr().String(), sink
}

func (s *smtpSink) serve(conn net.Conn) {
	defer conn.Close()
	c := textproto.NewConn(conn)
	_ = c.PrintfLine("220 sink ESMTP")
	var m smtpMessage
	for {
		line, err := c.ReadLine()
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch {
		case verb == "EHLO" || verb == "HELO":
			_ = c.PrintfLine("250 sink")
		case strings.HasPrefix(strings.ToUpper(line), "MAIL FROM:"):
			m = smtpMessage{from: strings.Trim(line[len("MAIL FROM:"):], "<> ")}
			_ = c.PrintfLine("250 OK")
		case strings.HasPrefix(strings.ToUpper(line), "RCPT TO:"):
			m.to = append(m.to, strings.Trim(line[len("RCPT TO:"):], "<> "))
			_ = c.PrintfLine("250 OK")
		case verb == "DATA":
			_ = c.PrintfLine("354 go on")
			data, err := c.ReadDotBytes()
			if err != nil {
				return
			}
			m.data = string(data)
			s.mu.Lock()
			s.messages = append(s.messages, m)
			s.mu.Unlock()
			_ = c.PrintfLine("250 OK")
		case verb == "QUIT":
			_ = c.PrintfLine("221 bye")
			return
		default:
			_ = c.PrintfLine("250 OK")
		}
	}
}

func (s *smtpSink) received() []smtpMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMessage(nil), s.messages...)
}
