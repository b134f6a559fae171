package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/certfleet/certfleet/credentials"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/vocab"
	"github.com/certfleet/certfleet/workflows"
)

// jobResult is the job throughput benchmark's outcome.
type jobResult struct {
	Devices          int                               `json:"devices"`
	Window           int                               `json:"window"`
	Workers          int                               `json:"workers"` // certfleet workers polling the task queue
	WallSeconds      float64                           `json:"wall_seconds"`
	DevicesPerSecond float64                           `json:"devices_per_second"`
	Status           string                            `json:"status"` // the job's end: succeeded, completed_with_failures, failed or halted
	Outcomes         map[vocab.Outcome]int             `json:"outcomes"`
	StepMillis       map[vocab.Step]map[string]float64 `json:"step_ms"` // step → p50, p95
	MaxHistoryLength int64                             `json:"max_history_length"`
	JobRuns          int                               `json:"job_runs"`
	CertfleetPeakMiB float64                           `json:"certfleet_peak_rss_mib"`
	TemporalPeakMiB  float64                           `json:"temporal_peak_rss_mib"`
	Floor            floorResult                       `json:"floor"`
	Ratio            float64                           `json:"ratio_to_floor"`
	// Breakdown is where the devices' time went (dev-server stack only).
	Breakdown *jobBreakdown `json:"breakdown,omitempty"`
	// CPUMillisPerDevice is the CPU each part of the stack spent per device.
	CPUMillisPerDevice map[string]float64 `json:"cpu_ms_per_device,omitempty"`
}

type floorResult struct {
	Children          int     `json:"children"`
	ActivitiesEach    int     `json:"activities_each"`
	WallSeconds       float64 `json:"wall_seconds"`
	ChildrenPerSecond float64 `json:"children_per_second"`
	// MeasuredIn names the run that measured it, when another run reuses it.
	MeasuredIn string `json:"measured_in,omitempty"`
	// CPUMillisPerChild is the CPU each part of the stack spent per child.
	CPUMillisPerChild map[string]float64 `json:"cpu_ms_per_child,omitempty"`
}

// measured tells a floor from the zero one -skip-floor stands in with.
func (f floorResult) measured() bool { return f.Children > 0 }

// benchJobs renews n simulated devices in one job, then runs the floor: n
// children of five no-op activities through the same server, unless floor
// was measured already on the same shape.
func benchJobs(ctx context.Context, s *stack, n, window int, floor *floorResult) (jobResult, error) {
	r := jobResult{Devices: n, Window: window}
	if err := s.fleet(ctx, n); err != nil {
		return r, err
	}
	svc := &jobs.Service{Pool: s.pool, Temporal: s.temporal, TaskQueue: taskQueue}
	var before scrape
	if s.metricsAddr != "" {
		var err error
		if before, err = s.scrapeMetrics(ctx); err != nil {
			return r, err
		}
	}
	cpuBefore := s.sampleCPU()
	begin := time.Now()
	job, err := svc.Create(ctx, jobs.Spec{Name: fmt.Sprintf("bench %d", n), CertType: "tls", CreatedBy: "bench", DeviceIDs: s.deviceIDs, Window: window}, nil)
	if err != nil {
		return r, fmt.Errorf("create the job: %w", err)
	}
	var progress workflows.Progress
	if err := s.temporal.GetWorkflow(ctx, workflows.JobWorkflowID(job.ID), "").Get(ctx, &progress); err != nil {
		return r, fmt.Errorf("job %d: %w", job.ID, err)
	}
	r.WallSeconds = time.Since(begin).Seconds()
	r.CPUMillisPerDevice = s.sampleCPU().perUnit(cpuBefore, n)
	r.DevicesPerSecond = float64(n) / r.WallSeconds
	r.Status, r.Outcomes = progress.Status, progress.Outcomes.ByOutcome()
	if r.StepMillis, err = stepPercentiles(ctx, s, job.ID); err != nil {
		return r, err
	}
	if r.MaxHistoryLength, r.JobRuns, err = maxHistory(ctx, s.temporal, workflows.JobWorkflowID(job.ID)); err != nil {
		return r, err
	}
	r.CertfleetPeakMiB, r.TemporalPeakMiB = s.certfleet.peakRSS(), s.temporalProc.peakRSS()
	if before != nil {
		after, err := s.scrapeMetrics(ctx)
		if err != nil {
			return r, err
		}
		if r.Breakdown, err = breakDownJob(after.since(before), n); err != nil {
			return r, err
		}
	}

	if floor != nil {
		r.Floor = *floor
	} else if r.Floor, err = s.runFloor(ctx, n, window); err != nil {
		return r, err
	}
	if r.Floor.measured() {
		r.Ratio = r.DevicesPerSecond / r.Floor.ChildrenPerSecond
	}
	return r, nil
}

// runFloor runs FloorJob on the benchmark's own worker and times it.
func (s *stack) runFloor(ctx context.Context, n, window int) (floorResult, error) {
	const activities = 5
	cpuBefore := s.sampleCPU()
	begin := time.Now()
	run, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("bench-floor/%d", begin.UnixNano()), TaskQueue: floorQueue},
		FloorJob, FloorInput{Children: n, Activities: activities, Window: window, PerRun: workflows.DefaultChildrenPerRun})
	if err != nil {
		return floorResult{}, err
	}
	if err := run.Get(ctx, nil); err != nil {
		return floorResult{}, fmt.Errorf("floor: %w", err)
	}
	wall := time.Since(begin).Seconds()
	return floorResult{
		Children: n, ActivitiesEach: activities, WallSeconds: wall, ChildrenPerSecond: float64(n) / wall,
		CPUMillisPerChild: s.sampleCPU().perUnit(cpuBefore, n),
	}, nil
}

// stepPercentiles reads each step's p50 and p95 from job_items: a step ends
// when the next begins (step_status records when each was done).
func stepPercentiles(ctx context.Context, s *stack, jobID int64) (map[vocab.Step]map[string]float64, error) {
	rows, err := s.pool.Query(ctx, `
		WITH t AS (
			SELECT started_at, finished_at,
			       (step_status->'csr'->>'at')::timestamptz AS csr, (step_status->'submit'->>'at')::timestamptz AS submit,
			       (step_status->'poll'->>'at')::timestamptz AS poll, (step_status->'install'->>'at')::timestamptz AS install,
			       (step_status->'revoke'->>'at')::timestamptz AS revoke
			FROM job_items WHERE job_id = $1 AND state IN ('succeeded', 'revoke_na')),
		d AS (
			SELECT 'csr' AS step, csr - started_at AS took FROM t UNION ALL
			SELECT 'submit', submit - csr FROM t UNION ALL
			SELECT 'install', install - coalesce(poll, submit) FROM t UNION ALL
			SELECT 'revoke', revoke - install FROM t)
		SELECT step, 1000 * extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY took)),
		       1000 * extract(epoch FROM percentile_cont(0.95) WITHIN GROUP (ORDER BY took))
		FROM d WHERE took IS NOT NULL GROUP BY step`, jobID)
	if err != nil {
		return nil, fmt.Errorf("step durations: %w", err)
	}
	defer rows.Close()
	out := map[vocab.Step]map[string]float64{}
	for rows.Next() {
		var step vocab.Step
		var p50, p95 float64
		if err := rows.Scan(&step, &p50, &p95); err != nil {
			return nil, err
		}
		out[step] = map[string]float64{"p50": p50, "p95": p95}
	}
	return out, rows.Err()
}

// maxHistory is the longest history among the runs of a workflow ID.
func maxHistory(ctx context.Context, tc client.Client, workflowID string) (int64, int, error) {
	resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: "WorkflowId = '" + workflowID + "'"})
	if err != nil {
		return 0, 0, err
	}
	var longest int64
	for _, e := range resp.Executions {
		desc, err := tc.DescribeWorkflowExecution(ctx, workflowID, e.GetExecution().GetRunId())
		if err != nil {
			return 0, 0, err
		}
		longest = max(longest, desc.GetWorkflowExecutionInfo().GetHistoryLength())
	}
	return longest, len(resp.Executions), nil
}

// fleet starts a simulated fleet of n devices and records them, with a
// profile of the built-in CA (EC P-256), in the inventory.
func (s *stack) fleet(ctx context.Context, n int) error {
	simAddr := freeAddr()
	sim, err := start(s.dir, "devicesim", []string{"CERTFLEET_DEVICESIM_SECRET=" + fleetSecret, "CERTFLEET_LOG_LEVEL=error"},
		s.binary, "devicesim", "-devices", fmt.Sprint(n), "-listen", simAddr, "-dir", s.dir+"/devicesim")
	if err != nil {
		return err
	}
	s.processes = append(s.processes, sim)
	if err := waitFor("devicesim", 30*time.Second, dialable(simAddr)); err != nil {
		return err
	}
	profileID, err := s.createProfile(ctx, "bench cameras", "camera")
	if err != nil {
		return err
	}
	creds := &credentials.Store{Pool: s.pool, KEK: s.keys}
	fleet, err := creds.Create(ctx, store.New(s.pool), credentials.Spec{Name: "bench-fleet", Kind: credentials.Derived, Secret: fleetSecret}, "bench")
	if err != nil {
		return fmt.Errorf("store the fleet's credential: %w", err)
	}
	_, err = s.pool.Exec(ctx, `
		WITH d AS (INSERT INTO devices (id, name, device_type, mode, driver, address, credential_id)
		           SELECT format('sim-%s', CASE WHEN n < 100000 THEN lpad(n::text, 5, '0') ELSE n::text END), 'camera', 'camera', 'NEW', 'agent',
		                  'https://' || $1 || '/devices/' || format('sim-%s', CASE WHEN n < 100000 THEN lpad(n::text, 5, '0') ELSE n::text END), $4::bigint
		           FROM generate_series(1, $2::int) n RETURNING id)
		INSERT INTO device_profiles (device_id, cert_type, profile_id) SELECT id, 'tls', $3 FROM d`, simAddr, n, profileID, fleet.ID)
	if err != nil {
		return fmt.Errorf("record the fleet: %w", err)
	}
	s.deviceIDs = make([]string, n)
	for i := range n {
		s.deviceIDs[i] = fmt.Sprintf("sim-%05d", i+1)
	}
	return nil
}

// createProfile makes a profile of the built-in CA for EC P-256 keys, with the
// CSR's common name.
func (s *stack) createProfile(ctx context.Context, name, deviceType string) (int64, error) {
	p, err := store.New(s.pool).CreateProfile(ctx, store.CreateProfileParams{
		Name: name, CertType: "tls", DeviceType: deviceType,
		SubjectRules: json.RawMessage(`[{"attr":"CN","rule":"from_csr"}]`), SanRules: json.RawMessage(`[]`), ExtraAttributes: json.RawMessage(`[]`),
		KeyAlgorithms: json.RawMessage(`[{"algorithm":"ecdsa","sizes":[256]}]`),
		Validity:      90 * 24 * time.Hour, RenewBefore: 30 * 24 * time.Hour, CaDriver: "local", CaSettings: json.RawMessage(`{}`), MaxCaWait: time.Hour,
	})
	return p.ID, err
}
