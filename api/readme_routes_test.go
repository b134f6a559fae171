package api_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestREADMERouteTableCoversEveryRoute: every path of the OpenAPI document
// (which another test holds to the routes that exist) appears in the README's
// route table, in full or as `…/<tail>` in a row that names its resource, so
// a new route cannot go undocumented.
func TestREADMERouteTableCoversEveryRoute(t *testing.T) {
	data, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "| `GET ") || strings.HasPrefix(line, "| `POST ") ||
			strings.HasPrefix(line, "| `PUT ") || strings.HasPrefix(line, "| `DELETE ") {
			rows = append(rows, line)
		}
	}
	if len(rows) == 0 {
		t.Fatal("no route table in README.md")
	}
	var missing []string
	for path := range doc.Paths {
		if !documented(path, rows) {
			missing = append(missing, path)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("README's route table lacks %d routes of openapi.json:\n  %s", len(missing), strings.Join(missing, "\n  "))
	}
}

// documented: path is in a row, or a row names its resource (e.g.
// /api/v1/trust-anchors) and `…/<tail>` for some tail of path.
func documented(path string, rows []string) bool {
	segments := strings.Split(strings.TrimPrefix(path, "/"), "/")
	resource := path
	if len(segments) > 3 && segments[0] == "api" {
		resource = "/" + strings.Join(segments[:3], "/")
	}
	for _, row := range rows {
		if strings.Contains(row, path+"`") || strings.Contains(row, path+" ") {
			return true
		}
		if !strings.Contains(row, resource) {
			continue
		}
		for k := 1; k < len(segments); k++ {
			if strings.Contains(row, "…/"+strings.Join(segments[len(segments)-k:], "/")) {
				return true
			}
		}
	}
	return false
}
