package api_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/db/store"
)

// TestClearTLSPin: only an admin may forget a device's TLS pin; the pin is
// gone afterwards and the audit log says whose it was.
func TestClearTLSPin(t *testing.T) {
	ctx := context.Background()
	w := newAPIWorld(t)
	q := store.New(w.pool)
	_, err := q.CreateDevice(ctx, store.CreateDeviceParams{ID: "gw-1", Name: "gw", DeviceType: "camera", Mode: "OPERATIONAL", Driver: "agent"})
	require.NoError(t, err)
	pin := make([]byte, 32)
	pin[0] = 0xab
	n, err := q.PinDeviceTLS(ctx, store.PinDeviceTLSParams{ID: "gw-1", TlsPin: pin})
	require.NoError(t, err)
	require.EqualValues(t, 1, n)

	for _, refused := range []apiClient{w.operator, w.auditor} {
		status, body := refused.do("DELETE", "/api/v1/devices/gw-1/tls-pin", nil)
		assert.Equal(t, http.StatusForbidden, status, "%v", body)
	}
	stored, err := q.GetDevice(ctx, "gw-1")
	require.NoError(t, err)
	require.Equal(t, pin, stored.TlsPin, "a refused request keeps the pin")

	status, body := w.admin.do("DELETE", "/api/v1/devices/gw-1/tls-pin", nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, false, body["tls_pinned"])
	stored, err = q.GetDevice(ctx, "gw-1")
	require.NoError(t, err)
	assert.Nil(t, stored.TlsPin, "the next contact pins the device again")
	status, _ = w.admin.do("DELETE", "/api/v1/devices/gw-9/tls-pin", nil)
	assert.Equal(t, http.StatusNotFound, status)

	rows := auditRows(t, w.pool)
	require.Len(t, rows, 1, "one audit row: the clear that happened")
	assert.Equal(t, "device.clear_tls_pin", rows[0].Action)
	assert.Equal(t, []string{"gw-1"}, rows[0].ObjectIds)
	assert.Equal(t, "token:admin-token#1", rows[0].Actor)
	var details map[string]string
	require.NoError(t, json.Unmarshal(rows[0].Details, &details))
	assert.Equal(t, hex.EncodeToString(pin), details["previous_pin"])
}

// TestDeviceDriverSettings: the registry checks a device's address and
// settings as its driver reads them; a refused device is not created.
func TestDeviceDriverSettings(t *testing.T) {
	w := newAPIWorld(t)
	recipe := map[string]any{"recipes": map[string]any{"tls": map[string]any{
		"key_path": "/etc/ssl/private/gw.key", "cert_path": "/etc/ssl/certs/gw.pem", "reload": []string{"systemctl", "reload", "nginx"},
	}}}
	device := func(id, driver, address string, settings any) map[string]any {
		return map[string]any{"id": id, "name": id, "device_type": "gateway", "driver": driver, "address": address, "driver_settings": settings}
	}
	for name, tc := range map[string]struct {
		body  map[string]any
		field string
	}{
		"ssh without recipe":  {device("gw-1", "ssh", "ssh://10.0.0.1", nil), "driver_settings"},
		"ssh with https":      {device("gw-1", "ssh", "https://10.0.0.1", recipe), "address"},
		"ssh with user":       {device("gw-1", "ssh", "ssh://root@10.0.0.1", recipe), "address"},
		"ssh with bad path":   {device("gw-1", "ssh", "ssh://10.0.0.1", map[string]any{"recipes": map[string]any{"tls": map[string]any{"key_path": "/a b", "cert_path": "/c"}}}), "driver_settings"},
		"agent with settings": {device("gw-1", "agent", "https://10.0.0.1", recipe), "driver_settings"},
		"agent with ssh":      {device("gw-1", "agent", "ssh://10.0.0.1", nil), "address"},
		"settings not object": {device("gw-1", "ssh", "ssh://10.0.0.1", "recipes"), "driver_settings"},
	} {
		status, body := w.admin.do("POST", "/api/v1/devices", tc.body)
		assert.Equal(t, http.StatusBadRequest, status, "%s: %v", name, body)
		assert.Contains(t, fmt.Sprint(body), tc.field, name)
	}
	status, _ := w.admin.do("GET", "/api/v1/devices/gw-1", nil)
	assert.Equal(t, http.StatusNotFound, status, "no refused device was created")

	status, body := w.admin.do("POST", "/api/v1/devices", device("gw-1", "ssh", "ssh://10.0.0.1:2222", recipe))
	require.Equal(t, http.StatusCreated, status, "%v", body)
	status, body = w.admin.do("GET", "/api/v1/devices/gw-1", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "ssh://10.0.0.1:2222", body["address"])
	assert.Equal(t, "/etc/ssl/certs/gw.pem", body["driver_settings"].(map[string]any)["recipes"].(map[string]any)["tls"].(map[string]any)["cert_path"])
}

// TestInventoryRefusals: reading what a device holds is an operator's call,
// for a device certfleet can reach.
func TestInventoryRefusals(t *testing.T) {
	ctx := context.Background()
	w := newAPIWorld(t)
	q := store.New(w.pool)
	for id, driver := range map[string]string{"gw-1": "agent", "est-1": "est", "gw-2": "agent"} {
		_, err := q.CreateDevice(ctx, store.CreateDeviceParams{ID: id, Name: id, DeviceType: "camera", Mode: "OPERATIONAL", Driver: driver})
		require.NoError(t, err)
	}
	_, err := q.SetDeviceMode(ctx, store.SetDeviceModeParams{ID: "gw-2", Mode: "DISABLED"})
	require.NoError(t, err)
	status, _ := w.auditor.do("POST", "/api/v1/devices/gw-1/inventory", nil)
	assert.Equal(t, http.StatusForbidden, status)
	for path, want := range map[string]int{"gw-9": http.StatusNotFound, "est-1": http.StatusConflict, "gw-2": http.StatusConflict} {
		status, body := w.operator.do("POST", "/api/v1/devices/"+path+"/inventory", nil)
		assert.Equal(t, want, status, "%s: %v", path, body)
	}
	var n int
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT count(*) FROM certificates`).Scan(&n))
	assert.Zero(t, n, "nothing was recorded")
}

// TestDeviceListSorted pages through the devices two at a time by name
// (ties included) and by ID, either way, and finds each device once, in order.
func TestDeviceListSorted(t *testing.T) {
	w := newAPIWorld(t)
	names := map[string]string{"d-1": "Lobby", "d-2": "Atrium", "d-3": "Lobby", "d-4": "Zone", "d-5": "Bay", "d-6": "Garage"}
	for id, name := range names {
		status, body := w.operator.do("POST", "/api/v1/devices", map[string]any{"id": id, "name": name, "device_type": "camera", "driver": "agent", "address": "https://10.0.0.9"})
		require.Equal(t, http.StatusCreated, status, body)
	}
	all := func(query string) []string {
		t.Helper()
		var got []string
		after := ""
		for range 10 {
			status, body := w.auditor.do("GET", "/api/v1/devices?limit=2&"+query+"&after="+url.QueryEscape(after), nil)
			require.Equal(t, http.StatusOK, status, "%s: %v", query, body)
			for _, item := range body["items"].([]any) {
				got = append(got, item.(map[string]any)["id"].(string))
			}
			if after, _ = body["next"].(string); after == "" {
				break
			}
		}
		return got
	}
	assert.Equal(t, []string{"d-1", "d-2", "d-3", "d-4", "d-5", "d-6"}, all(""))
	assert.Equal(t, []string{"d-6", "d-5", "d-4", "d-3", "d-2", "d-1"}, all("sort=id&order=desc"))
	byName := all("sort=name")
	assert.Equal(t, []string{"d-2", "d-5", "d-6", "d-1", "d-3", "d-4"}, byName, "Atrium, Bay, Garage, the two Lobbies by ID, Zone")
	desc := all("sort=name&order=desc")
	slices.Reverse(desc)
	assert.Equal(t, byName, desc)
	for _, bad := range []string{"sort=mode", "order=sideways", "sort=name&after=%25%25"} {
		status, body := w.auditor.do("GET", "/api/v1/devices?"+bad, nil)
		assert.Equal(t, http.StatusBadRequest, status, "?%s: %v", bad, body)
	}
}
