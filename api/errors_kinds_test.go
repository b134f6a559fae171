package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/credentials"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/pki/trust"
	"github.com/certfleet/certfleet/renewal"
)

// unreachableTemporal is a Temporal frontend that starts no workflow; asked
// whether one exists, it answers describe: not found when it is down and
// knows it, unavailable when it answers nothing at all.
type unreachableTemporal struct {
	client.Client
	describe error
}

func (unreachableTemporal) ExecuteWorkflow(context.Context, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	return nil, serviceerror.NewUnavailable("dial tcp 10.0.0.7:7233: connection refused")
}

func (t unreachableTemporal) DescribeWorkflowExecution(context.Context, string, string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	return nil, t.describe
}

// failingCRLs cannot produce a CRL.
type failingCRLs struct{}

func (failingCRLs) CRLByName(context.Context, string) ([]byte, bool, error) {
	return nil, false, errors.New("sign CRL: key store at /var/lib/certfleet is locked")
}

// TestEveryErrorKindThroughTheAPI walks each kind of refusal, raised by the
// API itself or by jobs, renewal, trust, the built-in CA, credentials and
// tokens, through real routes: each gets its kind's status and code, and an
// invalid request names the field at fault, a malformed time and a value
// outside a list included. No message shows a Go time layout or the cause of
// an unavailable dependency.
func TestEveryErrorKindThroughTheAPI(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	builtin, keys := testenv.BuiltinCA(t, pool, local.Options{})
	w := newAPIWorldWith(t, pool, api.Deps{Logger: quiet, Pool: pool, CRLs: failingCRLs{},
		Jobs: &jobs.Service{Pool: pool, Temporal: unreachableTemporal{describe: serviceerror.NewNotFound("workflow not found")}, TaskQueue: "errors-test"}, Approver: builtin, Trust: trust.New(pool),
		Revoker: builtin, Renewals: &renewal.Service{Pool: pool}, Credentials: &credentials.Store{Pool: pool, KEK: keys}})

	// A device with a profile, to start a job for; a credential it uses, and
	// one only an admin may bind; an unproven trust anchor.
	status, body := w.admin.do("POST", "/api/v1/profiles", cameraProfile)
	require.Equal(t, http.StatusCreated, status, body)
	w.lanCredential(t)
	status, body = w.admin.do("POST", "/api/v1/credentials", map[string]any{"name": "anywhere", "kind": "bearer", "secret": bearerSecret})
	require.Equal(t, http.StatusCreated, status, body)
	status, body = w.operator.do("POST", "/api/v1/devices", map[string]any{"id": "cam-1", "name": "Lobby", "device_type": "camera",
		"address": "https://10.0.0.5", "credential": "cams-lan"})
	require.Equal(t, http.StatusCreated, status, body)
	status, body = w.operator.do("POST", "/api/v1/profile-assignments", map[string]any{"profile_id": 1, "device_ids": []string{"cam-1"}})
	require.Equal(t, http.StatusOK, status, body)
	anchorPEM := string(testpki.CertPEM(testpki.NewCA(t, "Factory Root").Cert))
	status, body = w.admin.do("POST", "/api/v1/trust-anchors", map[string]any{"name": "factory", "pem": anchorPEM})
	require.Equal(t, http.StatusCreated, status, body)
	anchor := fmt.Sprint(body["items"].([]any)[0].(map[string]any)["id"])
	var adminToken int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM api_tokens WHERE name = 'admin-token'`).Scan(&adminToken))

	job := map[string]any{"name": "renew", "cert_type": "tls", "device_ids": []string{"cam-1"}}
	with := func(base map[string]any, key string, value any) map[string]any {
		out := map[string]any{key: value}
		for k, v := range base {
			if k != key {
				out[k] = v
			}
		}
		return out
	}
	policy := map[string]any{"name": "nightly", "cert_type": "tls", "renew_before_days": 30, "cron": "0 3 * * *"}
	for _, tc := range []struct {
		name         string
		client       apiClient
		method, path string
		body         any
		status       int
		code, field  string
	}{
		{"a field's value", w.admin, "POST", "/api/v1/profiles", with(cameraProfile, "name", ""), 400, "invalid", "name"},
		{"a field of the wrong JSON type", w.admin, "POST", "/api/v1/profiles", with(cameraProfile, "validity_days", "ninety"), 400, "invalid", "validity_days"},
		{"an unknown field", w.admin, "POST", "/api/v1/profiles", with(cameraProfile, "color", "red"), 400, "invalid", "color"},
		{"a body that is not JSON", w.admin, "POST", "/api/v1/profiles", `{"name":`, 400, "invalid", "body"},
		{"a job's start as words", w.operator, "POST", "/api/v1/jobs", with(job, "start_at", "tomorrow 2am"), 400, "invalid", "start_at"},
		{"a job's start as a number", w.operator, "POST", "/api/v1/jobs", with(job, "start_at", 1767225600), 400, "invalid", "start_at"},
		{"a job's certificate type", w.operator, "POST", "/api/v1/jobs", with(job, "cert_type", "smime"), 400, "invalid", "cert_type"},
		{"a job's devices without a profile", w.operator, "POST", "/api/v1/jobs", with(job, "device_ids", []string{"cam-9"}), 400, "invalid", "device_ids"},
		{"a backfill's start", w.operator, "POST", "/api/v1/renewal-policies/1/backfill", map[string]any{"start": "yesterday", "end": "2026-01-31T00:00:00Z"}, 400, "invalid", "start"},
		{"a backfill without end", w.operator, "POST", "/api/v1/renewal-policies/1/backfill", map[string]any{"start": "2026-01-30T00:00:00Z"}, 400, "invalid", "end"},
		{"a policy's time zone", w.admin, "POST", "/api/v1/renewal-policies", with(policy, "time_zone", "Mars/Olympus_Mons"), 400, "invalid", "time_zone"},
		{"a policy's outside_window", w.admin, "POST", "/api/v1/renewal-policies", with(policy, "outside_window", "sometimes"), 400, "invalid", "outside_window"},
		{"a policy's cron", w.admin, "POST", "/api/v1/renewal-policies", with(policy, "cron", "at three"), 400, "invalid", "cron"},
		{"a policy's window time", w.admin, "POST", "/api/v1/renewal-policies",
			with(policy, "windows", []map[string]any{{"days": []string{"mon"}, "start": "2am", "end": "05:00"}}), 400, "invalid", "windows[0].start"},
		{"a policy's window day", w.admin, "POST", "/api/v1/renewal-policies",
			with(policy, "windows", []map[string]any{{"days": []string{"monday"}, "start": "01:00", "end": "05:00"}}), 400, "invalid", "windows[0].days"},
		{"a token's expiry", w.admin, "POST", "/api/v1/tokens", map[string]any{"name": "ci", "role": "operator", "expires_at": "next year"}, 400, "invalid", "expires_at"},
		{"a token's role", w.admin, "POST", "/api/v1/tokens", map[string]any{"name": "ci", "role": "root"}, 400, "invalid", "role"},
		{"a credential's kind", w.admin, "POST", "/api/v1/credentials", map[string]any{"name": "x", "kind": "telepathy", "secret": "s"}, 400, "invalid", "kind"},
		{"a trust anchor's PEM", w.admin, "POST", "/api/v1/trust-anchors", map[string]any{"name": "junk", "pem": "not PEM"}, 400, "invalid", "pem"},
		{"a trust anchor's name mapping", w.admin, "POST", "/api/v1/trust-anchors", map[string]any{"name": "f", "pem": anchorPEM, "name_mapping": "email"}, 400, "invalid", "name_mapping"},
		{"a revocation's serial", w.admin, "POST", "/api/v1/trust-anchors/" + anchor + "/revocations", map[string]any{"serial": "zz"}, 400, "invalid", "serial"},
		{"a revocation's date", w.admin, "POST", "/api/v1/trust-anchors/" + anchor + "/revocations", map[string]any{"serial": "1f", "date": "last week"}, 400, "invalid", "date"},
		{"a query's enumeration", w.auditor, "GET", "/api/v1/jobs?sort=size", nil, 400, "invalid", "sort"},
		{"a query's time", w.auditor, "GET", "/api/v1/certificates?expiring_before=soon", nil, 400, "invalid", "expiring_before"},
		{"a page size", w.auditor, "GET", "/api/v1/audit?limit=1000", nil, 400, "invalid", "limit"},

		{"no token", w.anonymous, "GET", "/api/v1/jobs", nil, 401, "unauthorized", ""},
		{"an unknown token", apiClient{t: t, srv: w.admin.srv, token: "cf_nope"}, "GET", "/api/v1/jobs", nil, 401, "unauthorized", ""},
		{"a role too small", w.auditor, "POST", "/api/v1/jobs", job, 403, "forbidden", ""},
		{"a credential an operator may not bind", w.operator, "POST", "/api/v1/devices", map[string]any{"id": "cam-2", "name": "Gate", "device_type": "camera",
			"address": "https://203.0.113.9", "credential": "anywhere"}, 403, "forbidden", ""},
		{"a credential beyond its addresses", w.operator, "POST", "/api/v1/devices", map[string]any{"id": "cam-2", "name": "Gate", "device_type": "camera",
			"address": "https://203.0.113.9", "credential": "cams-lan"}, 400, "invalid", "address"},

		{"no such route", w.auditor, "GET", "/api/v1/nowhere", nil, 404, "not_found", ""},
		{"no such row", w.auditor, "GET", "/api/v1/profiles/999", nil, 404, "not_found", ""},
		{"no such ID", w.auditor, "GET", "/api/v1/profiles/first", nil, 404, "not_found", ""},
		{"no such trust anchor", w.admin, "POST", "/api/v1/trust-anchors/999/enable", nil, 404, "not_found", ""},
		{"no such renewal policy", w.admin, "DELETE", "/api/v1/renewal-policies/999", nil, 404, "not_found", ""},
		{"no such CA request", w.operator, "POST", "/api/v1/ca-requests/999/approve", nil, 404, "not_found", ""},

		{"a credential in use", w.admin, "DELETE", "/api/v1/credentials/cams-lan", nil, 409, "conflict", ""},
		{"an unproven trust anchor", w.admin, "POST", "/api/v1/trust-anchors/" + anchor + "/enable", nil, 409, "conflict", ""},
		{"a trust anchor twice", w.admin, "POST", "/api/v1/trust-anchors", map[string]any{"name": "again", "pem": anchorPEM}, 409, "conflict", ""},
		{"a token revoking itself", w.admin, "POST", fmt.Sprintf("/api/v1/tokens/%d/revoke", adminToken), nil, 409, "conflict", ""},
		{"a duplicate device", w.operator, "POST", "/api/v1/devices", map[string]any{"id": "cam-1", "name": "Lobby", "device_type": "camera"}, 409, "conflict", ""},

		{"a body over 1 MiB", w.admin, "POST", "/api/v1/profiles", with(cameraProfile, "name", strings.Repeat("x", 1<<20)), 413, "too_large", ""},

		{"Temporal down", w.operator, "POST", "/api/v1/jobs", job, 503, "unavailable", ""},
		{"a CRL that cannot be made", w.anonymous, "GET", "/crl/root.crl", nil, 503, "unavailable", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := tc.client.do(tc.method, tc.path, tc.body)
			require.Equal(t, tc.status, status, "%v", body)
			refusal := body["error"].(map[string]any)
			assert.Equal(t, tc.code, refusal["code"])
			details, _ := refusal["details"].(map[string]any)
			_, named := details["field"]
			field, _ := details["field"].(string)
			assert.Equal(t, tc.field != "", named, "details.field of %v", refusal)
			assert.Equal(t, tc.field, field, "details.field of %v", refusal)
			message := refusal["message"].(string)
			assert.NotContains(t, message, "2006-01-02", "no Go layout")
			assert.NotContains(t, message, "10.0.0.7", "no cause of an unavailable dependency")
			assert.NotContains(t, message, "/var/lib", "no cause of an unavailable dependency")
		})
	}

	// What the kinds carry beyond status and code.
	_, body = w.operator.do("POST", "/api/v1/jobs", with(job, "start_at", "tomorrow 2am"))
	assert.Contains(t, body["error"].(map[string]any)["message"], "want an RFC 3339 time such as 2026-01-31T02:00:00Z")
	_, body = w.operator.do("POST", "/api/v1/jobs", with(job, "device_ids", []string{"cam-9"}))
	assert.Equal(t, []any{"cam-9"}, body["error"].(map[string]any)["details"].(map[string]any)["devices"])
	_, body = w.admin.do("DELETE", "/api/v1/credentials/cams-lan", nil)
	assert.Equal(t, []any{"cam-1"}, body["error"].(map[string]any)["details"].(map[string]any)["devices"])
	var jobsLeft int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&jobsLeft))
	assert.Zero(t, jobsLeft, "a job Temporal did not start is not left behind")
}
