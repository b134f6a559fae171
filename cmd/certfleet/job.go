package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/certfleet/certfleet/config"
	"github.com/certfleet/certfleet/db"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/temporalconn"
	"github.com/certfleet/certfleet/workflows"
)

var jobSettings = []config.Setting{
	{Flag: "name", Env: "CERTFLEET_JOB_NAME", Usage: "job name (create)"},
	{Flag: "devices", Env: "CERTFLEET_JOB_DEVICES", Usage: "comma-separated device IDs (create)"},
	{Flag: "devices-file", Env: "CERTFLEET_JOB_DEVICES_FILE", Usage: "file of device IDs, one per line (create)"},
	{Flag: "cert-type", Env: "CERTFLEET_JOB_CERT_TYPE", Default: "tls", Usage: "tls or ieee8021x (create)"},
	{Flag: "start-at", Env: "CERTFLEET_JOB_START_AT", Usage: "RFC 3339 start time; now if empty (create)"},
	{Flag: "window", Env: "CERTFLEET_JOB_WINDOW", Default: "0", Usage: "devices in flight at once, up to 500; 0 for the default (create)"},
	{Flag: "step-deadline", Env: "CERTFLEET_JOB_STEP_DEADLINE", Default: "0s", Usage: "how long each step retries; 0s for the defaults (create)"},
	{Flag: "by", Env: "USER", Default: "cli", Usage: "who creates the job (create)"},
}

const jobUsage = `Usage:
  certfleet job create -name NAME (-devices ID,ID,… | -devices-file FILE) [-cert-type tls] [-start-at TIME]
  certfleet job halt ID
  certfleet job status ID
`

// runJob is `certfleet job`: create, halt and watch certificate jobs until
// the API does it for operators.
func runJob(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, jobUsage)
		return errUsage
	}
	verb, rest := args[0], args[1:]
	var target string
	if verb != "create" {
		if len(rest) == 0 {
			fmt.Fprint(stderr, jobUsage)
			return errUsage
		}
		target, rest = rest[0], rest[1:]
	}
	cfg, values, err := config.LoadWith("job "+verb, jobSettings, rest, os.LookupEnv, stderr)
	if err != nil {
		return err
	}
	// Check what was asked before connecting anywhere.
	var spec jobs.Spec
	var id int64
	switch verb {
	case "create":
		if spec, err = jobSpec(values); err != nil {
			return err
		}
	case "halt", "status":
		if id, err = strconv.ParseInt(target, 10, 64); err != nil {
			return fmt.Errorf("job ID %q is not a number", target)
		}
	default:
		fmt.Fprint(stderr, jobUsage)
		return errUsage
	}
	pool, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	tc, err := temporalconn.Dial(ctx, cfg.TemporalAddress, cfg.TemporalNamespace, cfg.TemporalTLS, newLogger(cfg, io.Discard))
	if err != nil {
		return err
	}
	defer tc.Close()
	svc := &jobs.Service{Pool: pool, Temporal: tc, TaskQueue: cfg.TaskQueue, Horizon: cfg.JobHorizon, AfterCommit: crashAfterCommit()}

	switch verb {
	case "create":
		job, err := svc.Create(ctx, spec, func(q *store.Queries, job jobs.Created) error {
			return auditJob(ctx, q, spec.CreatedBy, "job.create", job.ID, map[string]any{"name": job.Name, "devices": len(spec.DeviceIDs), "skipped": job.Skipped})
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "job %d created for %d devices; workflow %s\n", job.ID, len(spec.DeviceIDs), workflows.JobWorkflowID(job.ID))
		for _, skipped := range job.Skipped {
			fmt.Fprintf(stdout, "skipped %s: %s\n", skipped.DeviceID, skipped.Reason)
		}
		return nil
	case "halt":
		// The signal cannot share a transaction: record the halt first.
		q := store.New(pool)
		if _, err := q.GetJob(ctx, id); err != nil {
			return fmt.Errorf("job %d: %w", id, err)
		}
		if err := auditJob(ctx, q, values["by"], "job.halt", id, nil); err != nil {
			return err
		}
		if err := svc.Halt(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "halt sent to job %d\n", id)
		return nil
	}
	return jobStatus(ctx, svc, id, stdout)
}

// auditJob records a job change made from the command line under
// cli:<by>, as the API records its own.
func auditJob(ctx context.Context, q *store.Queries, by, action string, jobID int64, details map[string]any) error {
	data := []byte("{}")
	if details != nil {
		var err error
		if data, err = json.Marshal(details); err != nil {
			return fmt.Errorf("audit %s of job %d: %w", action, jobID, err)
		}
	}
	return q.RecordAudit(ctx, store.RecordAuditParams{
		Actor: "cli:" + by, Action: action, ObjectType: "job", ObjectIds: []string{strconv.FormatInt(jobID, 10)}, Details: data,
	})
}

// jobSpec reads a job to create from the command's settings.
func jobSpec(values map[string]string) (jobs.Spec, error) {
	devices, err := deviceList(values["devices"], values["devices-file"])
	if err != nil {
		return jobs.Spec{}, err
	}
	spec := jobs.Spec{Name: values["name"], CertType: values["cert-type"], CreatedBy: values["by"], DeviceIDs: devices}
	if spec.Window, err = strconv.Atoi(values["window"]); err != nil {
		return jobs.Spec{}, fmt.Errorf("window: %w", err)
	}
	if spec.StepDeadline, err = time.ParseDuration(values["step-deadline"]); err != nil {
		return jobs.Spec{}, fmt.Errorf("step-deadline: %w", err)
	}
	if s := values["start-at"]; s != "" {
		if spec.StartAt, err = time.Parse(time.RFC3339, s); err != nil {
			return jobs.Spec{}, fmt.Errorf("start-at: %w", err)
		}
	}
	if spec.Name == "" {
		return jobs.Spec{}, errors.New("name: required")
	}
	return spec, nil
}

func deviceList(inline, file string) ([]string, error) {
	text := inline
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("devices-file: %w", err)
		}
		text += "\n" + string(data)
	}
	var ids []string
	for _, f := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == '\n' || r == ' ' || r == '\r' }) {
		ids = append(ids, f)
	}
	if len(ids) == 0 {
		return nil, errors.New("no devices: give -devices or -devices-file")
	}
	return ids, nil
}

// jobStatus prints the job's stored state and item counts from Postgres
// and, only while the job runs, what its workflow alone knows (live), if it
// answers within jobs.LiveTimeout: a finished job shows its stored state.
func jobStatus(ctx context.Context, svc *jobs.Service, id int64, stdout io.Writer) error {
	q := store.New(svc.Pool)
	job, err := q.GetJob(ctx, id)
	if err != nil {
		return fmt.Errorf("job %d: %w", id, err)
	}
	counts, err := q.CountJobItemsByState(ctx, id)
	if err != nil {
		return err
	}
	status := map[string]any{"job": job.ID, "name": job.Name, "status": job.Status, "items": counts}
	if job.CompletedAt == nil {
		if live, ok := svc.LiveProgress(ctx, id); ok {
			status["live"] = live
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(status)
}
