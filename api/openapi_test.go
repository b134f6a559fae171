package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/internal/testenv"
)

// TestOpenAPIMatchesRoutes fails when a route is missing from the OpenAPI
// document, or the document lists a route that does not exist.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	pool, _ := testenv.Database(t)
	handler := api.New(api.Deps{Logger: quiet, Pool: pool})
	engine, ok := handler.(*gin.Engine)
	require.True(t, ok)
	param := regexp.MustCompile(`[:*](\w+)`) // gin's :name and catch-all *name are OpenAPI's {name}
	var routes []string
	for _, r := range engine.Routes() {
		routes = append(routes, strings.ToLower(r.Method)+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}

	srv := httptest.NewServer(handler)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/api/v1/openapi.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(data, &doc))
	assert.Equal(t, "3.0.3", doc.OpenAPI)
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, method+" "+path)
		}
	}
	sort.Strings(routes)
	sort.Strings(documented)
	assert.Equal(t, routes, documented)
}
