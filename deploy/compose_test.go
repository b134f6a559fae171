// Package deploy holds what a containerized deployment needs beyond the root
// docker-compose.yml and Dockerfile. Its test validates the compose file on
// machines without a container engine (`make compose-check`).
package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/certfleet/certfleet/config"
)

type composeFile struct {
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

type service struct {
	Image       string                       `yaml:"image"`
	Build       any                          `yaml:"build"`
	Command     any                          `yaml:"command"`
	DependsOn   map[string]map[string]string `yaml:"depends_on"`
	Environment map[string]any               `yaml:"environment"`
	Ports       []string                     `yaml:"ports"`
	Volumes     []string                     `yaml:"volumes"`
	Healthcheck map[string]any               `yaml:"healthcheck"`
}

// TestComposeFile checks what `docker compose config` would, and more: every
// reference resolves, every variable has a default, and certfleet's services
// are configured only with settings certfleet reads.
func TestComposeFile(t *testing.T) {
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose composeFile
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("docker-compose.yml does not parse: %v", err)
	}
	if len(compose.Services) == 0 {
		t.Fatal("docker-compose.yml defines no services")
	}
	for _, want := range []string{"postgres", "temporal-schema", "temporal-history", "temporal-matching", "temporal-frontend", "temporal-worker", "temporal-ui", "certfleet-migrate", "certfleet"} {
		if _, ok := compose.Services[want]; !ok {
			t.Errorf("service %s is missing", want)
		}
	}
	hostPorts := map[string]string{}
	for name, svc := range compose.Services {
		checkService(t, name, svc, compose)
		for _, port := range svc.Ports {
			host := strings.SplitN(port, ":", 2)[0]
			if other, dup := hostPorts[host]; dup {
				t.Errorf("services %s and %s both publish host port %s", name, other, host)
			}
			hostPorts[host] = name
		}
	}
	checkVariables(t, string(raw))
}

func checkService(t *testing.T, name string, svc service, compose composeFile) {
	t.Helper()
	if svc.Image == "" && svc.Build == nil {
		t.Errorf("service %s has neither image nor build", name)
	}
	for dep, opts := range svc.DependsOn {
		target, ok := compose.Services[dep]
		if !ok {
			t.Errorf("service %s depends on unknown service %s", name, dep)
			continue
		}
		switch cond := opts["condition"]; cond {
		case "service_started", "service_completed_successfully":
		case "service_healthy":
			if target.Healthcheck == nil {
				t.Errorf("service %s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
			}
		default:
			t.Errorf("service %s: unknown depends_on condition %q", name, cond)
		}
	}
	for _, volume := range svc.Volumes {
		source := strings.SplitN(volume, ":", 2)[0]
		if strings.HasPrefix(source, ".") || strings.HasPrefix(source, "/") {
			if _, err := os.Stat(filepath.Join("..", source)); err != nil {
				t.Errorf("service %s mounts %s, which does not exist", name, source)
			}
		} else if _, ok := compose.Volumes[source]; !ok {
			t.Errorf("service %s uses volume %s, which is not declared", name, source)
		}
	}
	if svc.Build != nil {
		checkCertfleetService(t, name, svc)
	}
}

// checkCertfleetService checks a service built from this repository.
func checkCertfleetService(t *testing.T, name string, svc service) {
	t.Helper()
	if svc.Build != "." {
		t.Errorf("service %s: build context %v, want the repository root", name, svc.Build)
	}
	if _, err := os.Stat("../Dockerfile"); err != nil {
		t.Errorf("service %s is built from a Dockerfile that does not exist", name)
	}
	known := make([]string, 0, len(config.Settings))
	for _, s := range config.Settings {
		known = append(known, s.Env)
	}
	for key := range svc.Environment {
		if !slices.Contains(known, key) {
			t.Errorf("service %s sets %s, which certfleet does not read", name, key)
		}
	}
	command, _ := svc.Command.([]any)
	if len(command) == 0 || !slices.Contains([]any{"all", "serve", "worker", "migrate"}, command[0]) {
		t.Errorf("service %s: command %v is not a certfleet subcommand", name, svc.Command)
	}
}

var variable = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}`)

// checkVariables requires a default for every interpolated variable, so that
// `docker compose up` works with no .env file. "$$" escapes are for containers.
func checkVariables(t *testing.T, raw string) {
	t.Helper()
	unescaped := strings.ReplaceAll(raw, "$$", "")
	for _, m := range variable.FindAllStringSubmatch(unescaped, -1) {
		if !strings.HasPrefix(m[2], ":-") {
			t.Errorf("variable %s has no default (write ${%s:-value})", m[1], m[1])
		}
	}
}

// TestComposeRunsTemporalAsMakeClusterDoes: compose's Temporal services and
// `make cluster` start the server from the same configuration file, so the
// two shapes cannot drift apart.
func TestComposeRunsTemporalAsMakeClusterDoes(t *testing.T) {
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Entrypoint []string `yaml:"entrypoint"`
			Volumes    []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile("../scripts/cluster.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(script), "--config deploy/temporal/config --env cluster") {
		t.Error("scripts/cluster.sh does not start Temporal from deploy/temporal/config/cluster.yaml")
	}
	for _, name := range []string{"history", "matching", "frontend", "worker"} {
		svc := compose.Services["temporal-"+name]
		command := strings.Join(svc.Entrypoint, " ")
		if !strings.Contains(command, "--config etc/certfleet/temporal/config --env cluster") || !strings.Contains(command, "--service "+name) {
			t.Errorf("temporal-%s does not run the %s service from the cluster configuration: %s", name, name, command)
		}
		if !slices.Contains(svc.Volumes, "./deploy/temporal:/etc/certfleet/temporal:ro") {
			t.Errorf("temporal-%s does not mount deploy/temporal: %v", name, svc.Volumes)
		}
	}
}
