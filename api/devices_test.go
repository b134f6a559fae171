package api_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
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
