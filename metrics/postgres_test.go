package metrics

import "testing"

// TestQueryName: a query's label is its sqlc name or one of a few fixed
// words, never the SQL itself, so that the label set stays bounded.
func TestQueryName(t *testing.T) {
	for sql, want := range map[string]string{
		"-- name: StartItemStep :execrows\nUPDATE job_items SET step = $3": "StartItemStep",
		"-- name: GetDevice :one\nSELECT * FROM devices":                   "GetDevice",
		"begin":                              "begin",
		"BEGIN ISOLATION LEVEL SERIALIZABLE": "begin",
		"commit":                             "commit",
		" rollback ":                         "rollback",
		"SELECT 1 FROM devices WHERE id = 'cam-1'": "other",
		"": "other",
	} {
		if got := queryName(sql); got != want {
			t.Errorf("queryName(%q) = %q, want %q", sql, got, want)
		}
	}
}
