package workflows

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestRunScriptRegistersSearchAttributes keeps `make run`'s dev server flags in
// step with the search attributes the workflows set.
func TestRunScriptRegistersSearchAttributes(t *testing.T) {
	script, err := os.ReadFile("../scripts/run.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range SearchAttributes {
		assert.Contains(t, string(script), "--search-attribute "+key.GetName()+"="+key.GetValueType().String())
	}
}
