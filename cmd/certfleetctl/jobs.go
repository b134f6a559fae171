package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

func jobsList(ctx context.Context, c *cli, args []string) error {
	var state string
	if _, err := flags("jobs list", args, 0, func(fs *flag.FlagSet) { fs.StringVar(&state, "state", "active", "active, closed or all") }); err != nil {
		return err
	}
	var page struct {
		Items []map[string]any `json:"items"`
	}
	query := url.Values{"state": {state}, "sort": {"scheduled_at"}, "order": {"desc"}, "limit": {"100"}}
	if err := c.api.JSON(ctx, http.MethodGet, "/api/v1/jobs?"+query.Encode(), nil, &page); err != nil {
		return err
	}
	return c.print(page.Items, column{"ID", "id"}, column{"NAME", "name"}, column{"TYPE", "cert_type"}, column{"STATUS", "status"},
		column{"SCHEDULED", "scheduled_at"}, column{"COMPLETED", "completed_at"}, column{"BY", "created_by"})
}

func jobsCreate(ctx context.Context, c *cli, args []string) error {
	var name, certType, devices, devicesFile string
	if _, err := flags("jobs create", args, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "a name for the job")
		fs.StringVar(&certType, "cert-type", "tls", "tls or ieee8021x")
		fs.StringVar(&devices, "devices", "", "device IDs, comma-separated")
		fs.StringVar(&devicesFile, "devices-file", "", "a file of device IDs, one a line")
	}); err != nil {
		return err
	}
	ids, err := deviceIDs(devices, devicesFile)
	if err != nil {
		return err
	}
	var result map[string]any
	body := map[string]any{"name": name, "cert_type": certType, "device_ids": ids}
	if err := c.api.JSON(ctx, http.MethodPost, "/api/v1/jobs", body, &result); err != nil {
		return err
	}
	if c.json {
		return c.printJSON(result)
	}
	job, _ := result["job"].(map[string]any)
	if job == nil {
		job = result
	}
	fmt.Fprintf(c.out, "job %s created for %d devices; follow it with: certfleetctl jobs watch %s\n", cell(job["id"]), len(ids), cell(job["id"]))
	if skipped, _ := result["skipped"].([]any); len(skipped) > 0 {
		fmt.Fprintf(c.out, "%d devices skipped: %s\n", len(skipped), cell(skipped))
	}
	return nil
}

func deviceIDs(list, file string) ([]string, error) {
	text := strings.ReplaceAll(list, ",", "\n")
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		text += "\n" + string(data)
	}
	ids := slices.DeleteFunc(strings.Fields(text), func(s string) bool { return s == "" })
	if len(ids) == 0 {
		return nil, fmt.Errorf("jobs create: no devices; give -devices or -devices-file")
	}
	return ids, nil
}

// jobDetail is what the watch reads of GET /api/v1/jobs/{id}.
type jobDetail struct {
	Job struct {
		ID          int64      `json:"id"`
		Status      string     `json:"status"`
		CompletedAt *time.Time `json:"completed_at"`
	} `json:"job"`
	Outcomes map[string]int `json:"outcomes"`
}

// jobsWatch draws a progress bar of a job's items until it ends.
func jobsWatch(ctx context.Context, c *cli, args []string) error {
	id, err := idArg("jobs watch", args, nil)
	if err != nil {
		return err
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var d jobDetail
		if err := c.api.JSON(ctx, http.MethodGet, "/api/v1/jobs/"+id, nil, &d); err != nil {
			return err
		}
		if c.json {
			if d.Job.CompletedAt != nil {
				return json.NewEncoder(c.out).Encode(d)
			}
		} else {
			fmt.Fprintf(c.out, "\r%-*s", lineWidth, progressLine(d)) // padded: a shorter line leaves nothing of the last
		}
		if d.Job.CompletedAt != nil {
			if !c.json {
				fmt.Fprintln(c.out)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(c.out)
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// barWidth is the progress bar's width in characters, lineWidth the
// whole line's at least.
const (
	barWidth  = 30
	lineWidth = 100
)

// progressLine is one line: a bar of finished items, the counts by outcome,
// and the job's state.
func progressLine(d jobDetail) string {
	total, open := 0, d.Outcomes["pending"]+d.Outcomes["in_progress"]
	var parts []string
	states := make([]string, 0, len(d.Outcomes))
	for state := range d.Outcomes {
		states = append(states, state)
	}
	slices.Sort(states)
	for _, state := range states {
		n := d.Outcomes[state]
		total += n
		if n > 0 && state != "pending" && state != "in_progress" {
			parts = append(parts, fmt.Sprintf("%s %d", state, n))
		}
	}
	done := total - open
	filled := 0
	if total > 0 {
		filled = done * barWidth / total
	}
	bar := strings.Repeat("#", filled) + strings.Repeat(".", barWidth-filled)
	return fmt.Sprintf("job %d [%s] %d/%d  %s  (%s)", d.Job.ID, bar, done, total, strings.Join(parts, ", "), d.Job.Status)
}

func jobsItems(ctx context.Context, c *cli, args []string) error {
	var state string
	id, err := idArg("jobs items", args, func(fs *flag.FlagSet) { fs.StringVar(&state, "state", "", "an item state, e.g. device_failure") })
	if err != nil {
		return err
	}
	query := url.Values{}
	setIf(query, "state", state)
	items, err := c.api.List(ctx, "/api/v1/jobs/"+id+"/items", query, 0)
	if err != nil {
		return err
	}
	return c.print(items, column{"DEVICE", "device_id"}, column{"STATE", "state"}, column{"STEP", "step"},
		column{"CERTIFICATE", "issued_certificate_id"}, column{"ERROR", "last_error"})
}

func jobsHalt(ctx context.Context, c *cli, args []string) error {
	return jobAction(ctx, c, args, "halt")
}

func jobsRetry(ctx context.Context, c *cli, args []string) error {
	return jobAction(ctx, c, args, "retry")
}

// jobAction posts one of a job's actions and says what the API answered.
func jobAction(ctx context.Context, c *cli, args []string, action string) error {
	id, err := idArg("jobs "+action, args, nil)
	if err != nil {
		return err
	}
	var result map[string]any
	if err := c.api.JSON(ctx, http.MethodPost, "/api/v1/jobs/"+id+"/"+action, map[string]any{}, &result); err != nil {
		return err
	}
	if c.json {
		return c.printJSON(result)
	}
	switch action {
	case "halt":
		fmt.Fprintf(c.out, "job %s halting\n", id)
	default:
		job, _ := result["job"].(map[string]any)
		if job == nil {
			job = result
		}
		fmt.Fprintf(c.out, "job %s retries the failed items of job %s; follow it with: certfleetctl jobs watch %s\n", cell(job["id"]), id, cell(job["id"]))
	}
	return nil
}
