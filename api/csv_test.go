package api_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/db/store"
)

func TestDeviceImport(t *testing.T) {
	w := newAPIWorld(t)
	status, body := w.operator.do("POST", "/api/v1/devices", map[string]any{"id": "cam-9", "name": "existing", "device_type": "camera"})
	require.Equal(t, http.StatusCreated, status, body)

	w.lanCredential(t)
	upload := "id,name,device_type,address,credential\r\n" +
		"cam-1,Lobby,camera,https://10.0.0.1:9443,cams-lan\r\n" + // line 2: good
		"cam-2,\"Gate, north\",gateway,,\r\n" + // line 3: good, a quoted comma
		"bad id,X,camera,,\r\n" + // line 4: bad ID
		"cam-3,Y,toaster,,\r\n" + // line 5: unknown type
		"cam-1,again,camera,,\r\n" + // line 6: repeats line 2
		"cam-9,dup,camera,,\r\n" + // line 7: exists already
		"cam-4,short\r\n" // line 8: too few fields

	status, body = w.operator.do("POST", "/api/v1/devices/import?all_or_nothing=true", upload)
	require.Equal(t, http.StatusBadRequest, status, body)
	_, list := w.auditor.do("GET", "/api/v1/devices", nil)
	assert.Len(t, list["items"], 1, "all or nothing: nothing was created")

	status, body = w.operator.do("POST", "/api/v1/devices/import", upload)
	require.Equal(t, http.StatusMultiStatus, status, "some rows were not imported: %v", body)
	assert.Equal(t, float64(2), body["created"])
	lines := map[float64]string{}
	for _, e := range body["errors"].([]any) {
		row := e.(map[string]any)
		lines[row["line"].(float64)] = fmt.Sprint(row["field"], ": ", row["message"])
	}
	assert.Len(t, lines, 5)
	for line, want := range map[float64]string{4: "id", 5: "device_type", 6: "repeats line 2", 7: "exists", 8: "fields"} {
		assert.Contains(t, lines[line], want, "line %v", line)
	}
	status, body = w.operator.do("POST", "/api/v1/devices/import", "id,name,device_type\r\ncam-5,Clean,camera\r\n")
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, []any{}, body["errors"], "a clean import lists no errors, not null")
	_, device := w.auditor.do("GET", "/api/v1/devices/cam-2", nil)
	assert.Equal(t, "Gate, north", device["name"])

	for name, bad := range map[string]string{
		"unknown column":   "id,name,device_type,secret\r\nx,y,camera,z\r\n",
		"missing column":   "id,name\r\nx,y\r\n",
		"unterminated":     "id,name,device_type\r\n\"x,y,camera\r\n",
		"no rows":          "id,name,device_type\r\n",
		"over the row cap": "id,name,device_type\r\n" + strings.Repeat("x,y,camera\r\n", 10_001),
	} {
		status, body := w.operator.do("POST", "/api/v1/devices/import", bad)
		assert.Equal(t, http.StatusBadRequest, status, "%s: %v", name, body)
	}
	status, _ = w.auditor.do("POST", "/api/v1/devices/import", upload)
	assert.Equal(t, http.StatusForbidden, status)
}

func TestJobsCSVRoundTrips(t *testing.T) {
	w := newAPIWorld(t)
	q := store.New(w.pool)
	for _, name := range []string{`renew "north", gate`, "plain"} {
		_, err := q.CreateJob(context.Background(), store.CreateJobParams{Name: name, CertType: "tls", CreatedBy: "alice", ScheduledAt: time.Now()})
		require.NoError(t, err)
	}
	req, err := http.NewRequest("GET", w.auditor.srv.URL+"/api/v1/jobs.csv?sort=name&order=asc", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+w.auditor.token)
	resp, err := w.auditor.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Contains(t, string(data), "\r\n", "RFC 4180 line endings")
	records, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
	require.NoError(t, err)
	require.Len(t, records, 3)
	assert.Equal(t, "plain", records[1][1])
	assert.Equal(t, `renew "north", gate`, records[2][1], "quotes and commas survive")
	assert.Equal(t, "certjob/1", records[2][8])
}
