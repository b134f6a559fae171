package axis

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/vapixwire"
)

func (r *rig) mqtt(body string) (*httptest.ResponseRecorder, vapixwire.MQTTResponse) {
	rec := r.call(http.MethodPost, cam+vapixwire.PathMQTTClient, "application/json", []byte(body))
	var resp vapixwire.MQTTResponse
	require.NoError(r.t, json.Unmarshal(rec.Body.Bytes(), &resp), rec.Body.String())
	return rec, resp
}

func TestMQTTClient(t *testing.T) {
	r := newRig(t)
	require.NoError(t, r.sim.AddCACertificate("cam-00001", "broker-ca", testpki.NewCA(t, "Broker CA").Cert))

	rec, resp := r.mqtt(`{"apiVersion":"1.0","context":"c","method":"getClientStatus"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "c", resp.Context)
	var status vapixwire.MQTTClientStatus
	require.NoError(t, json.Unmarshal(resp.Data, &status))
	assert.Equal(t, vapixwire.MQTTProtocolSSL, status.Config.Server.Protocol)
	assert.NotEmpty(t, status.Config.Server.Host)
	assert.Nil(t, status.Config.Password, "the password is never returned")
	assert.NotContains(t, string(resp.Data), "broker-password")

	// Strict input.
	for name, tc := range map[string]struct {
		body string
		code int
	}{
		"not json":        {`hello`, vapixwire.MQTTCodeInvalidJSON},
		"unknown field":   {`{"apiVersion":"1.0","method":"getClientStatus","extra":1}`, vapixwire.MQTTCodeInvalidJSON},
		"unknown param":   {`{"apiVersion":"1.0","method":"configureClient","params":{"server":{"host":"b"},"sslx":{}}}`, vapixwire.MQTTCodeInvalidJSON},
		"unknown ssl":     {`{"apiVersion":"1.0","method":"configureClient","params":{"server":{"host":"b"},"ssl":{"validateServer":true}}}`, vapixwire.MQTTCodeInvalidJSON},
		"version":         {`{"apiVersion":"2.0","method":"getClientStatus"}`, vapixwire.MQTTCodeVersion},
		"method":          {`{"apiVersion":"1.0","method":"reboot"}`, vapixwire.MQTTCodeMethod},
		"no params":       {`{"apiVersion":"1.0","method":"configureClient"}`, vapixwire.MQTTCodeMissingParameter},
		"no host":         {`{"apiVersion":"1.0","method":"configureClient","params":{"server":{}}}`, vapixwire.MQTTCodeMissingParameter},
		"protocol":        {`{"apiVersion":"1.0","method":"configureClient","params":{"server":{"host":"b","protocol":"quic"}}}`, vapixwire.MQTTCodeInvalidParameter},
		"client cert":     {`{"apiVersion":"1.0","method":"configureClient","params":{"server":{"host":"b"},"ssl":{"validateServerCert":false,"clientCertID":"nope"}}}`, vapixwire.MQTTCodeInvalidParameter},
		"CA cert":         {`{"apiVersion":"1.0","method":"configureClient","params":{"server":{"host":"b"},"ssl":{"validateServerCert":true,"CACertID":"nope"}}}`, vapixwire.MQTTCodeInvalidParameter},
		"password twice":  {`{"apiVersion":"1.0","method":"configureClient","params":{"server":{"host":"b"},"password":"p","keepExistingPassword":true}}`, vapixwire.MQTTCodeInvalidParameter},
		"params of a get": {`{"apiVersion":"1.0","method":"getClientStatus","params":{"x":1}}`, vapixwire.MQTTCodeInvalidParameter},
	} {
		rec, resp := r.mqtt(tc.body)
		assert.Equal(t, http.StatusBadRequest, rec.Code, "%s: %s", name, rec.Body.String())
		require.NotNil(t, resp.Error, name)
		assert.Equal(t, tc.code, resp.Error.Code, name)
	}

	// Binding the client certificate and the broker's CA, keeping the password.
	rec, _ = r.mqtt(`{"apiVersion":"1.0","method":"configureClient","params":{"server":{"protocol":"ssl","host":"broker.example.net","port":8883},"keepExistingPassword":true,
		"ssl":{"validateServerCert":true,"CACertID":"broker-ca","clientCertID":"default"}}}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	st, err := r.sim.State("cam-00001")
	require.NoError(t, err)
	assert.Equal(t, FactoryAlias, st.MQTT.ClientCert)
	assert.Equal(t, "broker-ca", st.MQTT.CACert)
	assert.True(t, st.MQTT.ValidateServerCert)
	assert.Equal(t, "broker-password-cam-00001", st.MQTT.Password)
	assert.Equal(t, 1, st.Calls["bind_mqtt"])

	// What the MQTT client uses cannot be deleted.
	rec = r.call(http.MethodDelete, cam+vapixwire.PathCACertificate("broker-ca"), "", nil)
	assert.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
	rec, _ = r.mqtt(`{"apiVersion":"1.0","method":"configureClient","params":{"server":{"host":"broker.example.net"}}}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	st, err = r.sim.State("cam-00001")
	require.NoError(t, err)
	assert.Empty(t, st.MQTT.Password, "without keepExistingPassword the password is what was sent")
	assert.Empty(t, st.MQTT.ClientCert)
	rec = r.call(http.MethodDelete, cam+vapixwire.PathCACertificate("broker-ca"), "", nil)
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
}
