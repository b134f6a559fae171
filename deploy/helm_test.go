package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/certfleet/certfleet/internal/testenv"
)

const chart = "helm/certfleet"

// TestHelmChart lints the chart, renders it with Helm for the default values
// and for the production example, validates every object against the
// Kubernetes API types (bin/kubecheck), and checks what the chart promises:
// readiness on /readyz, secrets only by reference, budgets and requests.
func TestHelmChart(t *testing.T) {
	helm := testenv.Tool(t, "helm")
	kubecheck := testenv.Tool(t, "kubecheck")
	for name, values := range map[string][]string{
		"default values":     nil,
		"production example": {"-f", "helm/examples/production.yaml"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(helm, append([]string{"lint", "--strict", chart}, values...)...).CombinedOutput()
			require.NoError(t, err, "helm lint:\n%s", out)
			rendered, err := exec.Command(helm, append([]string{"template", "certfleet", chart}, values...)...).Output()
			require.NoError(t, err, "helm template: %s", stderr(err))
			check := exec.Command(kubecheck)
			check.Stdin = bytes.NewReader(rendered)
			out, err = check.CombinedOutput()
			require.NoError(t, err, "kubecheck:\n%s", out)
			checkObjects(t, parseManifests(t, rendered))
		})
	}
}

// TestHelmChartRefusesMissingSecrets: without the Secrets' names the chart
// does not render, rather than start pods that cannot open their keys.
func TestHelmChartRefusesMissingSecrets(t *testing.T) {
	helm := testenv.Tool(t, "helm")
	for setting, want := range map[string]string{
		"kek.existingSecret=":      "kek.existingSecret names the Secret",
		"database.existingSecret=": "database.existingSecret names the Secret",
	} {
		_, err := exec.Command(helm, "template", "certfleet", chart, "--set", setting).Output()
		require.Error(t, err, setting)
		assert.Contains(t, stderr(err), want)
	}
}

// stderr is what a failed command printed on stderr.
func stderr(err error) string {
	if err == nil {
		return ""
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(exit.Stderr)
	}
	return err.Error()
}

type object map[string]any

// at walks a path of map keys and list indexes ("spec", "template", 0).
func (o object) at(path ...any) any {
	var cur any = map[string]any(o)
	for _, p := range path {
		switch key := p.(type) {
		case string:
			cur = asObject(cur)[key]
		case int:
			l, _ := cur.([]any)
			if key >= len(l) {
				return nil
			}
			cur = l[key]
		}
	}
	return cur
}

// asObject is v as a map; yaml.v3 decodes the maps inside an object as
// objects too.
func asObject(v any) object {
	switch m := v.(type) {
	case object:
		return m
	case map[string]any:
		return m
	}
	return nil
}

func (o object) name() string { return fmt.Sprintf("%v/%v", o.at("kind"), o.at("metadata", "name")) }

func parseManifests(t *testing.T, rendered []byte) map[string]object {
	t.Helper()
	objects := map[string]object{}
	dec := yaml.NewDecoder(bytes.NewReader(rendered))
	for {
		var o object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return objects
		}
		require.NoError(t, err)
		if o.at("kind") != nil { // not a document of comments only
			objects[o.name()] = o
		}
	}
}

func checkObjects(t *testing.T, objects map[string]object) {
	for _, name := range []string{
		"Deployment/certfleet-api", "Deployment/certfleet-worker", "Job/certfleet-migrate", "Service/certfleet",
		"PodDisruptionBudget/certfleet-api", "PodDisruptionBudget/certfleet-worker", "ServiceAccount/certfleet",
	} {
		assert.Contains(t, objects, name)
	}
	for name, o := range objects {
		assert.NotEqual(t, "Secret", o.at("kind"), "the chart never makes a Secret: %s", name)
	}
	api := objects["Deployment/certfleet-api"]
	assert.Equal(t, "/readyz", api.at("spec", "template", "spec", "containers", 0, "readinessProbe", "httpGet", "path"))
	assert.Equal(t, []any{"serve"}, api.at("spec", "template", "spec", "containers", 0, "args"))
	worker := objects["Deployment/certfleet-worker"]
	assert.Equal(t, []any{"worker"}, worker.at("spec", "template", "spec", "containers", 0, "args"))
	assert.Contains(t, objects["Job/certfleet-migrate"].at("metadata", "annotations", "helm.sh/hook"), "pre-upgrade")

	for _, name := range []string{"Deployment/certfleet-api", "Deployment/certfleet-worker", "Job/certfleet-migrate"} {
		container := asObject(objects[name].at("spec", "template", "spec", "containers", 0))
		for _, resource := range []string{"cpu", "memory"} {
			assert.NotNil(t, container.at("resources", "requests", resource), "%s requests %s", name, resource)
		}
		env := map[string]object{}
		envList, _ := container.at("env").([]any)
		for _, e := range envList {
			env[fmt.Sprint(asObject(e)["name"])] = asObject(e)
		}
		for _, secret := range []string{"DATABASE_URL", "CERTFLEET_KEK"} {
			assert.Nil(t, env[secret].at("value"), "%s of %s is a value", secret, name)
			assert.NotEmpty(t, env[secret].at("valueFrom", "secretKeyRef", "name"), "%s of %s comes from a Secret", secret, name)
		}
		if cert := env["TEMPORAL_TLS_CERT"]; cert != nil {
			mounted := false
			mounts, _ := container.at("volumeMounts").([]any)
			for _, m := range mounts {
				mounted = mounted || strings.HasPrefix(fmt.Sprint(cert.at("value")), fmt.Sprint(asObject(m)["mountPath"]))
			}
			assert.True(t, mounted, "%s: Temporal's client certificate is mounted where TEMPORAL_TLS_CERT says", name)
		}
	}
}
