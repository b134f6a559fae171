package main

// The EXPLAIN study (issue #23): the plans of the queries behind the API's
// lists, the dashboard and the renewal sweep, at fleet size. It seeds a
// database of its own as the console benchmark does, with three certificates
// per device (100,000 devices and 300,000 certificates by default), ANALYZEs
// it, and runs EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) on each query with the
// parameters its caller sends: a first page, a filter, a later page by the
// cursor or offset the API uses, and the sweep of each renewal policy. The
// statements are the sqlc-generated ones, taken from the store's own methods
// (see recorder), so a changed query is explained as it now stands.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/db"
	"github.com/certfleet/certfleet/db/store"
)

const (
	// explainHistory is the superseded TLS certificates each holder keeps:
	// with its current one and the 802.1X ones, three per device.
	explainHistory = 2
	// explainRepeats is how often each query is explained; the run with the
	// median execution time is kept, its first run having warmed the cache.
	explainRepeats = 3
	// largeTable is the size from which a sequential scan is a finding: the
	// table grows with the fleet.
	largeTable = 10_000
	// listPage is the page the console asks for (api.page's default).
	listPage = 50
)

// explainResult is the EXPLAIN study's outcome.
type explainResult struct {
	Fleet        consoleFleet `json:"fleet"`
	SeedSeconds  float64      `json:"seed_seconds"`
	TotalSeconds float64      `json:"total_seconds"`
	Postgres     string       `json:"postgres"`
	// Migration is the schema version the plans were taken on.
	Migration int64       `json:"migration"`
	Repeats   int         `json:"repeats"`
	Queries   []queryPlan `json:"queries"`
}

// queryPlan is what EXPLAIN ANALYZE said of one query with one set of
// parameters.
type queryPlan struct {
	Name   string `json:"name"`   // the case: the query and what its caller asked
	Query  string `json:"query"`  // the sqlc query's name
	Caller string `json:"caller"` // the route or activity that runs it
	// Top is the plan's first nodes, down to its first join or scan.
	Top []string `json:"top"`
	// Scans are the plan's scans, each once, in plan order.
	Scans []string `json:"scans"`
	// SeqScans are the tables of more than largeTable rows read in full.
	SeqScans     []string `json:"seq_scans"`
	RowsRead     int64    `json:"rows_read"` // rows the scans returned or filtered out, over all loops
	RowsReturned int64    `json:"rows_returned"`
	Buffers      int64    `json:"shared_buffers"` // shared blocks hit and read
	PlanningMs   float64  `json:"planning_ms"`
	ExecutionMs  float64  `json:"execution_ms"`
}

// explainCase is one query with its caller's parameters, run through the
// store so that the statement is sqlc's.
type explainCase struct {
	name, caller string
	call         func(ctx context.Context, q *store.Queries) error
}

// benchExplain seeds the fleet and explains every case.
func benchExplain(ctx context.Context, o options) (explainResult, error) {
	begin := time.Now()
	r := explainResult{Repeats: explainRepeats}
	url, drop, err := createDatabase(ctx, o.adminURL, fmt.Sprintf("certfleet_explain_%d", time.Now().UnixNano()))
	if err != nil {
		return r, err
	}
	defer drop()
	pool, err := db.Open(ctx, url)
	if err != nil {
		return r, err
	}
	defer pool.Close()
	if r.Migration, err = db.Migrate(ctx, pool); err != nil {
		return r, fmt.Errorf("migrate: %w", err)
	}
	if err := pool.QueryRow(ctx, "SHOW server_version").Scan(&r.Postgres); err != nil {
		return r, err
	}
	seeded := time.Now()
	if err := seedFleet(ctx, pool, o.explainDevices, explainHistory); err != nil {
		return r, fmt.Errorf("seed the fleet: %w", err)
	}
	r.SeedSeconds = time.Since(seeded).Seconds()
	if r.Fleet, err = countFleet(ctx, pool); err != nil {
		return r, err
	}
	fmt.Fprintf(os.Stderr, "bench: seeded %+v in %.0f s (schema version %d)\n", r.Fleet, r.SeedSeconds, r.Migration)
	f, err := loadFixtures(ctx, pool)
	if err != nil {
		return r, fmt.Errorf("pick the parameters: %w", err)
	}
	sizes, err := tableSizes(ctx, pool)
	if err != nil {
		return r, err
	}
	for _, c := range explainCases(f, time.Now().UTC()) {
		p, err := explain(ctx, pool, c, sizes)
		if err != nil {
			return r, fmt.Errorf("%s: %w", c.name, err)
		}
		r.Queries = append(r.Queries, p)
	}
	r.TotalSeconds = time.Since(begin).Seconds()
	printExplain(r)
	return r, nil
}

// fixtures are the parameters the cases send, read from the seeded fleet:
// real IDs and the cursors of pages in the middle of each list.
type fixtures struct {
	device, midDevice, midJobDevice string
	midName, midNameID              string
	midCertificate                  int64
	midExpiryKey, midExpiryID       int64
	midCARequest, midAudit          int64
	job, archivedProfile            int64
	// runningJob is a job whose devices are half still pending, and
	// midRunningDevice the device in the middle of its items.
	runningJob       int64
	midRunningDevice string
	pageDevices      []string
	pageJobs         []int64
	policies         []store.RenewalPolicy
}

func loadFixtures(ctx context.Context, pool *pgxpool.Pool) (fixtures, error) {
	f := fixtures{job: 7}
	var expiry time.Time
	err := pool.QueryRow(ctx, `SELECT
		(SELECT min(device_id) FROM job_items WHERE job_id = 7),
		(SELECT id FROM devices ORDER BY id OFFSET (SELECT count(*) / 2 FROM devices) LIMIT 1),
		(SELECT device_id FROM job_items WHERE job_id = 7 ORDER BY device_id OFFSET (SELECT count(*) / 2 FROM job_items WHERE job_id = 7) LIMIT 1),
		(SELECT max(id) / 2 FROM certificates),
		(SELECT max(id) / 2 FROM ca_requests),
		(SELECT max(id) / 2 FROM audit_log),
		(SELECT min(id) FROM profiles WHERE archived_at IS NOT NULL),
		(SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM devices ORDER BY id LIMIT 50) p),
		(SELECT array_agg(id ORDER BY id) FROM jobs)`).
		Scan(&f.device, &f.midDevice, &f.midJobDevice, &f.midCertificate, &f.midCARequest, &f.midAudit, &f.archivedProfile, &f.pageDevices, &f.pageJobs)
	if err != nil {
		return f, err
	}
	err = pool.QueryRow(ctx, `SELECT name, id FROM devices ORDER BY name DESC, id DESC OFFSET (SELECT count(*) / 2 FROM devices) LIMIT 1`).Scan(&f.midName, &f.midNameID)
	if err != nil {
		return f, err
	}
	err = pool.QueryRow(ctx, `SELECT not_after, id FROM certificates ORDER BY not_after, id OFFSET (SELECT count(*) / 2 FROM certificates) LIMIT 1`).Scan(&expiry, &f.midExpiryID)
	if err != nil {
		return f, err
	}
	f.midExpiryKey = expiry.UnixMicro()
	err = pool.QueryRow(ctx, `SELECT m.id, (SELECT device_id FROM job_items WHERE job_id = m.id ORDER BY device_id
		OFFSET (SELECT count(*) / 2 FROM job_items WHERE job_id = m.id) LIMIT 1) FROM (SELECT max(id) AS id FROM jobs) m`).
		Scan(&f.runningJob, &f.midRunningDevice)
	if err != nil {
		return f, err
	}
	f.policies, err = store.New(pool).ListRenewalPolicies(ctx)
	return f, err
}

// explainCases are the queries behind the API's lists, the dashboard and
// the renewal sweep, each with the parameters its caller sends (see api/ and
// renewal/sweep.go). Keyset pages continue after the middle of the list.
func explainCases(f fixtures, now time.Time) []explainCase {
	text := func(s string) pgtype.Text { return pgtype.Text{String: s, Valid: true} }
	in7Days := now.Add(7 * 24 * time.Hour)
	cases := []explainCase{
		// GET /api/v1/devices: a page, then each row's profiles and expiry.
		{"ListDevices: first page", "GET /devices", func(ctx context.Context, q *store.Queries) error {
			_, err := q.ListDevices(ctx, store.ListDevicesParams{PageSize: listPage})
			return err
		}},
		{"ListDevices: DISABLED gateways", "GET /devices?mode=DISABLED&device_type=gateway", func(ctx context.Context, q *store.Queries) error {
			_, err := q.ListDevices(ctx, store.ListDevicesParams{Mode: text("DISABLED"), DeviceType: text("gateway"), PageSize: listPage})
			return err
		}},
		{"ListDevices: driver ssh", "GET /devices?driver=ssh", func(ctx context.Context, q *store.Queries) error {
			_, err := q.ListDevices(ctx, store.ListDevicesParams{Driver: text("ssh"), PageSize: listPage})
			return err
		}},
		{"ListDevices: later page", "GET /devices?after=…", func(ctx context.Context, q *store.Queries) error {
			_, err := q.ListDevices(ctx, store.ListDevicesParams{AfterID: f.midDevice, PageSize: listPage})
			return err
		}},
		{"ListDevicesSorted: by name, last first", "GET /devices?sort=name&order=desc", func(ctx context.Context, q *store.Queries) error {
			_, err := q.ListDevicesSorted(ctx, store.ListDevicesSortedParams{ByName: true, Descending: true, PageSize: listPage})
			return err
		}},
		{"ListDevicesSorted: by name, later page", "GET /devices?sort=name&order=desc&after=…", func(ctx context.Context, q *store.Queries) error {
			_, err := q.ListDevicesSorted(ctx, store.ListDevicesSortedParams{ByName: true, Descending: true, Paged: true, AfterName: f.midName, AfterID: f.midNameID, PageSize: listPage})
			return err
		}},
		{"ProfilesOfDevices: a page of devices", "GET /devices (each page)", func(ctx context.Context, q *store.Queries) error {
			_, err := q.ProfilesOfDevices(ctx, f.pageDevices)
			return err
		}},
		{"CurrentCertificateExpiries: a page of devices", "GET /devices (each page)", func(ctx context.Context, q *store.Queries) error {
			_, err := q.CurrentCertificateExpiries(ctx, f.pageDevices)
			return err
		}},
		{"ListDeviceJobItems: a device's jobs", "GET /devices/{id}/jobs", func(ctx context.Context, q *store.Queries) error {
			_, err := q.ListDeviceJobItems(ctx, store.ListDeviceJobItemsParams{DeviceID: f.device, PageSize: 20})
			return err
		}},
	}
	cases = append(cases, certificateCases(f, now, in7Days)...)
	cases = append(cases, dashboardCases(f, now)...)
	cases = append(cases, jobCases(f)...)
	cases = append(cases, otherListCases(f)...)
	return append(cases, sweepCases(f, now)...)
}

// certificateCases are GET /certificates and its filters and orders, and
// the devices without a certificate.
func certificateCases(f fixtures, now, in7Days time.Time) []explainCase {
	text := func(s string) pgtype.Text { return pgtype.Text{String: s, Valid: true} }
	list := func(name, caller string, p store.ListCertificatesParams) explainCase {
		p.PageSize = listPage
		return explainCase{"ListCertificates: " + name, caller, func(ctx context.Context, q *store.Queries) error {
			_, err := q.ListCertificates(ctx, p)
			return err
		}}
	}
	sorted := func(name, caller string, p store.ListCertificatesSortedParams) explainCase {
		p.PageSize, p.ByExpiry = listPage, true
		if p.Sign == 0 {
			p.Sign = 1
		}
		return explainCase{"ListCertificatesSorted: " + name, caller, func(ctx context.Context, q *store.Queries) error {
			_, err := q.ListCertificatesSorted(ctx, p)
			return err
		}}
	}
	missing := func(name, caller, certType, after string) explainCase {
		return explainCase{"DevicesWithoutCertificate: " + name, caller, func(ctx context.Context, q *store.Queries) error {
			_, err := q.DevicesWithoutCertificate(ctx, store.DevicesWithoutCertificateParams{CertType: certType, AfterID: after, PageSize: listPage})
			return err
		}}
	}
	return []explainCase{
		list("first page", "GET /certificates", store.ListCertificatesParams{}),
		list("active", "GET /certificates?status=active", store.ListCertificatesParams{Status: text("active")}),
		list("active, expiring within 7 days", "GET /certificates?status=active&expiring_after=now&expiring_before=+7d",
			store.ListCertificatesParams{Status: text("active"), ExpiringAfter: &now, ExpiringBefore: &in7Days}),
		list("active, expired", "GET /certificates?status=active&expired=true", store.ListCertificatesParams{Status: text("active"), Expired: true}),
		list("revoked", "GET /certificates?status=revoked", store.ListCertificatesParams{Status: text("revoked")}),
		list("one device", "GET /certificates?device_id=…", store.ListCertificatesParams{DeviceID: text(f.device)}),
		list("a profile with none", "GET /certificates?profile_id=…", store.ListCertificatesParams{ProfileID: pgtype.Int8{Int64: f.archivedProfile, Valid: true}}),
		list("later page", "GET /certificates?after=…", store.ListCertificatesParams{AfterID: f.midCertificate}),
		list("expired, up to 1,000", "GET /renewal-alerts", store.ListCertificatesParams{Status: text("active"), Expired: true}),
		sorted("by expiry, soonest first", "GET /certificates?sort=not_after", store.ListCertificatesSortedParams{}),
		sorted("active, by expiry, latest first", "GET /certificates?status=active&sort=not_after&order=desc", store.ListCertificatesSortedParams{Status: text("active"), Sign: -1}),
		sorted("by expiry, later page", "GET /certificates?sort=not_after&after=…", store.ListCertificatesSortedParams{Paged: true, AfterKey: f.midExpiryKey, AfterID: f.midExpiryID}),
		missing("TLS", "GET /certificates/missing?cert_type=tls", "tls", ""),
		missing("802.1X", "GET /certificates/missing?cert_type=ieee8021x", "ieee8021x", ""),
		missing("TLS, later page", "GET /certificates/missing?after=…", "tls", f.midDevice),
	}
}

// dashboardCases are the console dashboard's queries: the summary, the
// expiry timeline and its headline, and what needs attention.
func dashboardCases(f fixtures, now time.Time) []explainCase {
	return []explainCase{
		{"FleetSummary", "GET /summary", func(ctx context.Context, q *store.Queries) error {
			_, err := q.FleetSummary(ctx)
			return err
		}},
		{"RecentFailedItems", "GET /summary", func(ctx context.Context, q *store.Queries) error {
			_, err := q.RecentFailedItems(ctx, 10)
			return err
		}},
		{"ExpiryTimeline: by week, six months", "GET /certificates/timeline?bucket=week", func(ctx context.Context, q *store.Queries) error {
			_, err := q.ExpiryTimeline(ctx, store.ExpiryTimelineParams{Bucket: "week", RangeFrom: now, RangeTo: now.AddDate(0, 6, 0)})
			return err
		}},
		{"ExpiryHeadline", "GET /certificates/timeline", func(ctx context.Context, q *store.Queries) error {
			_, err := q.ExpiryHeadline(ctx)
			return err
		}},
		{"UnrenewedExpiring", "metrics and the renewal-alert webhook", func(ctx context.Context, q *store.Queries) error {
			_, err := q.UnrenewedExpiring(ctx)
			return err
		}},
	}
}

// jobCases are the jobs list and a job's page.
func jobCases(f fixtures) []explainCase {
	jobs := func(name, caller string, p store.ListJobsParams) explainCase {
		return explainCase{"ListJobs: " + name, caller, func(ctx context.Context, q *store.Queries) error {
			_, err := q.ListJobs(ctx, p)
			return err
		}}
	}
	items := func(name, caller string, p store.ListJobItemsParams) explainCase {
		p.JobID, p.PageSize = f.job, listPage
		return explainCase{"ListJobItems: " + name, caller, func(ctx context.Context, q *store.Queries) error {
			_, err := q.ListJobItems(ctx, p)
			return err
		}}
	}
	// A running job's next devices, as CertificateJob loads them (a window of 200).
	pending := func(name, after string) explainCase {
		return explainCase{"JobItemsPage: " + name, "a job run (activities.LoadItems)", func(ctx context.Context, q *store.Queries) error {
			_, err := q.JobItemsPage(ctx, store.JobItemsPageParams{JobID: f.runningJob, AfterDeviceID: after, PageSize: 200})
			return err
		}}
	}
	return []explainCase{
		jobs("all, newest first", "GET /jobs?state=all&sort=scheduled_at&order=desc", store.ListJobsParams{Filter: "all", Sort: "scheduled_at", Descending: true, PageSize: 100}),
		jobs("active", "GET /jobs?state=active&limit=10", store.ListJobsParams{Filter: "active", Sort: "scheduled_at", Descending: true, PageSize: 10}),
		jobs("all, by name, second page", "GET /jobs?sort=name&offset=10&limit=10", store.ListJobsParams{Filter: "all", Sort: "name", PageSize: 10, PageOffset: 10}),
		{"CountItemsOfJobs: a page of jobs", "GET /jobs (each page)", func(ctx context.Context, q *store.Queries) error {
			_, err := q.CountItemsOfJobs(ctx, f.pageJobs)
			return err
		}},
		{"CountJobItemsByStepAndState", "GET /jobs/{id}", func(ctx context.Context, q *store.Queries) error {
			_, err := q.CountJobItemsByStepAndState(ctx, f.job)
			return err
		}},
		{"CountRetriedJobItems", "GET /jobs/{id}", func(ctx context.Context, q *store.Queries) error {
			_, err := q.CountRetriedJobItems(ctx, f.job)
			return err
		}},
		items("first page", "GET /jobs/{id}/items", store.ListJobItemsParams{}),
		items("device failures", "GET /jobs/{id}/items?state=device_failure", store.ListJobItemsParams{State: pgtype.Text{String: "device_failure", Valid: true}}),
		items("later page", "GET /jobs/{id}/items?after=…", store.ListJobItemsParams{AfterDeviceID: f.midJobDevice}),
		pending("first page", ""),
		pending("halfway", f.midRunningDevice),
	}
}

// otherListCases are the remaining lists: CA requests, audit, profiles,
// credentials and tokens.
func otherListCases(f fixtures) []explainCase {
	text := func(s string) pgtype.Text { return pgtype.Text{String: s, Valid: true} }
	ca := func(name, caller string, p store.ListCARequestsParams) explainCase {
		p.PageSize = listPage
		return explainCase{"ListCARequests: " + name, caller, func(ctx context.Context, q *store.Queries) error {
			_, err := q.ListCARequests(ctx, p)
			return err
		}}
	}
	audit := func(name, caller string, p store.ListAuditParams) explainCase {
		p.PageSize = 100
		return explainCase{"ListAudit: " + name, caller, func(ctx context.Context, q *store.Queries) error {
			_, err := q.ListAudit(ctx, p)
			return err
		}}
	}
	return []explainCase{
		ca("first page", "GET /ca-requests", store.ListCARequestsParams{}),
		ca("pending", "GET /ca-requests?status=pending", store.ListCARequestsParams{Status: text("pending")}),
		ca("later page", "GET /ca-requests?after=…", store.ListCARequestsParams{AfterID: f.midCARequest}),
		audit("first page", "GET /audit", store.ListAuditParams{}),
		audit("credentials", "GET /audit?object_type=credential", store.ListAuditParams{ObjectType: text("credential")}),
		audit("later page", "GET /audit?after=…", store.ListAuditParams{AfterID: pgtype.Int8{Int64: f.midAudit, Valid: true}}),
		{"ListProfiles: active", "GET /profiles?status=active", func(ctx context.Context, q *store.Queries) error {
			_, err := q.ListProfiles(ctx, store.ListProfilesParams{Status: "active", PageSize: listPage})
			return err
		}},
		{"ListCredentials: with device counts", "GET /credentials", func(ctx context.Context, q *store.Queries) error {
			_, err := q.ListCredentials(ctx, store.ListCredentialsParams{PageSize: listPage})
			return err
		}},
		{"ListAPITokens", "GET /tokens", func(ctx context.Context, q *store.Queries) error {
			_, err := q.ListAPITokens(ctx, store.ListAPITokensParams{PageSize: listPage})
			return err
		}},
	}
}

// sweepCases are the renewal sweep's queries (renewal.SweepActivities.CreateJobs)
// for each seeded policy, which GET /renewal-alerts also runs.
func sweepCases(f fixtures, now time.Time) []explainCase {
	cases := []explainCase{{"JobsFromSource", "renewal sweep", func(ctx context.Context, q *store.Queries) error {
		_, err := q.JobsFromSource(ctx, "renewal/"+now.Format("2006-01-02T15:04:05Z")+"/")
		return err
	}}}
	for _, p := range f.policies {
		params := store.DueForRenewalParams{
			CertType: p.CertType, ProfileIds: p.ProfileIds, DeviceTypes: p.DeviceTypes, At: now,
			IncludeMissing: p.IncludeMissing, IncludeExpired: p.IncludeExpired,
			RenewBeforeDays: p.RenewBeforeDays, RenewAtLifetime: p.RenewAtLifetime,
		}
		cases = append(cases, explainCase{"DueForRenewal: " + p.Name, "renewal sweep, GET /renewal-alerts", func(ctx context.Context, q *store.Queries) error {
			_, err := q.DueForRenewal(ctx, params)
			return err
		}})
	}
	return cases
}

// tableSizes is each table's row estimate after ANALYZE.
func tableSizes(ctx context.Context, pool *pgxpool.Pool) (map[string]float64, error) {
	rows, err := pool.Query(ctx, `SELECT relname::text, reltuples::float8 FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace`)
	if err != nil {
		return nil, fmt.Errorf("read table sizes: %w", err)
	}
	sizes := map[string]float64{}
	for rows.Next() {
		var name string
		var n float64
		if err := rows.Scan(&name, &n); err != nil {
			return nil, err
		}
		sizes[name] = n
	}
	return sizes, rows.Err()
}

// explain runs the case's statement under EXPLAIN ANALYZE explainRepeats
// times and reads the run with the median execution time.
func explain(ctx context.Context, pool *pgxpool.Pool, c explainCase, sizes map[string]float64) (queryPlan, error) {
	rec := &recorder{}
	if err := c.call(ctx, store.New(rec)); !errors.Is(err, errRecorded) {
		return queryPlan{}, fmt.Errorf("record the statement: %v", err)
	}
	var runs []explained
	for range explainRepeats {
		var raw string
		if err := pool.QueryRow(ctx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+rec.sql, rec.args...).Scan(&raw); err != nil {
			return queryPlan{}, err
		}
		var out []explained
		if err := json.Unmarshal([]byte(raw), &out); err != nil || len(out) != 1 {
			return queryPlan{}, fmt.Errorf("read the plan: %v", err)
		}
		runs = append(runs, out[0])
	}
	slices.SortFunc(runs, func(a, b explained) int { return int(1000 * (a.ExecutionMs - b.ExecutionMs)) })
	run := runs[len(runs)/2]
	p := queryPlan{Name: c.name, Query: queryName(rec.sql), Caller: c.caller, PlanningMs: run.PlanningMs, ExecutionMs: run.ExecutionMs,
		RowsReturned: int64(run.Plan.ActualRows * run.Plan.ActualLoops), Top: run.Plan.top(), Scans: []string{}, SeqScans: []string{}}
	run.Plan.walk(func(n *planNode) {
		if !n.scan() {
			return
		}
		p.RowsRead += int64((n.ActualRows + n.RemovedByFilter + n.RemovedByRecheck) * n.ActualLoops)
		if d := n.describe(); !slices.Contains(p.Scans, d) {
			p.Scans = append(p.Scans, d)
		}
		if n.NodeType == "Seq Scan" && sizes[n.Relation] > largeTable && !slices.Contains(p.SeqScans, n.Relation) {
			p.SeqScans = append(p.SeqScans, n.Relation)
		}
	})
	p.Buffers = run.Plan.SharedHit + run.Plan.SharedRead // the root's include its children's
	return p, nil
}

// queryName is the sqlc name a generated statement starts with
// ("-- name: ListDevices :many").
func queryName(sql string) string {
	if f := strings.Fields(sql); len(f) >= 3 && f[0] == "--" && f[1] == "name:" {
		return f[2]
	}
	return "?"
}

// explained is one EXPLAIN (ANALYZE, FORMAT JSON) answer.
type explained struct {
	Plan        planNode `json:"Plan"`
	PlanningMs  float64  `json:"Planning Time"`
	ExecutionMs float64  `json:"Execution Time"`
}

// planNode is a node of a JSON plan. Rows are per loop, as Postgres reports them.
type planNode struct {
	NodeType         string     `json:"Node Type"`
	Relation         string     `json:"Relation Name"`
	Index            string     `json:"Index Name"`
	ActualRows       float64    `json:"Actual Rows"`
	ActualLoops      float64    `json:"Actual Loops"`
	RemovedByFilter  float64    `json:"Rows Removed by Filter"`
	RemovedByRecheck float64    `json:"Rows Removed by Index Recheck"`
	SharedHit        int64      `json:"Shared Hit Blocks"`
	SharedRead       int64      `json:"Shared Read Blocks"`
	Plans            []planNode `json:"Plans"`
}

func (n *planNode) walk(visit func(*planNode)) {
	visit(n)
	for i := range n.Plans {
		n.Plans[i].walk(visit)
	}
}

// scan says whether the node reads a table or an index.
func (n *planNode) scan() bool {
	return n.Relation != "" || n.Index != ""
}

func (n *planNode) describe() string {
	switch {
	case n.Index != "":
		return n.NodeType + " using " + n.Index
	case n.Relation != "":
		return n.NodeType + " on " + n.Relation
	}
	return n.NodeType
}

// top is the plan's shape from its root down its first children, to the
// first join or scan, at most four nodes.
func (n *planNode) top() []string {
	var out []string
	for at := n; at != nil && len(out) < 4; {
		out = append(out, at.describe())
		if at.scan() || strings.Contains(at.NodeType, "Join") || at.NodeType == "Nested Loop" || len(at.Plans) == 0 {
			break
		}
		at = &at.Plans[0]
	}
	return out
}

// errRecorded ends a store call once its statement is recorded.
var errRecorded = errors.New("statement recorded")

// recorder is a store.DBTX that records the statement a store method sends,
// with its arguments, instead of running it.
type recorder struct {
	sql  string
	args []any
}

func (r *recorder) record(sql string, args []any) { r.sql, r.args = sql, args }

func (r *recorder) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	r.record(sql, args)
	return pgconn.CommandTag{}, errRecorded
}

func (r *recorder) Query(_ context.Context, sql string, args ...any) (pgx.Rows, error) {
	r.record(sql, args)
	return nil, errRecorded
}

func (r *recorder) QueryRow(_ context.Context, sql string, args ...any) pgx.Row {
	r.record(sql, args)
	return recordedRow{}
}

func (r *recorder) CopyFrom(context.Context, pgx.Identifier, []string, pgx.CopyFromSource) (int64, error) {
	return 0, errors.New("COPY is not explained")
}

type recordedRow struct{}

func (recordedRow) Scan(...any) error { return errRecorded }

func printExplain(r explainResult) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "Query\tPlan\tSeq scan >10k\tRows read\tBuffers\tms\t")
	for _, q := range r.Queries {
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%.2f\t\n", q.Name, planShape(q), strings.Join(q.SeqScans, ", "), q.RowsRead, q.Buffers, q.ExecutionMs)
	}
	w.Flush()
	fmt.Fprintf(os.Stderr, "bench: explained %d queries in %.0f s (seeding %.0f s)\n", len(r.Queries), r.TotalSeconds, r.SeedSeconds)
}

// planShape is a plan in one line: its top nodes, then its scans.
func planShape(q queryPlan) string {
	top := strings.Join(q.Top, " → ")
	var rest []string
	for _, s := range q.Scans {
		if !slices.Contains(q.Top, s) {
			rest = append(rest, s)
		}
	}
	if len(rest) == 0 {
		return top
	}
	return top + "; " + strings.Join(rest, ", ")
}

// writeExplain writes the EXPLAIN study from its newest untagged result,
// beside the newest tagged one (such as before-indexes) when there is one,
// so that a schema change's effect reads off one table.
func writeExplain(b *strings.Builder, dir string) error {
	results, err := latest(dir, "explain")
	if err != nil || len(results) == 0 {
		return err
	}
	var now, then *result
	for i := range results {
		if strings.Contains(results[i].Name, "+") {
			then = &results[i]
		} else {
			now = &results[i]
		}
	}
	if now == nil {
		now, then = then, nil
	}
	var r, before explainResult
	if err := json.Unmarshal(now.Result, &r); err != nil {
		return fmt.Errorf("%s: %w", now.Name, err)
	}
	if then != nil {
		if err := json.Unmarshal(then.Result, &before); err != nil {
			return fmt.Errorf("%s: %w", then.Name, err)
		}
	}
	writeExplainIntro(b, now, r)
	if then == nil {
		writeExplainTable(b, r)
		return nil
	}
	fmt.Fprintf(b, "*Before*: the run tagged %s, measured %s on schema version %d (the same fleet, seeded afresh); *after*: this run, on schema version %d.\n\n",
		strings.Trim(tagNote(then.Name), " ()"), then.At.Format("2006-01-02 15:04 MST"), before.Migration, r.Migration)
	writeExplainComparison(b, before, r)
	return nil
}

func writeExplainIntro(b *strings.Builder, res *result, r explainResult) {
	f := r.Fleet
	fmt.Fprintf(b, "## Query plans at fleet size: %d devices, %d certificates (EXPLAIN)\n\n", f.Devices, f.Certificates)
	m := res.Machine
	fmt.Fprintf(b, "Measured %s on %d cores (%s), %.1f GiB, %s, PostgreSQL %s, schema version %d; the whole study took %.0f s.\n\n", res.At.Format("2006-01-02 15:04 MST"), m.Cores, m.CPU, m.MemoryGiB, m.Go, r.Postgres, r.Migration, r.TotalSeconds)
	fmt.Fprintf(b, "`go run ./bench -only explain` seeds a database of its own as the console benchmark does (in %.0f s), with three certificates per device (each holder's current TLS certificate and the two it replaced, and 802.1X ones): %d devices, %d certificates, %d CA requests, %d jobs with %d items, %d audit rows; then VACUUM ANALYZE. ",
		r.SeedSeconds, f.Devices, f.Certificates, f.CARequests, f.Jobs, f.JobItems, f.AuditRows)
	fmt.Fprintf(b, "It runs `EXPLAIN (ANALYZE, BUFFERS)` on each query behind the API's lists, the dashboard and the renewal sweep, the statement sqlc generated with the parameters its caller sends (a first page, a filter, a later page by the API's cursor or offset, each renewal policy), %d times, and keeps the run of median execution time. *Rows read*: rows the plan's scans returned or filtered out, over all loops; *full scan*: a Seq Scan of a table of more than %d rows, which is the plan to want only where a query counts or sweeps the whole fleet (the dashboard's counts, the renewal sweep). Rows read is the figure to compare across runs: EXPLAIN ANALYZE's own timing inflates the milliseconds of plans that read many rows, and the machine is shared.\n\n", r.Repeats, largeTable)
}

func writeExplainTable(b *strings.Builder, r explainResult) {
	b.WriteString("| Query | Caller | Plan | Full scan | Rows read | Execution |\n|---|---|---|---|---|---|\n")
	for _, q := range r.Queries {
		fmt.Fprintf(b, "| %s | `%s` | %s | %s | %d | %.1f ms |\n", q.Name, q.Caller, planShape(q), fullScans(q), q.RowsRead, q.ExecutionMs)
	}
	b.WriteString("\n")
}

// writeExplainComparison writes each query's plan and cost before and after,
// the plan after only where it changed.
func writeExplainComparison(b *strings.Builder, before, after explainResult) {
	b.WriteString("| Query | Caller | Plan before | Plan after | Full scan before / after | Rows read before / after | Execution before / after |\n|---|---|---|---|---|---|---|\n")
	for _, q := range after.Queries {
		i := slices.IndexFunc(before.Queries, func(p queryPlan) bool { return p.Name == q.Name })
		if i < 0 {
			fmt.Fprintf(b, "| %s | `%s` | (not measured) | %s | — / %s | — / %d | — / %.1f ms |\n", q.Name, q.Caller, planShape(q), fullScans(q), q.RowsRead, q.ExecutionMs)
			continue
		}
		p := before.Queries[i]
		shape := planShape(q)
		if shape == planShape(p) {
			shape = "same"
		}
		fmt.Fprintf(b, "| %s | `%s` | %s | %s | %s / %s | %d / %d | %.1f / **%.1f ms** |\n", q.Name, q.Caller, planShape(p), shape, fullScans(p), fullScans(q), p.RowsRead, q.RowsRead, p.ExecutionMs, q.ExecutionMs)
	}
	b.WriteString("\n")
}

func fullScans(q queryPlan) string {
	if len(q.SeqScans) == 0 {
		return "—"
	}
	return "**" + strings.Join(q.SeqScans, ", ") + "**"
}
