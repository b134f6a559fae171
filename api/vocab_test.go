package api_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/vocab"
)

// TestOpenAPIEnumsMatchVocab: the OpenAPI document lists the steps, item
// states and CA request statuses that vocab defines and the API accepts.
func TestOpenAPIEnumsMatchVocab(t *testing.T) {
	data, err := os.ReadFile("openapi.json")
	require.NoError(t, err)
	var doc struct {
		Paths      map[string]map[string]enumOperation `json:"paths"`
		Components struct {
			Schemas map[string]enumSchema `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(data, &doc))
	schemas := doc.Components.Schemas
	assert.Equal(t, asStrings(vocab.Steps), schemas["JobStep"].Enum)
	assert.Equal(t, asStrings(vocab.ItemStates), schemas["JobItemState"].Enum)
	assert.Equal(t, asStrings(vocab.RequestStatuses), schemas["CARequestStatus"].Enum)
	assert.Equal(t, asStrings(vocab.JobStatuses), schemas["JobStatus"].Enum)

	assert.Equal(t, "#/components/schemas/JobItemState", doc.Paths["/api/v1/jobs/{id}/items"]["get"].param("state").Ref)
	status := doc.Paths["/api/v1/ca-requests"]["get"].param("status")
	require.Len(t, status.OneOf, 2)
	assert.Equal(t, "#/components/schemas/CARequestStatus", status.OneOf[0].Ref)
	assert.Equal(t, []string{"all"}, status.OneOf[1].Enum)
}

type enumSchema struct {
	Ref   string       `json:"$ref"`
	Enum  []string     `json:"enum"`
	OneOf []enumSchema `json:"oneOf"`
}

type enumOperation struct {
	Parameters []struct {
		Name   string     `json:"name"`
		Schema enumSchema `json:"schema"`
	} `json:"parameters"`
}

func (o enumOperation) param(name string) enumSchema {
	for _, p := range o.Parameters {
		if p.Name == name {
			return p.Schema
		}
	}
	return enumSchema{}
}

func asStrings[T ~string](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}
