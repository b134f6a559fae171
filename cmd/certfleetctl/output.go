package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
)

// column is one column of a table: its heading and the JSON key it shows.
type column struct{ heading, key string }

// print shows items as a table of columns, or all of their JSON.
func (c *cli) print(items []map[string]any, columns ...column) error {
	if c.json {
		return c.printJSON(items)
	}
	w := tabwriter.NewWriter(c.out, 2, 4, 2, ' ', 0)
	headings := make([]string, len(columns))
	for i, col := range columns {
		headings[i] = col.heading
	}
	fmt.Fprintln(w, strings.Join(headings, "\t"))
	for _, item := range items {
		cells := make([]string, len(columns))
		for i, col := range columns {
			cells[i] = cell(item[col.key])
		}
		fmt.Fprintln(w, strings.Join(cells, "\t"))
	}
	return w.Flush()
}

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// cell renders a JSON value for a table: whole numbers without exponents,
// absent values as a dash.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprint(int64(x))
		}
		return fmt.Sprint(x)
	case string:
		if x == "" {
			return "-"
		}
		return x
	}
	data, _ := json.Marshal(v)
	return string(data)
}
