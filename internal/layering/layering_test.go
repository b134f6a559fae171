package layering_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/certfleet/certfleet/"

// rules: a package, and the package prefixes it must not depend on, even
// through others.
var rules = []struct {
	pkg       string
	forbidden []string
	why       string
}{
	{"api", []string{"drivers/ca/", "drivers/device/", "drivers/registry"}, "the API asks the registry, through an interface, and names no driver"},
	{"drivers/ca/est", []string{"est"}, "the EST CA driver shares the wire codec (estwire), not the server"},
	{"agentproto", []string{"drivers"}, "the agent protocol is below the drivers that speak it"},
	{"devicesim", []string{"drivers"}, "the simulated fleet speaks the agent protocol, as a device does"},
	{"devicesim/onvif", []string{"drivers"}, "simulated ONVIF cameras share the wire types (onvifwire) with the driver, not the driver"},
	{"devicesim/axis", []string{"drivers"}, "simulated Axis cameras share the wire types (vapixwire) with the driver, not the driver"},
	{"onvifwire", []string{"drivers", "devicesim"}, "the ONVIF wire types are below both ends"},
	{"deviceagent", []string{"drivers"}, "the device agent speaks the agent protocol, as a device does"},
	{"console", []string{"db", "drivers", "workflows", "activities"}, "the web console speaks the API, as any client does"},
	{"enroll", []string{"est", "scep"}, "what EST and SCEP share is below both"},
	{"est", []string{"scep"}, "EST and SCEP share package enroll, not each other"},
	{"scep", []string{"est"}, "EST and SCEP share package enroll, not each other"},
	{"cmd/certfleetctl", []string{"db", "drivers", "workflows", "jobs"}, "the command line goes through the API, never to the database"},
}

func TestImportGraph(t *testing.T) {
	for _, r := range rules {
		out, err := exec.Command("go", "list", "-deps", module+r.pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", r.pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			rel, ok := strings.CutPrefix(dep, module)
			if !ok {
				continue
			}
			for _, f := range r.forbidden {
				if under(rel, f) {
					t.Errorf("%s depends on %s: %s", r.pkg, rel, r.why)
				}
			}
		}
	}
}

// under reports whether package rel is f, or below it; a trailing slash in f
// means only below it.
func under(rel, f string) bool {
	if strings.HasSuffix(f, "/") {
		return strings.HasPrefix(rel, f)
	}
	return rel == f || strings.HasPrefix(rel, f+"/")
}
