// Command bench measures certfleet the same way every time, each figure
// beside a reference measured in the same run on the same machine (see
// BENCHMARKS.md): a certificate job against its no-op floor, and EST
// simpleenroll against globalsign's estserver and the short-workflow floor,
// SCEP PKCSReq against the same floor, the web console's views at fleet
// size against an HTTP round trip and the cheapest query, and the OCSP
// responder against the same server's /healthz; and, with no reference, the
// plans of the lists' and the renewal sweep's queries at fleet size (EXPLAIN).
// `make bench` runs it from the repository root after `make tools`.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/certfleet/certfleet/pki/kek"
	"github.com/certfleet/certfleet/workflows"
)

const (
	defaultResults = "bench/results"
	taskQueue      = "certfleet-bench"
	floorQueue     = "certfleet-bench-floor"
	fleetSecret    = "bench-fleet-secret-0123456789abcdef"
)

type options struct {
	devices, window int
	concurrency     []int
	estDuration     time.Duration
	only            string
	tag             string
	profile         bool
	results         string
	adminURL        string
	// The console benchmark's fleet (and twice as many certificates), and
	// how often it loads each view.
	consoleDevices, consoleRepeats int
	consoleKeep                    bool
	// explainDevices is the EXPLAIN study's fleet, with three certificates each.
	explainDevices int
	// cluster runs the job and EST benchmarks on `make cluster`'s shape
	// (scripts/cluster.sh) instead of the dev server, with 1 and 2 workers.
	cluster bool
	// clusterWorkers are the numbers of certfleet workers the cluster
	// benchmark runs with, one fresh cluster each.
	clusterWorkers []int
	// floorFrom is a job result whose floor this run reuses.
	floorFrom string
	// skipFloor runs the job without its floor: at 100,000 devices the
	// floor takes as long again, and the figure that matters there is the
	// job's against the 10,000-device run's (the scaling table).
	skipFloor bool
}

func main() {
	var o options
	var conc string
	flag.IntVar(&o.devices, "devices", 1000, "devices in the job benchmark (10000 and 100000 for the large runs)")
	flag.IntVar(&o.window, "window", 200, "devices in flight in the job and its floor")
	flag.StringVar(&conc, "concurrency", "1,8,32", "EST and SCEP callers, comma-separated")
	var clusterWorkers string
	flag.StringVar(&clusterWorkers, "cluster-workers", "1,2", "with -cluster, the numbers of certfleet workers to run the job benchmark with, comma-separated")
	flag.StringVar(&o.floorFrom, "floor-from", "", "reuse the floor of this job result (a JSON file in bench/results, same devices and window) instead of measuring it again")
	flag.BoolVar(&o.skipFloor, "skip-floor", false, "run the job without its floor (for the 100,000-device run, which BENCHMARKS.md compares with the 10,000-device one)")
	flag.DurationVar(&o.estDuration, "est-duration", 6*time.Second, "how long each EST and SCEP series runs")
	flag.StringVar(&o.tag, "tag", "", "keep this run's job and EST results beside the newest untagged ones, under this tag (such as before-<change>), for a before-and-after comparison in BENCHMARKS.md")
	flag.StringVar(&o.only, "only", "", "run only 'jobs', 'est' (EST and SCEP enrollment), 'console' (the web console's views at fleet size), 'explain' (the plans of the lists' and the renewal sweep's queries at fleet size), 'ocsp' (the OCSP responder) or 'report' (only BENCHMARKS.md, from bench/results)")
	flag.IntVar(&o.consoleDevices, "console-devices", 100000, "devices in the console benchmark's fleet, with twice as many certificates")
	flag.IntVar(&o.consoleRepeats, "console-repeats", 20, "how often the console benchmark loads each view")
	flag.IntVar(&o.explainDevices, "explain-devices", 100000, "devices in the EXPLAIN study's fleet, with three times as many certificates")
	flag.BoolVar(&o.consoleKeep, "console-keep", false, "keep the console benchmark's database (for EXPLAIN ANALYZE) and print its URL")
	flag.BoolVar(&o.cluster, "cluster", false, "run the job and EST benchmarks on make cluster's production shape (Temporal on Postgres as separate services, two API replicas) with one and then two certfleet workers")
	flag.BoolVar(&o.profile, "profile", false, "write CPU and heap profiles of certfleet into the results folder")
	flag.StringVar(&o.results, "results", defaultResults, "where results go; BENCHMARKS.md is written only for the default")
	flag.StringVar(&o.adminURL, "postgres", envOr("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"), "a Postgres server on which the benchmark may create a database")
	flag.Parse()
	o.concurrency = positiveList("concurrency", conc)
	o.clusterWorkers = positiveList("cluster-workers", clusterWorkers)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// positiveList reads flag name's comma-separated positive numbers, or exits.
func positiveList(name, list string) []int {
	var out []int
	for _, c := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bench: -%s: %q is not a positive number\n", name, c)
			os.Exit(2)
		}
		out = append(out, n)
	}
	return out
}

func run(ctx context.Context, o options) error {
	date := time.Now().UTC().Format("2006-01-02")
	if o.cluster {
		if err := runCluster(ctx, o, date); err != nil {
			return err
		}
	} else if o.only == "" || o.only == "jobs" || o.only == "est" {
		if err := runStack(ctx, o, date); err != nil {
			return err
		}
	}
	if !o.cluster && (o.only == "" || o.only == "console") {
		fmt.Fprintf(os.Stderr, "bench: the web console's views, %d devices\n", o.consoleDevices)
		r, err := benchConsole(ctx, o)
		if err != nil {
			return err
		}
		if err := writeResult(o.results, date, "console", describeMachine(nil), r); err != nil {
			return err
		}
	}
	if !o.cluster && (o.only == "" || o.only == "explain") {
		fmt.Fprintf(os.Stderr, "bench: EXPLAIN of the lists and the renewal sweep, %d devices\n", o.explainDevices)
		r, err := benchExplain(ctx, o)
		if err != nil {
			return fmt.Errorf("explain: %w", err)
		}
		if err := writeResult(o.results, date, tagged("explain", o.tag), describeMachine(nil), r); err != nil {
			return err
		}
	}
	if !o.cluster && (o.only == "" || o.only == "ocsp") {
		fmt.Fprintf(os.Stderr, "bench: OCSP at concurrency %v\n", o.concurrency)
		r, err := benchOCSP(ctx, o)
		if err != nil {
			return err
		}
		if err := writeResult(o.results, date, "ocsp", describeMachine(nil), r); err != nil {
			return err
		}
	}
	report := "BENCHMARKS.md"
	if o.results != defaultResults {
		report = filepath.Join(o.results, report)
	}
	return writeReport(o.results, report)
}

// runStack runs the benchmarks that need certfleet's whole stack: jobs and EST.
func runStack(ctx context.Context, o options, date string) error {
	s, err := startStack(ctx, o)
	if err != nil {
		return err
	}
	defer s.stop()
	floor, err := reusedFloor(o)
	if err != nil {
		return err
	}
	_, err = benchStack(ctx, s, o, date, "", true, floor)
	return err
}

// benchStack runs the job benchmark and, with est, the EST and SCEP one on
// s, naming their results with prefix. The job's floor is measured unless
// floor is given; the floor the job result holds is returned.
func benchStack(ctx context.Context, s *stack, o options, date, prefix string, est bool, floor *floorResult) (*floorResult, error) {
	machine := describeMachine(s)
	if o.only != "est" {
		fmt.Fprintf(os.Stderr, "bench: %sjob throughput, %d devices\n", prefix, o.devices)
		stopProfile := s.profile(o, date+"-jobs")
		name := fmt.Sprintf("%sjobs-%d", prefix, o.devices)
		r, err := benchJobs(ctx, s, o.devices, o.window, floor)
		stopProfile()
		if err != nil {
			return nil, err
		}
		r.Workers = s.workers
		name = tagged(name, o.tag)
		if err := writeResult(o.results, date, name, machine, r); err != nil {
			return nil, err
		}
		measured := r.Floor
		if measured.MeasuredIn == "" {
			measured.MeasuredIn = name
		}
		floor = &measured
	}
	if est && o.only != "jobs" {
		fmt.Fprintf(os.Stderr, "bench: %sEST simpleenroll and SCEP PKCSReq at concurrency %v\n", prefix, o.concurrency)
		stopProfile := s.profile(o, date+"-est")
		runs, err := benchEST(ctx, s, o.concurrency, o.estDuration)
		stopProfile()
		if err != nil {
			return nil, err
		}
		if err := writeResult(o.results, date, tagged(prefix+"est", o.tag), machine, estResult{Runs: runs, SecondsPerSeries: o.estDuration.Seconds()}); err != nil {
			return nil, err
		}
	}
	return floor, nil
}

// runCluster runs the job benchmark on the production shape with each
// number of workers (one, then two), each on a fresh cluster, and EST on the
// last. The floor is measured once, on the first cluster, and stands beside
// every run: it runs on the benchmark's own worker, so the number of
// certfleet workers does not change it.
func runCluster(ctx context.Context, o options, date string) error {
	floor, err := reusedFloor(o)
	if err != nil {
		return err
	}
	for i, workers := range o.clusterWorkers {
		s, err := startCluster(ctx, o, workers)
		if err != nil {
			return err
		}
		floor, err = benchStack(ctx, s, o, date, fmt.Sprintf("cluster-%dw-", workers), i == len(o.clusterWorkers)-1, floor)
		s.stop()
		if err != nil {
			return err
		}
	}
	return nil
}

// reusedFloor is the floor of the job result -floor-from names, if any,
// which must have run the same devices and window; with -skip-floor, a zero
// floor that stands for none.
func reusedFloor(o options) (*floorResult, error) {
	if o.skipFloor {
		return &floorResult{}, nil
	}
	if o.floorFrom == "" {
		return nil, nil
	}
	data, err := os.ReadFile(o.floorFrom)
	if err != nil {
		return nil, err
	}
	var res result
	var r jobResult
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, fmt.Errorf("-floor-from %s: %w", o.floorFrom, err)
	}
	if err := json.Unmarshal(res.Result, &r); err != nil {
		return nil, fmt.Errorf("-floor-from %s: %w", o.floorFrom, err)
	}
	if r.Floor.Children != o.devices || r.Window != o.window {
		return nil, fmt.Errorf("-floor-from %s: its floor ran %d children in a window of %d, not %d in %d", o.floorFrom, r.Floor.Children, r.Window, o.devices, o.window)
	}
	if r.Floor.MeasuredIn == "" {
		r.Floor.MeasuredIn = res.Name
	}
	return &r.Floor, nil
}

// stack is what the benchmark runs against: a Temporal dev server, a fresh
// database, certfleet (API, worker, EST, SCEP) and, for jobs, a simulated fleet.
type stack struct {
	repo, dir, binary       string
	temporalProc, certfleet *process
	processes               []*process
	temporal                client.Client
	floorWorker             sdkworker.Worker
	pool                    *pgxpool.Pool
	dropDB                  func()
	estAddr, pprofAddr      string
	// metricsAddr is certfleet's metrics listener, when one process runs
	// everything (the dev-server stack).
	metricsAddr     string
	scepAddr        string // SCEP over plain HTTP
	deviceIDs       []string
	temporalVersion string
	// workers is how many certfleet workers poll the task queue.
	workers int
	// keys is certfleet's key-encryption key, for sealing the fleet's credential.
	keys *kek.KEK
}

// startStack starts the stack `make run` runs: the Temporal dev server and
// one `certfleet all`.
func startStack(ctx context.Context, o options) (*stack, error) { return launch(ctx, o, 0) }

// startCluster starts `make cluster`'s shape (scripts/cluster.sh) with
// workers certfleet workers.
func startCluster(ctx context.Context, o options, workers int) (*stack, error) {
	return launch(ctx, o, workers)
}

// launch starts certfleet on a fresh database: on the dev server when
// workers is 0, else on the production shape with that many workers.
func launch(ctx context.Context, o options, workers int) (*stack, error) {
	repo, _ := os.Getwd()
	dir, err := os.MkdirTemp("", "certfleet-bench-")
	if err != nil {
		return nil, err
	}
	s := &stack{repo: repo, dir: dir, binary: filepath.Join(dir, "certfleet"), workers: max(workers, 1)}
	fail := func(err error) (*stack, error) {
		s.stop()
		return nil, fmt.Errorf("%w (logs in %s)", err, dir)
	}
	version, err := exec.Command(filepath.Join(repo, "bin", "temporal"), "--version").Output()
	if err != nil {
		return fail(fmt.Errorf("bin/temporal (run `make tools`): %w", err))
	}
	s.temporalVersion = temporalVersion(repo, string(version))
	if out, err := exec.Command("go", "build", "-o", s.binary, "./cmd/certfleet").CombinedOutput(); err != nil {
		return fail(fmt.Errorf("build certfleet: %v\n%s", err, out))
	}
	dbURL, drop, err := createDatabase(ctx, o.adminURL, fmt.Sprintf("certfleet_bench_%d", time.Now().UnixNano()))
	if err != nil {
		return fail(err)
	}
	s.dropDB = drop
	apiAddr := freeAddr()
	s.estAddr, s.scepAddr = freeAddr(), freeAddr()
	key := make([]byte, 32)
	rand.Read(key) //nolint:errcheck // never fails
	if s.keys, err = kek.New(key); err != nil {
		return fail(err)
	}
	env := []string{
		"DATABASE_URL=" + dbURL, "CERTFLEET_TASK_QUEUE=" + taskQueue,
		"CERTFLEET_API_ADDR=" + apiAddr, "CERTFLEET_PUBLIC_URL=http://" + apiAddr, "CERTFLEET_EST_ADDR=" + s.estAddr,
		"CERTFLEET_SCEP_ADDR=" + s.scepAddr,
		"CERTFLEET_EST_HOSTS=127.0.0.1", "CERTFLEET_EST_RATE_LIMIT=0", "CERTFLEET_KEK=" + base64.StdEncoding.EncodeToString(key),
		"CERTFLEET_LOG_LEVEL=error",
	}
	var temporalAddr string
	if workers == 0 {
		temporalAddr, err = s.startDevServer(env)
	} else {
		temporalAddr, err = s.startClusterScript(ctx, o, env, workers)
	}
	if err != nil {
		return fail(err)
	}
	if err := waitFor("certfleet", time.Minute, httpOK("http://"+apiAddr+"/readyz")); err != nil {
		return fail(err)
	}
	if s.pool, err = pgxpool.New(ctx, dbURL); err != nil {
		return fail(err)
	}
	if s.temporal, err = client.Dial(client.Options{HostPort: temporalAddr, Logger: quietLogger{}}); err != nil {
		return fail(err)
	}
	// The floors' worker has certfleet's worker options (the SDK's defaults).
	s.floorWorker = sdkworker.New(s.temporal, floorQueue, sdkworker.Options{})
	s.floorWorker.RegisterWorkflow(FloorJob)
	s.floorWorker.RegisterWorkflow(FloorChild)
	s.floorWorker.RegisterWorkflow(FloorEnrollment)
	s.floorWorker.RegisterActivity(Noop)
	if err := s.floorWorker.Start(); err != nil {
		return fail(err)
	}
	return s, nil
}

// startDevServer starts the dev server as `make run` starts it (SQLite in
// WAL mode), migrates, and starts `certfleet all` with env.
func (s *stack) startDevServer(env []string) (string, error) {
	temporalAddr := freeAddr()
	_, port, _ := strings.Cut(temporalAddr, ":")
	_, httpPort, _ := strings.Cut(freeAddr(), ":") // its default, port+1000, may be taken
	args := []string{"server", "start-dev", "--headless", "--db-filename", filepath.Join(s.dir, "temporal.db"), "--port", port, "--http-port", httpPort,
		"--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal", "--log-level", "error"}
	for _, key := range workflows.SearchAttributes {
		args = append(args, "--search-attribute", key.GetName()+"="+key.GetValueType().String())
	}
	var err error
	if s.temporalProc, err = start(s.dir, "temporal", nil, filepath.Join(s.repo, "bin", "temporal"), args...); err != nil {
		return "", err
	}
	if err := waitFor("the Temporal dev server", time.Minute, dialable(temporalAddr)); err != nil {
		return "", err
	}
	s.pprofAddr, s.metricsAddr = freeAddr(), freeAddr()
	env = append(env, "TEMPORAL_ADDRESS="+temporalAddr, "CERTFLEET_METRICS_ADDR="+s.metricsAddr, "CERTFLEET_PPROF_ADDR="+s.pprofAddr)
	migrate := exec.Command(s.binary, "migrate")
	migrate.Env = append(os.Environ(), env...)
	if out, err := migrate.CombinedOutput(); err != nil {
		return "", fmt.Errorf("certfleet migrate: %v\n%s", err, out)
	}
	s.certfleet, err = start(s.dir, "certfleet", env, s.binary, "all")
	return temporalAddr, err
}

// startClusterScript runs scripts/cluster.sh on free ports with env, its own
// Temporal databases (dropped at the end) and workers certfleet workers, and
// waits for its banner. Its processes' logs are in the stack's folder.
func (s *stack) startClusterScript(ctx context.Context, o options, env []string, workers int) (string, error) {
	port := func() string { _, p, _ := strings.Cut(freeAddr(), ":"); return p }
	temporalPort := port()
	temporalDB := fmt.Sprintf("temporal_bench_%d", time.Now().UnixNano())
	dropCertfleet := s.dropDB
	s.dropDB = func() {
		dropCertfleet()
		for _, db := range []string{temporalDB, temporalDB + "_visibility"} {
			dropDatabase(o.adminURL, db)
		}
	}
	metrics := []string{freeAddr(), freeAddr(), freeAddr(), freeAddr()}
	env = append(env, "CERTFLEET_DATA_DIR="+s.dir, "CERTFLEET_BIN="+s.binary, "CERTFLEET_CLUSTER_WORKERS="+strconv.Itoa(workers),
		"TEMPORAL_DB="+temporalDB, "TEMPORAL_VISIBILITY_DB="+temporalDB+"_visibility", "TEMPORAL_ADDRESS=",
		"TEMPORAL_PORT="+temporalPort, "TEMPORAL_UI_PORT="+port(), "TEMPORAL_FRONTEND_MEMBERSHIP_PORT="+port(), "TEMPORAL_FRONTEND_HTTP_PORT="+port(),
		"TEMPORAL_HISTORY_PORT="+port(), "TEMPORAL_HISTORY_MEMBERSHIP_PORT="+port(), "TEMPORAL_MATCHING_PORT="+port(),
		"TEMPORAL_MATCHING_MEMBERSHIP_PORT="+port(), "TEMPORAL_WORKER_PORT="+port(), "TEMPORAL_WORKER_MEMBERSHIP_PORT="+port(),
		"CERTFLEET_API2_ADDR="+freeAddr(), "CERTFLEET_EST2_ADDR="+freeAddr(), "CERTFLEET_SCEP2_ADDR="+freeAddr(),
		"CERTFLEET_CLUSTER_METRICS_ADDRS="+strings.Join(metrics, " "))
	var err error
	if s.temporalProc, err = start(s.dir, "cluster", env, "bash", filepath.Join(s.repo, "scripts", "cluster.sh")); err != nil {
		return "", err
	}
	server := regexp.MustCompile(`Server [0-9.]+`).FindString(s.temporalVersion)
	s.temporalVersion = fmt.Sprintf("Temporal %s on Postgres as `make cluster` runs it, %d certfleet worker(s)", server, workers)
	err = waitFor("make cluster", 3*time.Minute, func() error {
		if s.temporalProc.exited() || ctx.Err() != nil {
			return fmt.Errorf("cluster.sh exited (see %s)", filepath.Join(s.dir, "cluster.log"))
		}
		log, _ := os.ReadFile(filepath.Join(s.dir, "cluster.log"))
		if !strings.Contains(string(log), "certfleet is ready") {
			return errors.New("not ready yet")
		}
		return nil
	})
	return "127.0.0.1:" + temporalPort, err
}

func (s *stack) stop() {
	if s.floorWorker != nil {
		s.floorWorker.Stop()
	}
	if s.temporal != nil {
		s.temporal.Close()
	}
	if s.pool != nil {
		s.pool.Close()
	}
	for i := len(s.processes) - 1; i >= 0; i-- {
		s.processes[i].stop()
	}
	s.certfleet.stop()
	s.temporalProc.stop()
	if s.dropDB != nil {
		s.dropDB()
	}
}

// profile samples certfleet's CPU while a benchmark runs, in 20-second
// profiles <results>/<name>-cpu-NN.pprof (go tool pprof merges them), and
// takes its heap at the end, <name>-heap.pprof.
func (s *stack) profile(o options, name string) (stop func()) {
	if !o.profile || s.pprofAddr == "" { // none on the production shape
		return func() {}
	}
	stopping := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := 1; ; n++ {
			fetch("http://"+s.pprofAddr+"/debug/pprof/profile?seconds=20", filepath.Join(o.results, fmt.Sprintf("%s-cpu-%02d.pprof", name, n)))
			select {
			case <-stopping:
				return
			default:
			}
		}
	}()
	return func() {
		fetch("http://"+s.pprofAddr+"/debug/pprof/heap", filepath.Join(o.results, name+"-heap.pprof"))
		close(stopping)
		<-done
	}
}

func fetch(url, path string) {
	resp, err := http.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: profile:", err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err == nil {
		io.Copy(f, resp.Body) //nolint:errcheck // a partial profile is still useful
		f.Close()
	}
}

// quietLogger keeps the SDK's chatter out of the benchmark's output.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}

// temporalVersion names the dev server: the CLI version pinned in
// tools/go.mod (a build from the module proxy reports 0.0.0-DEV) and the
// server and UI versions the CLI reports, e.g. "(Server 1.29.1, UI 2.42.1)".
func temporalVersion(repo, reported string) string {
	cli := "unknown"
	if mod, err := os.ReadFile(filepath.Join(repo, "tools", "go.mod")); err == nil {
		for _, line := range strings.Split(string(mod), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "github.com/temporalio/cli" {
				cli = f[1]
			}
		}
	}
	if i := strings.Index(reported, "("); i >= 0 {
		return "Temporal CLI " + cli + " dev server " + strings.TrimSpace(reported[i:])
	}
	return "Temporal CLI " + cli + " dev server"
}
