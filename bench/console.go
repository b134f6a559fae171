package main

// The console benchmark: the web console's views at fleet size. It seeds a
// database of its own with a large fleet (100,000 devices and 200,000
// certificates by default, with CA requests, jobs and their items, and the
// audit log), serves api.New over HTTP as certfleet does (no Temporal: the
// views only read), signs in as the console does, and times the API requests
// each view's first page makes, fired together as the browser fires them,
// beside references measured in the same run: an HTTP round trip with no
// database (/healthz), the cheapest query (SELECT 1), and a request that only
// checks the session (GET /api/v1/session).

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/db"
	"github.com/certfleet/certfleet/db/store"
)

// consoleBudget is issue #18's bar: every view's first page within a second.
const consoleBudget = time.Second

// consoleResult is the console benchmark's outcome.
type consoleResult struct {
	Fleet        consoleFleet `json:"fleet"`
	SeedSeconds  float64      `json:"seed_seconds"`
	Repeats      int          `json:"repeats"`
	BudgetMillis float64      `json:"budget_ms"`
	Postgres     string       `json:"postgres"`
	Views        []viewResult `json:"views"`
	References   []viewResult `json:"references"`
}

// consoleFleet is what the database held, counted after seeding.
type consoleFleet struct {
	Devices        int `json:"devices"`
	DeviceProfiles int `json:"device_profiles"`
	Certificates   int `json:"certificates"`
	CARequests     int `json:"ca_requests"`
	Jobs           int `json:"jobs"`
	JobItems       int `json:"job_items"`
	AuditRows      int `json:"audit_rows"`
}

// viewResult is one view's (or reference's) timings: the view's time is
// from its first request until its last response has been read.
type viewResult struct {
	Name      string          `json:"name"`
	Requests  []requestResult `json:"requests"`
	P50Millis float64         `json:"p50_ms"`
	P95Millis float64         `json:"p95_ms"`
	MaxMillis float64         `json:"max_ms"`
	Bytes     int             `json:"bytes"` // the responses' bodies, together
}

type requestResult struct {
	Path      string  `json:"path"`
	P50Millis float64 `json:"p50_ms"`
	P95Millis float64 `json:"p95_ms"`
}

// consoleView is a view's first page: the GETs the console fires for it.
type consoleView struct {
	name  string
	paths []string
}

// consoleViews are the views of console/src/views, each with the requests
// its first page makes (see each view's useApi calls), as an admin sees them.
func consoleViews(device string, certificate, profileWithout, job int64) []consoleView {
	now := time.Now().UTC()
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	profileNames := "/api/v1/profiles?status=all&limit=100" // useProfileNames
	return []consoleView{
		{"Dashboard", []string{"/api/v1/summary", "/api/v1/certificates/timeline?bucket=week", "/api/v1/jobs?state=active&limit=10", "/api/v1/renewal-alerts"}},
		{"Devices", []string{"/api/v1/devices?limit=50", profileNames, "/api/v1/profiles?limit=100"}},
		{"Devices: by name, last first", []string{"/api/v1/devices?sort=name&order=desc&limit=50", profileNames, "/api/v1/profiles?limit=100"}},
		{"Devices: DISABLED gateways", []string{"/api/v1/devices?mode=DISABLED&device_type=gateway&limit=50", profileNames, "/api/v1/profiles?limit=100"}},
		{"Devices without a valid certificate (TLS)", []string{"/api/v1/certificates/missing?cert_type=tls"}},
		{"Devices without a valid certificate (802.1X)", []string{"/api/v1/certificates/missing?cert_type=ieee8021x"}},
		{"Device page", []string{"/api/v1/devices/" + device, "/api/v1/certificates?device_id=" + device + "&limit=100", "/api/v1/devices/" + device + "/jobs"}},
		{"Certificates", []string{"/api/v1/certificates?limit=50"}},
		{"Certificates: active", []string{"/api/v1/certificates?status=active&limit=50"}},
		{"Certificates: active, expiring within 7 days", []string{"/api/v1/certificates?status=active&expiring_after=" + at(0) + "&expiring_before=" + at(7*24*time.Hour) + "&limit=50"}},
		{"Certificates: active, expired", []string{"/api/v1/certificates?status=active&expired=true&limit=50"}},
		{"Certificates: by expiry, soonest first", []string{"/api/v1/certificates?sort=not_after&limit=50"}},
		{"Certificates: active, by expiry, latest first", []string{"/api/v1/certificates?status=active&sort=not_after&order=desc&limit=50"}},
		{"Certificates: one device", []string{"/api/v1/certificates?device_id=" + device + "&limit=50"}},
		{"Certificates: a profile with none", []string{fmt.Sprintf("/api/v1/certificates?profile_id=%d&limit=50", profileWithout)}},
		{"Certificate page", []string{fmt.Sprintf("/api/v1/certificates/%d", certificate), profileNames}},
		{"Profiles", []string{"/api/v1/profiles?status=active&limit=50"}},
		{"Jobs", []string{"/api/v1/jobs?state=all&sort=scheduled_at&order=desc&offset=0&limit=100"}},
		{"Job page", []string{fmt.Sprintf("/api/v1/jobs/%d", job), fmt.Sprintf("/api/v1/jobs/%d/items?limit=50", job)}},
		{"Job page: device failures", []string{fmt.Sprintf("/api/v1/jobs/%d", job), fmt.Sprintf("/api/v1/jobs/%d/items?limit=50&state=device_failure", job)}},
		{"CA requests: pending", []string{"/api/v1/ca-requests?limit=50&status=pending"}},
		{"Trust anchors", []string{"/api/v1/trust-anchors"}},
		{"EST labels", []string{"/api/v1/est-labels", profileNames}},
		{"Renewal policies", []string{"/api/v1/renewal-policies", "/api/v1/renewal-alerts"}},
		{"Audit log", []string{"/api/v1/audit?limit=100"}},
		{"Audit log: credentials", []string{"/api/v1/audit?limit=100&object_type=credential"}},
		{"Tokens", []string{"/api/v1/tokens?limit=50"}},
		{"Credentials", []string{"/api/v1/credentials"}},
	}
}

// benchConsole seeds a fleet of n devices (and 2n certificates) in a new
// database, then loads every view repeats times, after one untimed pass.
func benchConsole(ctx context.Context, o options) (consoleResult, error) {
	r := consoleResult{Repeats: o.consoleRepeats, BudgetMillis: float64(consoleBudget.Milliseconds())}
	url, drop, err := createDatabase(ctx, o.adminURL, fmt.Sprintf("certfleet_bench_console_%d", time.Now().UnixNano()))
	if err != nil {
		return r, err
	}
	if o.consoleKeep {
		fmt.Fprintln(os.Stderr, "bench: keeping the console database:", url)
	} else {
		defer drop()
	}
	pool, err := db.Open(ctx, url) // configured as certfleet configures its own
	if err != nil {
		return r, err
	}
	defer pool.Close()
	if _, err := db.Migrate(ctx, pool); err != nil {
		return r, err
	}
	if err := pool.QueryRow(ctx, "SHOW server_version").Scan(&r.Postgres); err != nil {
		return r, err
	}
	begin := time.Now()
	if err := seedFleet(ctx, pool, o.consoleDevices, 1); err != nil {
		return r, fmt.Errorf("seed the fleet: %w", err)
	}
	r.SeedSeconds = time.Since(begin).Seconds()
	if r.Fleet, err = countFleet(ctx, pool); err != nil {
		return r, err
	}
	fmt.Fprintf(os.Stderr, "bench: seeded %+v in %.0f s\n", r.Fleet, r.SeedSeconds)

	token, err := auth.Create(ctx, store.New(pool), "console-bench", auth.Admin, "bench")
	if err != nil {
		return r, err
	}
	srv := httptest.NewServer(api.New(api.Deps{Logger: slog.New(slog.DiscardHandler), Pool: pool}))
	defer srv.Close()
	b, err := signIn(ctx, srv.URL, token)
	if err != nil {
		return r, err
	}

	var device string
	var certificate, profileWithout, job int64
	if err := pool.QueryRow(ctx, `SELECT
		(SELECT min(device_id) FROM job_items WHERE job_id = 7),
		(SELECT max(id) FROM certificates WHERE status = 'active'),
		(SELECT min(id) FROM profiles WHERE archived_at IS NOT NULL),
		7`).Scan(&device, &certificate, &profileWithout, &job); err != nil {
		return r, err
	}
	views := consoleViews(device, certificate, profileWithout, job)
	samples := make([]viewSamples, len(views))
	refs := []*viewSamples{{}, {}, {}}
	for round := -1; round < o.consoleRepeats; round++ { // round -1 warms up
		for i, v := range views {
			if err := samples[i].add(round, func() ([]time.Duration, int, error) { return b.load(ctx, v.paths) }); err != nil {
				return r, fmt.Errorf("%s: %w", v.name, err)
			}
		}
		for i, path := range []string{"/healthz", "/api/v1/session"} {
			if err := refs[i].add(round, func() ([]time.Duration, int, error) { return b.load(ctx, []string{path}) }); err != nil {
				return r, err
			}
		}
		if err := refs[2].add(round, func() ([]time.Duration, int, error) {
			var one int
			begin := time.Now()
			err := pool.QueryRow(ctx, "SELECT 1").Scan(&one)
			return []time.Duration{time.Since(begin)}, 0, err
		}); err != nil {
			return r, err
		}
	}
	for i, v := range views {
		r.Views = append(r.Views, samples[i].result(v.name, v.paths))
	}
	r.References = []viewResult{
		refs[0].result("GET /healthz: an HTTP round trip, no database", []string{"/healthz"}),
		refs[1].result("GET /api/v1/session: the session check every request makes", []string{"/api/v1/session"}),
		refs[2].result("SELECT 1 on the pool: the cheapest query", []string{"SELECT 1"}),
	}
	printConsole(r)
	return r, nil
}

// browser is the console in a browser: one session cookie, and up to six
// connections to the server, as browsers open per host over HTTP/1.1.
type browser struct {
	base   string
	client *http.Client
}

func signIn(ctx context.Context, base, token string) (*browser, error) {
	jar, _ := cookiejar.New(nil)
	b := &browser{base: base, client: &http.Client{Jar: jar, Transport: &http.Transport{MaxConnsPerHost: 6, MaxIdleConnsPerHost: 6}}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/session", strings.NewReader(`{"token": "`+token+`"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("sign in: %s: %s", resp.Status, body)
	}
	return b, nil
}

// load fires the GETs together, as the console's useApi calls do, and
// returns each one's time (the last is the view's) and the bytes read.
func (b *browser) load(ctx context.Context, paths []string) ([]time.Duration, int, error) {
	took := make([]time.Duration, len(paths)+1)
	sizes := make([]int, len(paths))
	errs := make([]error, len(paths))
	var wg sync.WaitGroup
	begin := time.Now()
	for i, path := range paths {
		wg.Go(func() {
			sizes[i], errs[i] = b.get(ctx, path)
			took[i] = time.Since(begin)
		})
	}
	wg.Wait()
	took[len(paths)] = time.Since(begin)
	total := 0
	for _, n := range sizes {
		total += n
	}
	return took, total, errors.Join(errs...)
}

func (b *browser) get(ctx context.Context, path string) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.base+path, nil)
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
		return 0, fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	return int(n), err
}

// viewSamples collects a view's timings: per request, and the whole view last.
type viewSamples struct {
	took  [][]time.Duration
	bytes int
}

func (s *viewSamples) add(round int, load func() ([]time.Duration, int, error)) error {
	took, n, err := load()
	if err != nil || round < 0 {
		return err
	}
	if s.took == nil {
		s.took = make([][]time.Duration, len(took))
	}
	for i, d := range took {
		s.took[i] = append(s.took[i], d)
	}
	s.bytes = n
	return nil
}

func (s *viewSamples) result(name string, paths []string) viewResult {
	for _, t := range s.took {
		slices.Sort(t)
	}
	view := s.took[len(s.took)-1]
	r := viewResult{Name: name, P50Millis: percentile(view, 0.50), P95Millis: percentile(view, 0.95), MaxMillis: percentile(view, 1), Bytes: s.bytes}
	if len(paths) > 1 {
		for i, p := range paths {
			r.Requests = append(r.Requests, requestResult{Path: p, P50Millis: percentile(s.took[i], 0.50), P95Millis: percentile(s.took[i], 0.95)})
		}
	} else {
		r.Requests = []requestResult{{Path: paths[0], P50Millis: r.P50Millis, P95Millis: r.P95Millis}}
	}
	return r
}

// slowest is the request of a view with the highest p95.
func (v viewResult) slowest() requestResult {
	return slices.MaxFunc(v.Requests, func(a, b requestResult) int { return cmp.Compare(a.P95Millis, b.P95Millis) })
}

func printConsole(r consoleResult) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "View\tRequests\tp50 ms\tp95 ms\tmax ms\tKiB\tSlowest request (p95 ms)\tp95 < %.0f ms\t\n", r.BudgetMillis)
	for _, v := range r.Views {
		s := v.slowest()
		fmt.Fprintf(w, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.0f\t%s (%.1f)\t%s\t\n", v.Name, len(v.Requests), v.P50Millis, v.P95Millis, v.MaxMillis, float64(v.Bytes)/1024, s.Path, s.P95Millis, passes(v.P95Millis, r.BudgetMillis))
	}
	for _, v := range r.References {
		fmt.Fprintf(w, "reference: %s\t1\t%.2f\t%.2f\t%.2f\t\t\t\t\n", v.Name, v.P50Millis, v.P95Millis, v.MaxMillis)
	}
	w.Flush()
}

func passes(p95, budget float64) string {
	if p95 < budget {
		return "yes"
	}
	return "NO"
}

func writeConsole(b *strings.Builder, res *result, r consoleResult) {
	f := r.Fleet
	fmt.Fprintf(b, "## Web console at fleet size: %d devices, %d certificates\n\n", f.Devices, f.Certificates)
	m := res.Machine
	fmt.Fprintf(b, "Measured %s on %d cores (%s), %.1f GiB, %s, PostgreSQL %s.\n\n", res.At.Format("2006-01-02 15:04 MST"), m.Cores, m.CPU, m.MemoryGiB, m.Go, r.Postgres)
	fmt.Fprintf(b, "`go run ./bench -only console` seeds a database of its own (in %.0f s): %d devices of five types and four modes, %d profile assignments, %d certificates (active, superseded and revoked, expiring from 60 days ago to 400 days ahead), %d CA requests (a tenth pending), %d jobs with %d items, %d audit rows, two renewal policies; then VACUUM ANALYZE. ",
		r.SeedSeconds, f.Devices, f.DeviceProfiles, f.Certificates, f.CARequests, f.Jobs, f.JobItems, f.AuditRows)
	fmt.Fprintf(b, "It serves `api.New` over HTTP in the benchmark's process with certfleet's pool settings, signs in as the console does (a session cookie), and loads each view's first page %d times after one untimed pass, views in turn: the GETs the view's `useApi` calls make, fired together as the browser fires them, over at most six connections. A view's time runs until its last response is read; the browser's own rendering is not in it. **Budget: p95 under %.0f ms** (issue #18).\n\n", r.Repeats, r.BudgetMillis)
	b.WriteString("| View | Requests | p50 | p95 | Slowest request (its p95) | Response bytes | p95 < 1 s |\n|---|---|---|---|---|---|---|\n")
	for _, v := range r.Views {
		s := v.slowest()
		fmt.Fprintf(b, "| %s | %d | %.1f ms | %.1f ms | `%s` (%.1f ms) | %s | **%s** |\n", v.Name, len(v.Requests), v.P50Millis, v.P95Millis, s.Path, s.P95Millis, kib(v.Bytes), passes(v.P95Millis, r.BudgetMillis))
	}
	b.WriteString("\n| Reference (same run, same server) | p50 | p95 |\n|---|---|---|\n")
	for _, v := range r.References {
		fmt.Fprintf(b, "| %s | %.2f ms | %.2f ms |\n", v.Name, v.P50Millis, v.P95Millis)
	}
	b.WriteString("\n")
}

func kib(n int) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.0f KiB", float64(n)/1024)
}

// countFleet counts what seedFleet made.
func countFleet(ctx context.Context, pool *pgxpool.Pool) (consoleFleet, error) {
	var f consoleFleet
	err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM devices), (SELECT count(*) FROM device_profiles), (SELECT count(*) FROM certificates),
		(SELECT count(*) FROM ca_requests), (SELECT count(*) FROM jobs), (SELECT count(*) FROM job_items), (SELECT count(*) FROM audit_log)`).
		Scan(&f.Devices, &f.DeviceProfiles, &f.Certificates, &f.CARequests, &f.Jobs, &f.JobItems, &f.AuditRows)
	return f, err
}

// seedFleet fills the database with n devices and (history+1)·n
// certificates, and the rest in proportion, with INSERT ... SELECT over
// generate_series. history is how many superseded TLS certificates each
// holder keeps behind its current one: 1 for the console benchmark (2n
// certificates), 2 for the EXPLAIN study (3n).
func seedFleet(ctx context.Context, pool *pgxpool.Pool, n, history int) error {
	der, err := sampleDER()
	if err != nil {
		return err
	}
	for _, stmt := range seedStatements(n, history) {
		args := []any{}
		if strings.Contains(stmt, "$1") {
			args = append(args, der)
		}
		if _, err := pool.Exec(ctx, stmt, args...); err != nil {
			return fmt.Errorf("%w\n%s", err, stmt)
		}
	}
	return nil
}

// deviceID is the SQL for the ID of the i-th seeded device: its type's
// prefix and a number, like an asset tag (cam-004711).
func deviceID(i string) string {
	return fmt.Sprintf(`((ARRAY['cam','cam','cam','cam','cam','cam','cam','cam','cam','cam','acs','acs','acs','gw','gw','iot','iot','iot','host','host'])[1 + (%[1]s) %% 20] || '-' || lpad((%[1]s)::text, 6, '0'))`, i)
}

// deviceType is the SQL for the type of the i-th seeded device, as deviceID names it.
func deviceType(i string) string {
	return fmt.Sprintf(`(ARRAY['camera','camera','camera','camera','camera','camera','camera','camera','camera','camera','access_controller','access_controller','access_controller','gateway','gateway','iot_device','iot_device','iot_device','agent','agent'])[1 + (%s) %% 20]`, i)
}

func seedStatements(n, history int) []string {
	certs := (history + 1) * n
	holders := n * 97 / 100 // the other 3% of devices hold no certificate
	jobs, perJob := 20, n/20
	return []string{
		`INSERT INTO credentials (name, kind, username, secret_sealed, fingerprint, allowed_addresses, created_by)
		 SELECT format('site-%s-admin', lpad(c::text, 2, '0')), 'password', 'root', '\x00'::bytea, lpad(to_hex(c), 16, '0'), ARRAY['10.*'], 'bench'
		 FROM generate_series(1, 20) c`,
		`INSERT INTO profiles (name, cert_type, device_type, key_algorithms, validity, renew_before, binding)
		 SELECT t || ' ' || ct, ct, t, '[{"algorithm": "ecdsa", "sizes": [256, 384]}]', interval '365 days', interval '30 days', CASE ct WHEN 'tls' THEN 'https' ELSE 'ieee8021x' END
		 FROM unnest(ARRAY['camera', 'access_controller', 'gateway', 'iot_device', 'agent']) t, unnest(ARRAY['tls', 'ieee8021x']) ct`,
		`INSERT INTO profiles (name, cert_type, device_type, key_algorithms, validity, renew_before, archived_at)
		 VALUES ('camera tls 2024', 'tls', 'camera', '[{"algorithm": "rsa", "sizes": [2048]}]', interval '730 days', interval '60 days', now() - interval '200 days'),
		        ('gateway tls 2024', 'tls', 'gateway', '[{"algorithm": "rsa", "sizes": [2048]}]', interval '730 days', interval '60 days', now() - interval '200 days')`,
		fmt.Sprintf(`INSERT INTO devices (id, name, device_type, mode, driver, address, credential_id, labels, created_at, updated_at)
		 SELECT %s, initcap(replace(t, '_', ' ')) || ' ' || i, t,
		        CASE WHEN (i / 20) %% 100 < 5 THEN 'DISABLED' WHEN (i / 20) %% 100 < 12 THEN 'NEW' WHEN (i / 20) %% 100 < 20 THEN 'FACTORY' ELSE 'OPERATIONAL' END,
		        CASE t WHEN 'camera' THEN (CASE WHEN i %% 3 = 0 THEN 'onvif' ELSE 'axis' END) WHEN 'access_controller' THEN 'onvif'
		               WHEN 'gateway' THEN 'ssh' WHEN 'iot_device' THEN 'est' ELSE 'agent' END,
		        format('10.%%s.%%s.%%s', (i >> 16) %% 256, (i >> 8) %% 256, i %% 256),
		        CASE WHEN t <> 'iot_device' THEN 1 + i %% 20 END,
		        jsonb_build_object('site', 'site-' || (1 + i %% 20), 'floor', 1 + i %% 7),
		        now() - make_interval(days => i %% 900), now() - make_interval(days => i %% 90)
		 FROM generate_series(1, %d) i, LATERAL (SELECT %s AS t) x`, deviceID("i"), n, deviceType("i")),
		`INSERT INTO device_profiles (device_id, cert_type, profile_id)
		 SELECT d.id, p.cert_type, p.id FROM devices d JOIN profiles p ON p.device_type = d.device_type AND p.archived_at IS NULL
		 WHERE (p.cert_type = 'tls' AND abs(hashtext(d.id)) % 10 <> 0) OR (p.cert_type = 'ieee8021x' AND abs(hashtext(d.id)) % 10 < 3)`,
		// Each certificate holder has a current TLS certificate (round
		// `history`, mostly active, expiring from 60 days ago to 400 days
		// ahead) and the ones it replaced, a year apart (rounds below,
		// superseded); the rest are 802.1X certificates of every fifth device
		// (the round above).
		fmt.Sprintf(`INSERT INTO certificates (device_id, profile_id, cert_type, issuer, serial_hex, subject, sha256, not_before, not_after, der,
		                           status, revoked_at, revocation_reason, created_at)
		 SELECT d.id, dp.profile_id, c.ct, c.issuer, md5('serial/' || k), format('CN=%%s,OU=%%s,O=Example Corp', d.id, d.device_type),
		        sha256(('certificate/' || k)::bytea), c.na - interval '365 days', c.na, $1, c.status,
		        CASE WHEN c.status = 'revoked' THEN least(now(), c.na - interval '335 days') END,
		        CASE WHEN c.status = 'revoked' THEN (ARRAY[1, 4, 5])[1 + k %% 3] END,
		        c.na - interval '365 days'
		 FROM generate_series(1, %[1]d) k
		 CROSS JOIN LATERAL (SELECT least((k - 1) / %[2]d, %[5]d + 1) AS round) r
		 CROSS JOIN LATERAL (SELECT CASE WHEN r.round <= %[5]d THEN k - r.round * %[2]d ELSE ((k - (%[5]d + 1) * %[2]d) * 5 - 1) %% %[3]d + 1 END AS i,
		                            hashint4(CASE WHEN r.round <= %[5]d THEN k + (%[5]d - r.round) * %[2]d ELSE k END)::bigint + 2147483648 AS h) x
		 CROSS JOIN LATERAL (SELECT CASE WHEN r.round > %[5]d THEN 'ieee8021x' ELSE 'tls' END AS ct,
		        CASE WHEN r.round < %[5]d THEN (CASE WHEN x.h / 100 %% 100 < 5 THEN 'revoked' ELSE 'superseded' END)
		             ELSE (CASE WHEN x.h %% 100 < 3 THEN 'revoked' ELSE 'active' END) END AS status,
		        now() + make_interval(mins => (x.h %% 662400)::int - 86400) - CASE WHEN r.round < %[5]d THEN make_interval(days => 365 * (%[5]d - r.round)) ELSE interval '0' END AS na,
		        'CN=Example Issuing CA ' || (1 + k %% 2) || ',O=Example Corp' AS issuer,
		        %[4]s AS device) c
		 JOIN devices d ON d.id = c.device
		 LEFT JOIN device_profiles dp ON dp.device_id = d.id AND dp.cert_type = c.ct`, certs, holders, n, deviceID("x.i"), history),
		fmt.Sprintf(`INSERT INTO ca_requests (idempotency_key, profile_id, device_id, ca_driver, csr_der, status, reject_reason, certificate_id, decided_by, created_at, updated_at)
		 SELECT 'bench/' || r, coalesce(dp.profile_id, 1), d.id, 'local', sha256(('csr/' || r)::bytea), s.status,
		        CASE WHEN s.status = 'rejected' THEN 'the subject names another site' ELSE '' END,
		        CASE WHEN s.status = 'issued' THEN r END, CASE WHEN s.status = 'pending' THEN '' ELSE 'alice' END,
		        now() - make_interval(hours => %[1]d - r), now() - make_interval(hours => %[1]d - r)
		 FROM generate_series(1, %[1]d) r
		 CROSS JOIN LATERAL (SELECT CASE WHEN r %% 10 = 0 THEN 'pending' WHEN r %% 10 = 1 THEN 'rejected' ELSE 'issued' END AS status, %[2]s AS device) s
		 JOIN devices d ON d.id = s.device
		 LEFT JOIN device_profiles dp ON dp.device_id = d.id AND dp.cert_type = 'tls'`, n*3/100, deviceID(fmt.Sprintf("(r * 37) %% %d + 1", n))),
		fmt.Sprintf(`INSERT INTO jobs (name, cert_type, created_by, status, scheduled_at, started_at, created_at)
		 SELECT format('Renew TLS, wave %%s', j), 'tls', (ARRAY['alice', 'bob', 'renewal'])[1 + j %% 3], 'running', t, t, t
		 FROM generate_series(1, %[1]d) j, LATERAL (SELECT now() - make_interval(days => 2 * (%[1]d - j), hours => 3) AS t) x`, jobs),
		// The last two jobs run: their items are on devices of no other job,
		// as job_items_one_active_job_per_device demands.
		fmt.Sprintf(`INSERT INTO job_items (job_id, device_id, cert_type, profile_id, step, state, step_status, last_error, issued_certificate_id, started_at, finished_at)
		 SELECT j.id, d.id, 'tls', coalesce(dp.profile_id, 1),
		        CASE s.state WHEN 'pending' THEN 'csr' WHEN 'skipped' THEN 'csr' WHEN 'ca_failure' THEN 'submit'
		                     WHEN 'device_failure' THEN 'install' WHEN 'in_progress' THEN 'install' ELSE 'revoke' END,
		        s.state,
		        CASE WHEN s.state IN ('pending', 'skipped') THEN '{}'::jsonb ELSE jsonb_build_object(
		            'csr', jsonb_build_object('status', 'done', 'attempts', 1 + (n %% 23 = 0)::int, 'at', j.started_at),
		            'submit', jsonb_build_object('status', 'done', 'attempts', 1, 'at', j.started_at)) END,
		        CASE s.state WHEN 'device_failure' THEN 'dial tcp ' || d.address || ':443: connect: connection refused'
		                     WHEN 'ca_failure' THEN 'the CA refused the request: profile quota exceeded'
		                     WHEN 'skipped' THEN 'the device is disabled' ELSE '' END,
		        CASE WHEN s.state = 'succeeded' THEN (x.k - 1) %% %[4]d + 1 END,
		        CASE WHEN s.state NOT IN ('pending', 'skipped') THEN j.started_at + make_interval(secs => n) END,
		        CASE WHEN s.state NOT IN ('pending', 'in_progress') THEN j.started_at + make_interval(secs => n + 30) END
		 FROM jobs j CROSS JOIN generate_series(1, %[1]d) n
		 CROSS JOIN LATERAL (SELECT (j.id - 1) * %[1]d + n AS k) x
		 CROSS JOIN LATERAL (SELECT CASE WHEN j.id > %[2]d - 2 THEN
		        (CASE WHEN n %% 100 < 40 THEN 'succeeded' WHEN n %% 100 < 45 THEN 'device_failure' WHEN n %% 100 < 50 THEN 'in_progress' ELSE 'pending' END)
		     ELSE (CASE WHEN n %% 100 < 85 THEN 'succeeded' WHEN n %% 100 < 90 THEN 'revoke_na' WHEN n %% 100 < 95 THEN 'device_failure'
		                WHEN n %% 100 < 97 THEN 'ca_failure' WHEN n %% 100 < 99 THEN 'skipped' ELSE 'revoke_warning' END) END AS state) s
		 JOIN devices d ON d.id = %[3]s
		 LEFT JOIN device_profiles dp ON dp.device_id = d.id AND dp.cert_type = 'tls'`, perJob, jobs, deviceID(fmt.Sprintf("(x.k - 1) %% %d + 1", n)), certs),
		fmt.Sprintf(`UPDATE jobs j SET completed_at = j.started_at + interval '3 hours',
		     status = CASE WHEN f.failed = 0 THEN 'succeeded' WHEN f.ok = 0 THEN 'failed' ELSE 'completed_with_failures' END
		 FROM (SELECT job_id, count(*) FILTER (WHERE state IN ('device_failure', 'ca_failure', 'revoke_warning')) AS failed,
		              count(*) FILTER (WHERE state IN ('succeeded', 'revoke_warning', 'revoke_na')) AS ok
		       FROM job_items GROUP BY job_id) f
		 WHERE f.job_id = j.id AND j.id <= %d - 2`, jobs),
		`INSERT INTO renewal_policies (name, cert_type, renew_before_days, cron) VALUES ('TLS, 30 days before expiry', 'tls', 30, '0 3 * * *')`,
		`INSERT INTO renewal_policies (name, cert_type, renew_at_lifetime, every) VALUES ('802.1X at two thirds of its life', 'ieee8021x', 0.66, interval '1 day')`,
		fmt.Sprintf(`INSERT INTO audit_log (at, actor, action, object_type, object_ids, details)
		 SELECT now() - make_interval(mins => %[1]d - a), (ARRAY['alice', 'bob', 'renewal', 'console-admin'])[1 + a %% 4],
		        o.type || '.' || o.verb, o.type, ARRAY[o.id], jsonb_build_object('note', 'seeded', 'n', a)
		 FROM generate_series(1, %[1]d) a
		 CROSS JOIN LATERAL (SELECT v.type, v.verb, CASE WHEN v.type = 'device' THEN %[2]s ELSE (1 + a %% 1000)::text END AS id
		     FROM (SELECT (ARRAY['device','device','device','device','device','device','device','device','device','device','device','device',
		                         'certificate','certificate','certificate','job','job','profile','ca_request','api_token'])[1 + a %% 20] AS type,
		                  (ARRAY['create', 'update', 'disable'])[1 + a %% 3] AS verb) v) o
		 UNION ALL
		 SELECT now() - make_interval(days => c), 'alice', 'credential.rotate', 'credential', ARRAY['site-01-admin'], '{}'::jsonb FROM generate_series(1, 5) c`,
			n, deviceID(fmt.Sprintf("a %% %d + 1", n))),
		`VACUUM ANALYZE`,
	}
}

// sampleDER is a small real certificate: every seeded row holds the same
// one, as lists never read it and the certificate page parses it.
func sampleDER() ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(4711), Subject: pkix.Name{CommonName: "cam-004711", Organization: []string{"Example Corp"}},
		DNSNames: []string{"cam-004711.example.net"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	return x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
}
