package api_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/pki/trust"
	"github.com/certfleet/certfleet/profiles"
	"github.com/certfleet/certfleet/renewal"
	"github.com/certfleet/certfleet/workflows"
)

// auditWorld is the API over a real Postgres and Temporal dev server, with
// the built-in CA, trust anchors, jobs and renewal policies, and three
// cameras with a profile. No worker runs: jobs and sweeps start, and wait.
type auditWorld struct {
	apiWorld
	ca       *local.CA
	trust    *trust.Store
	temporal client.Client
	normal   pki.Profile
	approval pki.Profile
	policy   string // path of a renewal policy
}

func newAuditWorld(t *testing.T) *auditWorld {
	t.Helper()
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	_, tc := testenv.Temporal(t, testenv.TemporalOptions{})
	builtin, _ := testenv.BuiltinCA(t, pool, local.Options{})
	anchors := trust.New(pool)
	w := &auditWorld{ca: builtin, trust: anchors, temporal: tc}
	w.apiWorld = newAPIWorldWith(t, pool, api.Deps{Logger: quiet, Pool: pool, Approver: builtin, Revoker: builtin, Trust: anchors,
		Jobs:     &jobs.Service{Pool: pool, Temporal: tc, TaskQueue: "audit-test"},
		Renewals: &renewal.Service{Pool: pool, Temporal: tc, TaskQueue: "audit-test"},
	})
	w.normal, w.approval = w.profile(t, "cameras", false), w.profile(t, "cameras-approval", true)
	q := store.New(pool)
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("cam-%d", i)
		_, err := q.CreateDevice(ctx, store.CreateDeviceParams{ID: id, Name: id, DeviceType: "camera", Mode: "OPERATIONAL", Driver: "agent"})
		require.NoError(t, err)
		require.NoError(t, q.AssignProfile(ctx, store.AssignProfileParams{DeviceID: id, CertType: "tls", ProfileID: w.normal.ID}))
	}
	status, body := w.admin.do("POST", "/api/v1/renewal-policies", map[string]any{"name": "nightly", "cert_type": "tls", "renew_before_days": 30, "cron": "0 3 * * *"})
	require.Equal(t, http.StatusCreated, status, body)
	w.policy = fmt.Sprintf("/api/v1/renewal-policies/%v", body["id"])
	return w
}

func (w *auditWorld) profile(t *testing.T, name string, approval bool) pki.Profile {
	t.Helper()
	row, err := store.New(w.pool).CreateProfile(context.Background(), store.CreateProfileParams{
		Name: name, CertType: "tls", DeviceType: "camera",
		SubjectRules: json.RawMessage(`[{"attr":"CN","rule":"from_csr"}]`), SanRules: json.RawMessage(`[]`), ExtraAttributes: json.RawMessage(`[]`),
		KeyAlgorithms: json.RawMessage(`[{"algorithm":"ecdsa","sizes":[256]}]`),
		Validity:      90 * 24 * time.Hour, RenewBefore: 30 * 24 * time.Hour, CaDriver: "local", CaSettings: json.RawMessage(`{}`),
		ApprovalMode: approval, MaxCaWait: time.Hour,
	})
	require.NoError(t, err)
	profile, err := profiles.FromRow(row)
	require.NoError(t, err)
	return profile
}

// submit asks the built-in CA for a certificate for cn under profile.
func (w *auditWorld) submit(t *testing.T, cn string, profile pki.Profile) ca.Result {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, testpki.NewKey(t))
	require.NoError(t, err)
	csr, err := pki.ParseCSR(der)
	require.NoError(t, err)
	result, err := w.ca.Submit(context.Background(), ca.Request{CSR: csr, Profile: profile, IdempotencyKey: "audit-test/" + cn, DeviceID: cn})
	require.NoError(t, err)
	return result
}

// provenAnchor uploads and proves a CA as a trust anchor, without the API
// and so without audit rows; it stays disabled.
func (w *auditWorld) provenAnchor(t *testing.T, cn string) int64 {
	t.Helper()
	ctx := context.Background()
	factory := testpki.NewCA(t, cn)
	rows, err := w.trust.Add(ctx, trust.Upload{Name: cn, PEM: testpki.CertPEM(factory.Cert)})
	require.NoError(t, err)
	code, err := w.trust.Challenge(ctx, rows[0].ID)
	require.NoError(t, err)
	require.NoError(t, w.trust.Prove(ctx, rows[0].ID, code, factory.SignCode(t, code)))
	return rows[0].ID
}

// auditRows is the whole audit log, oldest first.
func auditRows(t *testing.T, pool *pgxpool.Pool) []store.AuditLog {
	t.Helper()
	rows, err := store.New(pool).ListAudit(context.Background(), store.ListAuditParams{PageSize: 1000})
	require.NoError(t, err)
	return rows
}

func id(v any) string { return fmt.Sprint(v) }

// TestEveryChangeIsAuditedOnce performs each change of trust anchors, CA
// requests, certificates, jobs and renewal sweeps through the API and finds
// exactly one audit row for it, with its action and object IDs.
func TestEveryChangeIsAuditedOnce(t *testing.T) {
	ctx := context.Background()
	w := newAuditWorld(t)
	factory := testpki.NewCA(t, "Acme Factory CA")
	legacy := w.provenAnchor(t, "Legacy CA")
	_, err := w.pool.Exec(ctx, `UPDATE trust_anchors SET legacy_unproven = true, verified_at = NULL, enabled = false WHERE id = $1`, legacy)
	require.NoError(t, err)
	toApprove, toReject := w.submit(t, "cam-1", w.approval), w.submit(t, "cam-2", w.approval)
	require.Equal(t, ca.Pending, toApprove.Status)

	var anchor, code, certificate, job string
	ok := func(as apiClient, want int, method, path string, body any) map[string]any {
		t.Helper()
		status, out := as.do(method, path, body)
		require.Equal(t, want, status, "%s %s: %v", method, path, out)
		return out
	}
	changes := []struct {
		action string
		do     func() []string // performs the change, returns the IDs it should be audited under
	}{
		{"trust_anchor.create", func() []string {
			body := ok(w.admin, 201, "POST", "/api/v1/trust-anchors", map[string]any{"name": "factory", "pem": string(testpki.CertPEM(factory.Cert))})
			anchor = id(body["items"].([]any)[0].(map[string]any)["id"])
			return []string{anchor}
		}},
		{"trust_anchor.challenge", func() []string {
			code = ok(w.admin, 200, "POST", "/api/v1/trust-anchors/"+anchor+"/verification-code", nil)["code"].(string)
			return []string{anchor}
		}},
		{"trust_anchor.verify", func() []string {
			ok(w.admin, 200, "POST", "/api/v1/trust-anchors/"+anchor+"/proof", map[string]any{"code": code, "signature": factory.SignCode(t, code)})
			return []string{anchor}
		}},
		{"trust_anchor.enable", func() []string {
			ok(w.admin, 200, "POST", "/api/v1/trust-anchors/"+anchor+"/enable", nil)
			return []string{anchor}
		}},
		{"trust_anchor.disable", func() []string {
			ok(w.admin, 200, "POST", "/api/v1/trust-anchors/"+anchor+"/disable", nil)
			return []string{anchor}
		}},
		{"trust_anchor.revoke_serial", func() []string {
			ok(w.admin, 200, "POST", "/api/v1/trust-anchors/"+anchor+"/revocations", map[string]any{"serial": "0A:1B"})
			return []string{anchor}
		}},
		{"trust_anchor.revoke_serials", func() []string {
			ok(w.admin, 200, "POST", "/api/v1/trust-anchors/"+anchor+"/revocations.csv", "serial\nc0\nc1\n")
			return []string{anchor}
		}},
		{"trust_anchor.confirm", func() []string {
			ok(w.admin, 200, "POST", fmt.Sprintf("/api/v1/trust-anchors/%d/confirm", legacy), nil)
			return []string{strconv.FormatInt(legacy, 10)}
		}},
		{"trust_anchor.delete", func() []string {
			ok(w.admin, 200, "DELETE", "/api/v1/trust-anchors/"+anchor, nil)
			return []string{anchor}
		}},
		{"ca_request.approve", func() []string {
			body := ok(w.operator, 200, "POST", "/api/v1/ca-requests/"+toApprove.RequestID+"/approve", nil)
			certificate = id(body["certificate_id"])
			return []string{toApprove.RequestID}
		}},
		{"ca_request.reject", func() []string {
			ok(w.operator, 200, "POST", "/api/v1/ca-requests/"+toReject.RequestID+"/reject", map[string]any{"reason": "unknown device"})
			return []string{toReject.RequestID}
		}},
		{"certificate.revoke", func() []string {
			ok(w.admin, 200, "POST", "/api/v1/certificates/"+certificate+"/revoke", map[string]any{"reason": 1})
			return []string{certificate}
		}},
		{"job.create", func() []string {
			job = id(ok(w.operator, 201, "POST", "/api/v1/jobs", map[string]any{"name": "renew", "cert_type": "tls", "device_ids": []string{"cam-1", "cam-2"}})["id"])
			return []string{job}
		}},
		{"job.halt", func() []string {
			ok(w.operator, 202, "POST", "/api/v1/jobs/"+job+"/halt", nil)
			return []string{job}
		}},
		{"job.retry", func() []string {
			failed, err := store.New(w.pool).CreateJob(ctx, store.CreateJobParams{Name: "failed", CertType: "tls", CreatedBy: "test", ScheduledAt: time.Now()})
			require.NoError(t, err)
			_, err = w.pool.Exec(ctx, `INSERT INTO job_items (job_id, device_id, cert_type, profile_id, state, last_error, finished_at)
				VALUES ($1, 'cam-3', 'tls', $2, 'device_failure', 'refused', now())`, failed.ID, w.normal.ID)
			require.NoError(t, err)
			require.NoError(t, store.New(w.pool).FinishJob(ctx, store.FinishJobParams{ID: failed.ID, Status: "completed"}))
			body := ok(w.operator, 201, "POST", fmt.Sprintf("/api/v1/jobs/%d/retry", failed.ID), nil)
			assert.Equal(t, float64(failed.ID), body["retry_of"], "the new job names the job it retries")
			return []string{id(body["id"])}
		}},
		{"renewal_policy.trigger", func() []string {
			ok(w.operator, 202, "POST", w.policy+"/trigger", nil)
			return []string{id(w.policy[len("/api/v1/renewal-policies/"):])}
		}},
		{"renewal_policy.backfill", func() []string {
			ok(w.operator, 202, "POST", w.policy+"/backfill", map[string]any{"start": "2026-01-01T00:00:00Z", "end": "2026-01-08T00:00:00Z"})
			return []string{id(w.policy[len("/api/v1/renewal-policies/"):])}
		}},
	}
	for _, change := range changes {
		before := len(auditRows(t, w.pool))
		ids := change.do()
		rows := auditRows(t, w.pool)
		require.Len(t, rows, before+1, "%s writes exactly one audit row", change.action)
		row := rows[len(rows)-1]
		assert.Equal(t, change.action, row.Action)
		assert.Equal(t, ids, row.ObjectIds, change.action)
		assert.Contains(t, []string{"token:admin-token#1", "token:operator-token#2"}, row.Actor, change.action)
	}
}

// TestFailedChangesLeaveNoAuditRow: a change that is refused, by the API or
// by the state it finds, happens not and is not recorded.
func TestFailedChangesLeaveNoAuditRow(t *testing.T) {
	ctx := context.Background()
	w := newAuditWorld(t)
	q := store.New(w.pool)
	decided := w.submit(t, "cam-1", w.approval)
	_, err := w.ca.Approve(ctx, decided.RequestID, "earlier", nil)
	require.NoError(t, err)
	other := testpki.NewCA(t, "Other CA")
	foreign, _ := other.Client(t, "cam-2")
	sum := sha256.Sum256(foreign.Raw)
	stranger, err := q.InsertCertificate(ctx, store.InsertCertificateParams{
		DeviceID: pgtype.Text{String: "cam-2", Valid: true}, CertType: "tls", Issuer: foreign.Issuer.String(), SerialHex: foreign.SerialNumber.Text(16),
		Subject: foreign.Subject.String(), Sha256: sum[:], NotBefore: foreign.NotBefore, NotAfter: foreign.NotAfter, Der: foreign.Raw,
	})
	require.NoError(t, err)
	unproven, err := w.trust.Add(ctx, trust.Upload{Name: "unproven", PEM: testpki.CertPEM(testpki.NewCA(t, "Unproven CA").Cert)})
	require.NoError(t, err)
	anchor := strconv.FormatInt(unproven[0].ID, 10)
	_, err = w.trust.Challenge(ctx, unproven[0].ID)
	require.NoError(t, err)
	busy, err := (&jobs.Service{Pool: w.pool, Temporal: w.temporal, TaskQueue: "audit-test"}).Create(ctx,
		jobs.Spec{Name: "busy", CertType: "tls", CreatedBy: "test", DeviceIDs: []string{"cam-3"}}, nil)
	require.NoError(t, err)
	finished, err := q.CreateJob(ctx, store.CreateJobParams{Name: "done", CertType: "tls", CreatedBy: "test", ScheduledAt: time.Now()})
	require.NoError(t, err)
	require.NoError(t, q.FinishJob(ctx, store.FinishJobParams{ID: finished.ID, Status: "completed"}))
	before := auditRows(t, w.pool)

	cases := []struct {
		name         string
		as           apiClient
		method, path string
		body         any
		status       int
		field        string
	}{
		{"approve a decided request", w.operator, "POST", "/api/v1/ca-requests/" + decided.RequestID + "/approve", nil, 409, ""},
		{"reject a decided request", w.operator, "POST", "/api/v1/ca-requests/" + decided.RequestID + "/reject", map[string]any{"reason": "late"}, 409, ""},
		{"revoke another CA's certificate", w.admin, "POST", fmt.Sprintf("/api/v1/certificates/%d/revoke", stranger.ID), map[string]any{"reason": 1}, 409, ""},
		{"enable an unproven anchor", w.admin, "POST", "/api/v1/trust-anchors/" + anchor + "/enable", nil, 409, ""},
		{"prove with a wrong signature", w.admin, "POST", "/api/v1/trust-anchors/" + anchor + "/proof", map[string]any{"code": "guess", "signature": "AAAA"}, 400, ""},
		{"confirm an anchor that is not legacy", w.admin, "POST", "/api/v1/trust-anchors/" + anchor + "/confirm", nil, 409, ""},
		{"revoke a serial of no anchor", w.admin, "POST", "/api/v1/trust-anchors/999999/revocations", map[string]any{"serial": "0a"}, 404, ""},
		{"a job with a busy device", w.operator, "POST", "/api/v1/jobs", map[string]any{"name": "clash", "cert_type": "tls", "device_ids": []string{"cam-3"}}, 409, ""},
		{"halt a finished job", w.operator, "POST", fmt.Sprintf("/api/v1/jobs/%d/halt", finished.ID), nil, 409, ""},
		{"halt no job", w.operator, "POST", "/api/v1/jobs/999999/halt", nil, 404, ""},
		{"trigger no policy", w.operator, "POST", "/api/v1/renewal-policies/999999/trigger", nil, 404, ""},
		{"backfill no policy", w.operator, "POST", "/api/v1/renewal-policies/999999/backfill", map[string]any{"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}, 404, ""},
		{"backfill longer than 31 days", w.operator, "POST", w.policy + "/backfill", map[string]any{"start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:01Z"}, 400, "end"},
		{"backfill with start after end", w.operator, "POST", w.policy + "/backfill", map[string]any{"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, 400, "start"},
		{"backfill without start", w.operator, "POST", w.policy + "/backfill", map[string]any{"end": "2026-01-01T00:00:00Z"}, 400, "start"},
	}
	for _, c := range cases {
		status, body := c.as.do(c.method, c.path, c.body)
		assert.Equal(t, c.status, status, "%s: %v", c.name, body)
		if c.field != "" {
			errBody, _ := body["error"].(map[string]any)
			details, _ := errBody["details"].(map[string]any)
			assert.Equal(t, c.field, details["field"], c.name)
		}
	}
	assert.Equal(t, before, auditRows(t, w.pool), "no refused change is in the audit log")
	assert.Equal(t, 1, len(jobItems(t, w.pool, busy.ID)), "the busy job is as it was")
}

func jobItems(t *testing.T, pool *pgxpool.Pool, jobID int64) []store.ListJobItemsRow {
	t.Helper()
	rows, err := store.New(pool).ListJobItems(context.Background(), store.ListJobItemsParams{JobID: jobID, PageSize: 100})
	require.NoError(t, err)
	return rows
}

// TestChangeAndAuditRowCommitTogether makes every audit row fail to write,
// then attempts each change: none may happen. Changes in Postgres roll back
// with their audit row; signals and schedule requests are not sent, because
// their audit row is written before.
func TestChangeAndAuditRowCommitTogether(t *testing.T) {
	ctx := context.Background()
	w := newAuditWorld(t)
	q := store.New(w.pool)
	anchor := w.provenAnchor(t, "Proven CA")
	toApprove, toReject := w.submit(t, "cam-1", w.approval), w.submit(t, "cam-2", w.approval)
	issued := w.submit(t, "cam-3", w.normal)
	require.Equal(t, ca.Issued, issued.Status)
	running, err := (&jobs.Service{Pool: w.pool, Temporal: w.temporal, TaskQueue: "audit-test"}).Create(ctx,
		jobs.Spec{Name: "running", CertType: "tls", CreatedBy: "test", DeviceIDs: []string{"cam-1"}}, nil)
	require.NoError(t, err)
	before := auditRows(t, w.pool)
	_, err = w.pool.Exec(ctx, `
		CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the audit log is unavailable'; END $$;
		CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit();`)
	require.NoError(t, err)

	changes := []struct {
		name         string
		as           apiClient
		method, path string
		body         any
	}{
		{"upload a trust anchor", w.admin, "POST", "/api/v1/trust-anchors", map[string]any{"name": "new", "pem": string(testpki.CertPEM(testpki.NewCA(t, "New CA").Cert))}},
		{"enable a trust anchor", w.admin, "POST", fmt.Sprintf("/api/v1/trust-anchors/%d/enable", anchor), nil},
		{"approve a CA request", w.operator, "POST", "/api/v1/ca-requests/" + toApprove.RequestID + "/approve", nil},
		{"reject a CA request", w.operator, "POST", "/api/v1/ca-requests/" + toReject.RequestID + "/reject", map[string]any{"reason": "no"}},
		{"revoke a certificate", w.admin, "POST", fmt.Sprintf("/api/v1/certificates/%d/revoke", issued.CertificateID), map[string]any{"reason": 1}},
		{"create a job", w.operator, "POST", "/api/v1/jobs", map[string]any{"name": "unrecorded", "cert_type": "tls", "device_ids": []string{"cam-2"}}},
		{"halt a job", w.operator, "POST", fmt.Sprintf("/api/v1/jobs/%d/halt", running.ID), nil},
		{"trigger a sweep", w.operator, "POST", w.policy + "/trigger", nil},
		{"backfill sweeps", w.operator, "POST", w.policy + "/backfill", map[string]any{"start": "2026-01-01T00:00:00Z", "end": "2026-01-08T00:00:00Z"}},
	}
	for _, c := range changes {
		status, body := c.as.do(c.method, c.path, c.body)
		assert.Equal(t, http.StatusInternalServerError, status, "%s: %v", c.name, body)
	}

	anchors, err := q.ListTrustAnchors(ctx)
	require.NoError(t, err)
	assert.Len(t, anchors, 1, "no anchor was uploaded")
	proven, err := q.GetTrustAnchor(ctx, anchor)
	require.NoError(t, err)
	assert.False(t, proven.Enabled, "the anchor was not enabled")
	for _, requestID := range []string{toApprove.RequestID, toReject.RequestID} {
		var status string
		require.NoError(t, w.pool.QueryRow(ctx, `SELECT status FROM ca_requests WHERE id = $1::bigint`, requestID).Scan(&status))
		assert.Equal(t, "pending", status, "request %s was not decided", requestID)
	}
	cert, err := q.GetCertificate(ctx, issued.CertificateID)
	require.NoError(t, err)
	assert.Nil(t, cert.RevokedAt, "the certificate was not revoked")
	var jobCount int
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&jobCount))
	assert.Equal(t, 1, jobCount, "no job was created")
	assert.Zero(t, signals(t, w.temporal, workflows.JobWorkflowID(running.ID)), "no halt signal was sent")
	assert.Equal(t, before, auditRows(t, w.pool))
}

// signals counts the signals a workflow has received.
func signals(t *testing.T, tc client.Client, workflowID string) int {
	t.Helper()
	iter := tc.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for iter.HasNext() {
		event, err := iter.Next()
		require.NoError(t, err)
		if event.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED {
			n++
		}
	}
	return n
}
