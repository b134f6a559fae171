package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/internal/testenv"
)

// TestBadInputNever5xx sends, through real routes, what Postgres cannot
// store or compare (a NUL byte, bytes that are not UTF-8) in a path segment,
// a query parameter and a JSON string, and numbers beyond what the API
// reads: each is a 400 naming the parameter (a path ID out of range is no
// such thing, 404), never a 500, and never silently something else.
func TestBadInputNever5xx(t *testing.T) {
	w := newAPIWorld(t)
	devices := func(name string) int {
		var n int
		require.NoError(t, w.pool.QueryRow(context.Background(), `SELECT count(*) FROM devices WHERE name = $1`, name).Scan(&n))
		return n
	}
	for _, tc := range []struct {
		name         string
		client       apiClient
		method, path string
		body         any
		status       int
		field        string
	}{
		{"NUL in a path segment", w.auditor, "GET", "/api/v1/devices/cam%00-1", nil, 400, "id"},
		{"invalid UTF-8 in a path segment", w.auditor, "GET", "/api/v1/devices/cam-%FF", nil, 400, "id"},
		{"NUL in a credential's name", w.auditor, "GET", "/api/v1/credentials/lan%00", nil, 400, "name"},
		{"NUL in an EST label", w.auditor, "GET", "/api/v1/est-labels/%00", nil, 400, "label"},
		{"NUL in a path segment, before the role check", w.auditor, "PUT", "/api/v1/devices/%00/enrollment-password", map[string]any{"password": "x"}, 400, "id"},
		{"NUL in a query filter", w.auditor, "GET", "/api/v1/devices?device_type=cam%00era", nil, 400, "device_type"},
		{"invalid UTF-8 in a query filter", w.auditor, "GET", "/api/v1/certificates?device_id=%C3%28", nil, 400, "device_id"},
		{"NUL in a string cursor", w.auditor, "GET", "/api/v1/devices?after=%00", nil, 400, "after"},
		{"NUL in the audit filter", w.auditor, "GET", "/api/v1/audit?object_type=%00", nil, 400, "object_type"},

		{"NUL in a JSON string", w.operator, "POST", "/api/v1/devices", `{"id":"cam-1","name":"Lobby\u0000","device_type":"camera"}`, 400, "name"},
		{"invalid UTF-8 in a JSON string", w.operator, "POST", "/api/v1/devices", "{\"id\":\"cam-2\",\"name\":\"Lobby \xff\",\"device_type\":\"camera\"}", 400, "name"},
		{"NUL in a nested JSON string", w.admin, "POST", "/api/v1/profiles",
			`{"name":"cams","cert_type":"tls","device_type":"camera","subject_rules":[{"attr":"CN","rule":"from_csr"},{"attr":"O","rule":"fixed","value":"Acme\u0000"}],` +
				`"key_algorithms":[{"algorithm":"ecdsa","sizes":[256]}],"validity_days":90,"renew_before_days":30}`, 400, "subject_rules[1].value"},
		{"NUL in a JSON list", w.operator, "POST", "/api/v1/profile-assignments", `{"profile_id":1,"device_ids":["cam-1","cam\u0000-2"]}`, 400, "device_ids[1]"},

		{"an offset past int32", w.auditor, "GET", "/api/v1/jobs?offset=2147483648", nil, 400, "offset"},
		{"an offset that wraps to 0", w.auditor, "GET", "/api/v1/jobs?offset=4294967296", nil, 400, "offset"},
		{"an offset of the jobs CSV", w.auditor, "GET", "/api/v1/jobs.csv?offset=99999999999999999999", nil, 400, "offset"},
		{"a limit that wraps to 50", w.auditor, "GET", "/api/v1/audit?limit=4294967346", nil, 400, "limit"},
		{"a cursor past int64", w.auditor, "GET", "/api/v1/certificates?after=99999999999999999999", nil, 400, "after"},
		{"a cursor that is no number", w.auditor, "GET", "/api/v1/profiles?after=first", nil, 400, "after"},
		{"a CA request cursor past int64", w.auditor, "GET", "/api/v1/ca-requests?after=99999999999999999999", nil, 400, "after"},
		{"a profile filter past int64", w.auditor, "GET", "/api/v1/certificates?profile_id=99999999999999999999", nil, 400, "profile_id"},
		{"a path ID past int64", w.auditor, "GET", "/api/v1/profiles/99999999999999999999", nil, 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := tc.client.do(tc.method, tc.path, tc.body)
			require.Equal(t, tc.status, status, "%v", body)
			refusal := body["error"].(map[string]any)
			details, _ := refusal["details"].(map[string]any)
			field, _ := details["field"].(string)
			assert.Equal(t, tc.field, field, "details.field of %v", refusal)
		})
	}
	assert.Zero(t, devices("Lobby \uFFFD"), "invalid UTF-8 was not stored as a replacement character")
}

// TestDatabaseDownIs503: when Postgres does not answer, an authenticated
// call is a 503 with Retry-After, not a 401 (which would send the client to
// throw its token away) nor a 500; both for a database that is not there
// and for one that went away after the API started.
func TestDatabaseDownIs503(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := listener.Addr().(*net.TCPAddr).Port
	require.NoError(t, listener.Close()) // nothing listens there now
	nowhere, err := pgxpool.New(context.Background(), fmt.Sprintf("postgres://postgres@127.0.0.1:%d/certfleet?sslmode=disable&connect_timeout=2", port))
	require.NoError(t, err)
	t.Cleanup(nowhere.Close)

	gone, _ := testenv.Database(t)
	token, err := auth.Create(context.Background(), store.New(gone), "ops", auth.Operator, "test")
	require.NoError(t, err)

	for name, pool := range map[string]*pgxpool.Pool{"no database": nowhere, "a database gone": gone} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(api.New(api.Deps{Logger: quiet, Pool: pool}))
			defer srv.Close()
			if pool == gone {
				pool.Close()
			}
			req, err := http.NewRequest("GET", srv.URL+"/api/v1/jobs", nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+token)
			client := &http.Client{Timeout: 10 * time.Second}
			resp, err := client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s", data)
			assert.NotEmpty(t, resp.Header.Get("Retry-After"))
			assert.Empty(t, resp.Header.Get("WWW-Authenticate"), "the token is not refused")
			var body map[string]map[string]any
			require.NoError(t, json.Unmarshal(data, &body))
			assert.Equal(t, "unavailable", body["error"]["code"])
			assert.NotContains(t, body["error"]["message"], "127.0.0.1", "no cause reaches the client")
		})
	}
}
