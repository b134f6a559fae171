package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/vocab"
)

// machine describes where a result was measured.
type machine struct {
	CPU       string  `json:"cpu"`
	Cores     int     `json:"cores"`
	MemoryGiB float64 `json:"memory_gib"`
	Go        string  `json:"go"`
	Temporal  string  `json:"temporal"`
	// Postgres is the server's version and whether autovacuum runs: without
	// it, a long job's updated rows stay dead until a manual VACUUM.
	Postgres string `json:"postgres,omitempty"`
}

func describeMachine(s *stack) machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if s != nil { // the console benchmark runs without Temporal
		m.Temporal = s.temporalVersion
		m.Postgres = describePostgres(s.pool)
	}
	m.CPU = procField("/proc/cpuinfo", "model name")
	var kb float64
	fmt.Sscanf(procField("/proc/meminfo", "MemTotal"), "%f", &kb) //nolint:errcheck // 0 when unknown
	m.MemoryGiB = kb / (1 << 20)
	return m
}

func describePostgres(pool *pgxpool.Pool) string {
	var version, autovacuum string
	err := pool.QueryRow(context.Background(), `SELECT current_setting('server_version'), current_setting('autovacuum')`).Scan(&version, &autovacuum)
	if err != nil {
		return ""
	}
	version, _, _ = strings.Cut(version, " ")
	return fmt.Sprintf("PostgreSQL %s (autovacuum %s)", version, autovacuum)
}

// procField reads the first "name: value" line of a /proc file.
func procField(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// result is one benchmark's JSON file.
type result struct {
	Name    string          `json:"name"`
	Date    string          `json:"date"`
	At      time.Time       `json:"at"`
	Machine machine         `json:"machine"`
	Result  json.RawMessage `json:"result"`
}

type estResult struct {
	SecondsPerSeries float64  `json:"seconds_per_series"`
	Runs             []estRun `json:"runs"`
}

func writeResult(dir, date, name string, m machine, r any) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	out, err := json.MarshalIndent(result{Name: name, Date: date, At: time.Now().UTC(), Machine: m, Result: data}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, date+"-"+name+".json")
	fmt.Fprintln(os.Stderr, "bench: wrote", path)
	return os.WriteFile(path, append(out, '\n'), 0o644)
}

// latest reads the newest result of each name that starts with prefix,
// ordered by name length then name (jobs-1000 before jobs-10000).
func latest(dir, prefix string) ([]result, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	newest := map[string]result{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var r result
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if best, seen := newest[r.Name]; strings.HasPrefix(r.Name, prefix) && (!seen || r.At.After(best.At)) {
			newest[r.Name] = r
		}
	}
	out := make([]result, 0, len(newest))
	for _, r := range newest {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b result) int {
		if len(a.Name) != len(b.Name) {
			return len(a.Name) - len(b.Name)
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// writeReport writes BENCHMARKS.md from the newest results of each benchmark.
func writeReport(dir, path string) error {
	var b strings.Builder
	b.WriteString(reportIntro)
	jobResults, err := latest(dir, "jobs-")
	if err != nil {
		return err
	}
	byDevices := map[string]jobResult{}
	for _, res := range jobResults {
		var r jobResult
		if err := json.Unmarshal(res.Result, &r); err != nil {
			return err
		}
		writeJobs(&b, &res, r)
		byDevices[res.Name] = r
	}
	writeScaling(&b, jobResults, byDevices)
	estResults, err := latest(dir, "est")
	if err != nil {
		return err
	}
	for _, res := range estResults {
		var r estResult
		if err := json.Unmarshal(res.Result, &r); err != nil {
			return err
		}
		writeEST(&b, &res, r)
	}
	if err := writeCluster(&b, dir); err != nil {
		return err
	}
	consoleResults, err := latest(dir, "console")
	if err != nil {
		return err
	}
	for _, res := range consoleResults {
		var r consoleResult
		if err := json.Unmarshal(res.Result, &r); err != nil {
			return err
		}
		writeConsole(&b, &res, r)
	}
	if err := writeExplain(&b, dir); err != nil {
		return err
	}
	ocspResults, err := latest(dir, "ocsp")
	if err != nil {
		return err
	}
	for _, res := range ocspResults {
		var r ocspResult
		if err := json.Unmarshal(res.Result, &r); err != nil {
			return err
		}
		writeOCSP(&b, &res, r)
	}
	b.WriteString(reportOutro)
	fmt.Fprintln(os.Stderr, "bench: wrote", path)
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// writeCluster writes the production shape's table (`make bench CLUSTER=1`):
// job throughput with one and two workers and EST, each beside its floor
// measured on the same shape in the same run.
func writeCluster(b *strings.Builder, dir string) error {
	jobResults, err := latest(dir, "cluster-")
	if err != nil || len(jobResults) == 0 {
		return err
	}
	b.WriteString("## Production shape (`make bench CLUSTER=1`)\n\n")
	b.WriteString("Temporal's frontend, history (4 shards), matching and worker services as separate processes on Postgres, as `make cluster` runs them, with two API replicas; each figure beside its floor measured on the same shape. The job floor runs on the benchmark's own worker, not certfleet's, so it is measured once, on the first cluster, and stands beside each number of workers.\n\n")
	b.WriteString("| Workers | Devices | Devices per second | Floor (children/s) | Ratio | Measured |\n|---|---|---|---|---|---|\n")
	var est []result
	for _, res := range jobResults {
		if strings.HasSuffix(res.Name, "est") {
			est = append(est, res)
			continue
		}
		var r jobResult
		if err := json.Unmarshal(res.Result, &r); err != nil {
			return err
		}
		floor := fmt.Sprintf("%.1f", r.Floor.ChildrenPerSecond)
		if r.Floor.MeasuredIn != "" {
			floor += " (measured in the " + r.Floor.MeasuredIn + " run)"
		}
		fmt.Fprintf(b, "| %d | %d | %.1f | %s | **%.0f%%** | %s |\n", r.Workers, r.Devices, r.DevicesPerSecond, floor, 100*r.Ratio, res.At.Format("2006-01-02 15:04 MST"))
	}
	b.WriteString("\n")
	for _, res := range est {
		var r estResult
		if err := json.Unmarshal(res.Result, &r); err != nil {
			return err
		}
		writeEST(b, &res, r)
	}
	return nil
}

// tagged is a result's name with the run's tag (see -tag), if any.
func tagged(name, tag string) string {
	if tag == "" {
		return name
	}
	return name + "+" + tag
}

// tagNote is the heading's note for a tagged result.
func tagNote(name string) string {
	if _, tag, ok := strings.Cut(name, "+"); ok {
		return " (" + tag + ")"
	}
	return ""
}

func describe(m machine, at time.Time) string {
	postgres := ""
	if m.Postgres != "" {
		postgres = ", " + m.Postgres
	}
	return fmt.Sprintf("Measured %s on %d cores (%s), %.1f GiB, %s, %s%s.\n\n", at.Format("2006-01-02 15:04 MST"), m.Cores, m.CPU, m.MemoryGiB, m.Go, m.Temporal, postgres)
}

func writeJobs(b *strings.Builder, res *result, r jobResult) {
	fmt.Fprintf(b, "## Job throughput: %d devices, window %d%s\n\n", r.Devices, r.Window, tagNote(res.Name))
	b.WriteString(describe(res.Machine, res.At))
	b.WriteString("| Figure | certfleet | Reference (same run) | Ratio |\n|---|---|---|---|\n")
	if r.Floor.measured() {
		fmt.Fprintf(b, "| Devices per second | %.1f (%.0f s wall) | %.1f children/s: floor of %d children × %d no-op activities (%.0f s) | **%.0f%%** |\n",
			r.DevicesPerSecond, r.WallSeconds, r.Floor.ChildrenPerSecond, r.Floor.Children, r.Floor.ActivitiesEach, r.Floor.WallSeconds, 100*r.Ratio)
	} else {
		fmt.Fprintf(b, "| Devices per second | %.1f (%.0f s wall) | no floor (`FLOOR=0`): read it against the smaller runs in \"Cost as the fleet grows\" | |\n", r.DevicesPerSecond, r.WallSeconds)
	}
	fmt.Fprintf(b, "| Largest history of a job run | %d events (%d runs) | Temporal warns at 10,240 events and fails a run at 51,200 | |\n", r.MaxHistoryLength, r.JobRuns)
	fmt.Fprintf(b, "| Peak RSS | certfleet %.0f MiB, Temporal dev server %.0f MiB | | |\n", r.CertfleetPeakMiB, r.TemporalPeakMiB)
	b.WriteString("\n| Step | p50 | p95 |\n|---|---|---|\n")
	for _, step := range vocab.Steps {
		if p, ok := r.StepMillis[step]; ok {
			fmt.Fprintf(b, "| %s | %.0f ms | %.0f ms |\n", step, p["p50"], p["p95"])
		}
	}
	outcomes := make([]string, 0, len(r.Outcomes))
	for k, v := range r.Outcomes {
		if v > 0 {
			outcomes = append(outcomes, fmt.Sprintf("%s %d", k, v))
		}
	}
	slices.Sort(outcomes)
	fmt.Fprintf(b, "\nOutcomes: %s.\n\n", strings.Join(outcomes, ", "))
	if r.Breakdown != nil {
		writeJobBreakdown(b, r)
	}
	if r.CPUMillisPerDevice != nil {
		b.WriteString("### Where the CPU goes\n\n")
		b.WriteString(cpuIntro)
		names, costs := []string{"certfleet's job, per device"}, []map[string]float64{r.CPUMillisPerDevice}
		if r.Floor.CPUMillisPerChild != nil {
			names, costs = append(names, "the floor, per child"), append(costs, r.Floor.CPUMillisPerChild)
		}
		writeCPU(b, names, costs)
	}
}

// scalingBase is the job size larger runs are read against: flat cost means
// 100,000 devices within 10% of 10,000.
const scalingBase = 10000

// writeScaling writes how the newest untagged job runs of each size compare:
// throughput, CPU per device, history length and memory as the fleet grows.
func writeScaling(b *strings.Builder, results []result, runs map[string]jobResult) {
	base, haveBase := runs[fmt.Sprintf("jobs-%d", scalingBase)]
	b.WriteString("## Cost as the fleet grows\n\n")
	b.WriteString("The newest run of each size. Flat cost means devices per second within 10% of the 10,000-device run, the largest job-run history under Temporal's 10,240-event warning, and certfleet's peak RSS under 300 MiB. Runs on different days are only as comparable as the machine's speed was, so CPU per device (all processes) is shown too.\n\n")
	b.WriteString("| Devices | Devices per second | Against 10,000 devices | Ratio to its floor | CPU per device | Largest job history | certfleet peak RSS | Measured |\n|---|---|---|---|---|---|---|---|\n")
	for _, res := range results {
		r, ok := runs[res.Name]
		if !ok || strings.Contains(res.Name, "+") {
			continue
		}
		against, ratio := "", "no floor"
		if haveBase && r.Devices != scalingBase {
			against = fmt.Sprintf("%+.0f%%", 100*(r.DevicesPerSecond/base.DevicesPerSecond-1))
		}
		if r.Floor.measured() {
			ratio = fmt.Sprintf("%.0f%%", 100*r.Ratio)
		}
		var cpu float64
		for _, ms := range r.CPUMillisPerDevice {
			cpu += ms
		}
		fmt.Fprintf(b, "| %d | %.1f | %s | %s | %.1f ms | %d events | %.0f MiB | %s |\n",
			r.Devices, r.DevicesPerSecond, against, ratio, cpu, r.MaxHistoryLength, r.CertfleetPeakMiB, res.At.Format("2006-01-02 15:04 MST"))
	}
	b.WriteString("\n")
}

// cpuIntro says how the CPU tables are measured and why they matter.
const cpuIntro = "Milliseconds of CPU (user and system) per unit of work, by process, read from /proc before and after the run: each process the benchmark started with its children, Postgres' backends, and the benchmark itself (which runs the floor's worker and the EST callers). On two saturated cores, throughput is about 2,000 ms ÷ the total.\n\n"

// writeCPU writes one column of CPU milliseconds per process for each of
// costs, headed by names, with a total row.
func writeCPU(b *strings.Builder, names []string, costs []map[string]float64) {
	var parts []string
	for _, c := range costs {
		for part := range c {
			if !slices.Contains(parts, part) {
				parts = append(parts, part)
			}
		}
	}
	slices.Sort(parts)
	b.WriteString("| Process | " + strings.Join(names, " | ") + " |\n|---|" + strings.Repeat("---|", len(names)) + "\n")
	totals := make([]float64, len(costs))
	for _, part := range parts {
		fmt.Fprintf(b, "| %s |", part)
		for i, c := range costs {
			fmt.Fprintf(b, " %.2f |", c[part])
			totals[i] += c[part]
		}
		b.WriteString("\n")
	}
	b.WriteString("| **all** |")
	for _, t := range totals {
		fmt.Fprintf(b, " **%.2f** |", t)
	}
	b.WriteString("\n\n")
}

// writeJobBreakdown writes where a job's devices spent their time.
func writeJobBreakdown(b *strings.Builder, r jobResult) {
	inFlight := float64(r.Window) * r.WallSeconds / float64(r.Devices)
	fmt.Fprintf(b, "### Where a device's time goes (%d devices)\n\n", r.Devices)
	fmt.Fprintf(b, "Per device, from certfleet's own metrics (the Temporal SDK's latencies, each device and CA call, each Postgres query) scraped before and after the job. With %d devices in flight, each device spent about %.1f s in flight (window × wall ÷ devices); the parts below are the work and the waits it was made of.\n\n", r.Window, inFlight)
	b.WriteString("| Part | ms per device |\n|---|---|\n")
	for _, p := range r.Breakdown.Parts {
		name := p.Name
		if p.Within != "" {
			name = "&nbsp;&nbsp;of which " + name
		}
		fmt.Fprintf(b, "| %s | %.1f |\n", name, p.Millis)
	}
	b.WriteString("\n| Activity | Kind | Runs per device | Schedule-to-start (mean) | Execution (mean) |\n|---|---|---|---|---|\n")
	for _, st := range r.Breakdown.Steps {
		kind, wait := "activity", fmt.Sprintf("%.1f ms", st.ScheduleToStartMs)
		if st.Local {
			kind, wait = "local activity", "in the workflow task"
		}
		fmt.Fprintf(b, "| %s | %s | %.2f | %s | %.1f ms |\n", st.Activity, kind, st.PerDevice, wait, st.ExecutionMs)
	}
	writeQueries(b, r.Breakdown.Queries, "device")
}

// writeQueries writes the queries that took the most time per unit.
func writeQueries(b *strings.Builder, qs []queryCost, unit string) {
	fmt.Fprintf(b, "\n| Postgres query (most time first) | Calls per %s | ms per %s |\n|---|---|---|\n", unit, unit)
	for _, q := range qs {
		fmt.Fprintf(b, "| %s | %.2f | %.2f |\n", q.Query, q.Calls, q.Millis)
	}
	b.WriteString("\n")
}

func writeEST(b *strings.Builder, res *result, r estResult) {
	withSCEP := slices.ContainsFunc(r.Runs, func(run estRun) bool { return run.Protocol == "scep" })
	shape := ""
	if strings.HasPrefix(res.Name, "cluster-") {
		shape = " on the production shape"
	}
	if withSCEP {
		fmt.Fprintf(b, "## EST simpleenroll and SCEP PKCSReq (EC P-256)%s%s\n\n", shape, tagNote(res.Name))
	} else {
		fmt.Fprintf(b, "## EST simpleenroll (EC P-256)%s%s\n\n", shape, tagNote(res.Name))
	}
	b.WriteString(describe(res.Machine, res.At))
	fmt.Fprintf(b, "Each series ran %.0f s. *New handshake*: a new TLS connection and full handshake per request; *keep-alive*: one connection per caller, kept alive, with a TLS session cache. certfleet enrolls a new device per request, so every request is a new enrollment workflow and a new certificate in Postgres.", r.SecondsPerSeries)
	if withSCEP {
		b.WriteString(" *SCEP*: a PKCSReq over plain HTTP (SCEP's own listener) with a one-time challenge password, one kept-alive connection per caller; the client checks the CertRep's signature and decrypts its certificate inside the timed request.")
	}
	b.WriteString("\n\n")
	b.WriteString("| Callers | Series | Requests/s | p50 | p99 | Errors | vs short-workflow floor | vs estserver (same TLS) |\n|---|---|---|---|---|---|---|---|\n")
	for _, c := range concurrencyLevels(r.Runs) {
		floor := find(r.Runs, "floor", "none", false, c)
		for _, run := range r.Runs {
			if run.Concurrency != c {
				continue
			}
			vsFloor, vsPeer := "", ""
			if run.Target == "certfleet" && floor != nil && floor.PerSecond > 0 {
				vsFloor = fmt.Sprintf("**%.0f%%**", 100*run.PerSecond/floor.PerSecond)
			}
			if p := find(r.Runs, "estserver", "none", run.Resumption, c); run.Target == "certfleet" && run.Protocol == "" && p != nil && p.PerSecond > 0 {
				vsPeer = fmt.Sprintf("%.0f%%", 100*run.PerSecond/p.PerSecond)
			}
			fmt.Fprintf(b, "| %d | %s | %.1f | %.1f ms | %.1f ms | %d | %s | %s |\n", c, seriesName(run), run.PerSecond, run.P50Millis, run.P99Millis, run.Errors, vsFloor, vsPeer)
		}
	}
	b.WriteString("\n")
	writeEnrollmentBreakdown(b, r.Runs)
}

// writeEnrollmentBreakdown writes where certfleet's EST enrollments spent
// their time, series by series.
func writeEnrollmentBreakdown(b *strings.Builder, runs []estRun) {
	var with []estRun
	for _, run := range runs {
		if run.Breakdown != nil {
			with = append(with, run)
		}
	}
	if len(with) == 0 {
		return
	}
	b.WriteString("### Where an EST enrollment's time goes\n\n")
	b.WriteString("Mean milliseconds per request. The TLS handshake is timed by the client; the server's phases run one after another (label lookup, authentication with the client certificate or the password, reading the CSR, admission and binding, the enrollment workflow's round trip, the answer), from certfleet's metrics scraped before and after each series. Signing and the local activities run inside the workflow phase; Postgres counts every query of the request, whichever phase made it. The password series pays for argon2id in its authenticate phase.\n\n")
	b.WriteString("| Callers | Series | TLS handshake |")
	for _, phase := range estPhases {
		fmt.Fprintf(b, " %s |", phase)
	}
	b.WriteString(" of which CA signing | of which local activities | Postgres (all) |\n|---|---|---|" + strings.Repeat("---|", len(estPhases)+3) + "\n")
	for _, run := range with {
		fmt.Fprintf(b, "| %d | %s | %.1f |", run.Concurrency, seriesName(run), run.Breakdown.TLSHandshakeMs)
		parts := map[string]float64{}
		for _, p := range run.Breakdown.Parts {
			parts[p.Name] = p.Millis
		}
		for _, phase := range estPhases {
			fmt.Fprintf(b, " %.1f |", parts[phase])
		}
		fmt.Fprintf(b, " %.1f | %.1f | %.1f |\n", parts[signingPart], parts[localActivitiesPart], parts[postgresPart])
	}
	b.WriteString("\n")
	writeQueries(b, with[0].Breakdown.Queries, "enrollment")
	writeEnrollmentCPU(b, runs)
}

// writeEnrollmentCPU writes, at each concurrency, the CPU each certfleet
// series spent per request beside the floor's.
func writeEnrollmentCPU(b *strings.Builder, runs []estRun) {
	var names []string
	var costs []map[string]float64
	for _, run := range runs {
		if run.CPUMillisPerRequest != nil && (run.Target == "floor" || run.Target == "certfleet") && run.Concurrency == 8 {
			names = append(names, seriesName(run))
			costs = append(costs, run.CPUMillisPerRequest)
		}
	}
	if len(costs) == 0 {
		return
	}
	b.WriteString("### Where an enrollment's CPU goes (8 callers)\n\n")
	b.WriteString(strings.Replace(cpuIntro, "per unit of work", "per answered request", 1))
	writeCPU(b, names, costs)
}

func seriesName(r estRun) string {
	tls := "new handshake"
	if r.Resumption {
		tls = "keep-alive"
	}
	switch r.Target {
	case "floor":
		if r.Auth == findable {
			return "floor, findable: the same with an enrollment's four search attributes and summary"
		}
		return "floor: start and await a workflow with one local activity (eager start)"
	case "estserver":
		return "globalsign estserver v1.0.6, mock CA, no auth, " + tls
	}
	if r.Protocol == "scep" {
		return "certfleet **SCEP** PKCSReq, " + r.Auth + ", plain HTTP keep-alive"
	}
	return "certfleet, " + r.Auth + ", " + tls
}

func concurrencyLevels(runs []estRun) []int {
	var out []int
	for _, r := range runs {
		if !slices.Contains(out, r.Concurrency) {
			out = append(out, r.Concurrency)
		}
	}
	return out
}

func find(runs []estRun, target, auth string, resumption bool, c int) *estRun {
	for i, r := range runs {
		if r.Target == target && r.Auth == auth && r.Resumption == resumption && r.Concurrency == c {
			return &runs[i]
		}
	}
	return nil
}

const reportIntro = `# Benchmarks

Written by ` + "`make bench`" + ` (the command ` + "`go run ./bench`" + `) from the newest results in ` + "`bench/results/`" + `. Every figure stands beside a reference measured in the same run on the same machine, because machines here are shared and noisy: the ratio is what to compare across runs.

- ` + "`make bench`" + `: 1,000 devices, EST and SCEP at 1, 8 and 32 callers; ` + "`make bench DEVICES=10000`" + ` or ` + "`DEVICES=100000 FLOOR=0`" + ` for the large job runs (without its floor, the 100,000-device run is read against the 10,000-device one); ` + "`make bench PROFILE=1`" + ` also writes CPU and heap profiles of certfleet to ` + "`bench/results/`" + ` (` + "`go tool pprof -top bench/results/<date>-jobs-cpu-*.pprof`" + `); ` + "`make bench TAG=before-<change>`" + ` on the commit before a change keeps that run's tables beside the newest, headed with the tag, so that a change's effect is read off one page.
- Everything runs on one machine: the Temporal dev server (SQLite in WAL mode, as ` + "`make run`" + ` starts it), Postgres, certfleet, the simulated fleet and the load generator share its cores.

`

const reportOutro = `## Reading the figures

- **Job floor.** The same number of child workflows, each running five no-op activities one after another, through a worker with certfleet's worker options, on the same server, in the same run. certfleet's device workflow runs four or five steps (CSR, submit, [poll], install, revoke) and records each step in Postgres from inside them, so its bookkeeping costs no extra round trip to the server; with the built-in CA, which answers in process, submit and revoke run as local activities (since local-ca-steps), so only the device's steps and a poll go through the task queue. Both continue as new every 1,000 children, each parent first letting its window drain (CertificateJob for at most a minute, since report-by-result: its devices report by their result, as the floor's children do, instead of a signal).
- **EST floor.** Callers each starting a workflow with one local activity (eager start) and awaiting it, on the same server, in the same run. A certfleet enrollment is that plus the real work: TLS with a client certificate, trust-anchor verification, device registration on first contact, the CA ledger row, signing, the certificate row and the device's mode. SCEP is measured against the same floor: its enrollment is the same workflow, plus opening the PKCS#7 request with the RA's key, spending the one-time challenge, and signing and encrypting the CertRep. A second floor series, *findable*, starts its runs with what an enrollment's run carries to be found in the Temporal UI (four search attributes and a summary): the difference between the two floors is what Temporal charges for that, which certfleet pays on every enrollment.
- **The peer.** globalsign's estserver signs with an in-memory mock CA and records nothing; certfleet records every certificate durably (Postgres and Temporal history) before it answers. That durability is the gap, and it is not to be closed by weakening it.
- **Password series.** A device password is verified with argon2id (19 MiB, 2 passes, about 30 ms of CPU), on purpose: it is what makes a stolen database useless for guessing passwords. It bounds password enrollments to roughly 30 per second per core; certificate authentication does not pay it.
`
