package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/certfleet/certfleet/internal/testenv"
)

// TestAlertRulesAndDashboard checks the monitoring files with Prometheus'
// own checker: the alert rules, the example configuration, and every query
// of the Grafana dashboard (as recording rules, which promtool parses as
// PromQL). That every metric they name is exported is checked against a
// running certfleet by cmd/certfleet's TestMetricsAndAlertsDuringAJob.
func TestAlertRulesAndDashboard(t *testing.T) {
	promtool := testenv.Command(t, "promtool")
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("check", "rules", "prometheus/alerts.yml")
	run("check", "config", "prometheus/prometheus.yml")

	exprs := dashboardQueries(t, "grafana/certfleet.json")
	if len(exprs) < 10 {
		t.Fatalf("the dashboard has %d queries; it shows more than that", len(exprs))
	}
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, e := range exprs {
		rules = append(rules, rule{Record: fmt.Sprintf("dashboard:query_%d", i), Expr: strings.ReplaceAll(e, "$__rate_interval", "5m")})
	}
	data, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	run("check", "rules", path)
}

// dashboardQueries are the PromQL queries of a Grafana dashboard's panels.
func dashboardQueries(t testing.TB, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dashboard struct {
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dashboard); err != nil {
		t.Fatalf("%s does not parse: %v", path, err)
	}
	var exprs []string
	for _, p := range dashboard.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			exprs = append(exprs, target.Expr)
		}
	}
	return exprs
}
