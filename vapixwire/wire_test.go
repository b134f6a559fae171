package vapixwire

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/pki"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	data, err := MarshalEnvelope(Body{SetWebServerTlsConfiguration: &SetWebServerTlsConfiguration{Configuration: WebServerTlsConfiguration{
		Tls: true, ConnectionPolicies: &ConnectionPolicies{Admin: "Https"}, Ciphers: &Ciphers{Cipher: []string{"ECDHE-ECDSA-AES128-GCM-SHA256"}},
		CertificateSet: CertificateSet{Certificates: IDs{ID: []string{"certfleet-tls-1"}}},
	}}})
	require.NoError(t, err)
	t.Log(string(data))
	env, err := UnmarshalEnvelope(data)
	require.NoError(t, err)
	require.NotNil(t, env.Body.SetWebServerTlsConfiguration)
	assert.Equal(t, []string{"certfleet-tls-1"}, env.Body.SetWebServerTlsConfiguration.Configuration.CertificateSet.Certificates.ID)
	assert.Equal(t, "Https", env.Body.SetWebServerTlsConfiguration.Configuration.ConnectionPolicies.Admin)

	data, err = MarshalEnvelope(SenderFault("ter:InvalidArgVal", "bad"))
	require.NoError(t, err)
	env, err = UnmarshalEnvelope(data)
	require.NoError(t, err)
	require.NotNil(t, env.Body.Fault)
	assert.True(t, env.Body.Fault.Sender())
	assert.Contains(t, env.Body.Fault.Error(), "bad")
}

// A request written the way Axis documents it, with prefixes and default namespaces.
func TestEnvelopeDocumentedForm(t *testing.T) {
	doc := `<SOAP-ENV:Envelope xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope">
<SOAP-ENV:Body><tds:SetDot1XConfiguration xmlns="http://www.onvif.org/ver10/device/wsdl"><Dot1XConfiguration>
<tt:Dot1XConfigurationToken>EAPTLS_WIRED</tt:Dot1XConfigurationToken><tt:Identity>identity</tt:Identity><tt:EAPMethod>13</tt:EAPMethod>
<tt:EAPMethodConfiguration><tt:TLSConfiguration><tt:CertificateID>cert-1</tt:CertificateID></tt:TLSConfiguration></tt:EAPMethodConfiguration>
</Dot1XConfiguration></tds:SetDot1XConfiguration></SOAP-ENV:Body></SOAP-ENV:Envelope>`
	env, err := UnmarshalEnvelope([]byte(doc))
	require.NoError(t, err)
	require.NotNil(t, env.Body.SetDot1XConfiguration)
	c := env.Body.SetDot1XConfiguration.Dot1XConfiguration
	assert.Equal(t, Dot1XWiredToken, c.Dot1XConfigurationToken)
	assert.Equal(t, EAPMethodTLS, c.EAPMethod)
	assert.Equal(t, "cert-1", c.EAPMethodConfiguration.TLSConfiguration.CertificateID)
}

func TestSubject(t *testing.T) {
	s := FormatSubject(pki.CSRSubject{CommonName: "cam, one", Organization: "Example=Org", Country: "SE", SerialNumber: "ACCC8E"})
	name, err := ParseSubject(s)
	require.NoError(t, err)
	assert.Equal(t, "cam, one", name.CommonName)
	assert.Equal(t, []string{"Example=Org"}, name.Organization)
	assert.Equal(t, []string{"SE"}, name.Country)
	assert.Equal(t, "ACCC8E", name.SerialNumber)
	for _, bad := range []string{"", "CN", "XX=1", "CN=a\\", "CN="} {
		_, err := ParseSubject(bad)
		assert.Error(t, err, bad)
	}
}

func TestKeyTypes(t *testing.T) {
	for _, spec := range []pki.KeySpec{{Algorithm: "rsa", Size: 2048}, {Algorithm: "ecdsa", Size: 384}} {
		kt, ok := KeyType(spec)
		require.True(t, ok)
		back, ok := KeySpecOf(kt)
		require.True(t, ok)
		assert.Equal(t, spec, back)
	}
	_, ok := KeyType(pki.KeySpec{Algorithm: "ed25519", Size: 256})
	assert.False(t, ok)
	_, err := FormatSANs(pki.CSRSANs{Email: []string{"a@b"}})
	assert.Error(t, err)
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"status":"success","data":[{"alias":"a","certificate":"x"}]}`))
	f.Add([]byte(`{"status":"error","error":{"code":2104,"message":"no"}}`))
	f.Add([]byte(`<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><GetWebServerTlsConfiguration xmlns="http://www.axis.com/vapix/ws/webserver"/></env:Body></env:Envelope>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if r, err := DecodeResponse[[]Certificate](data); err == nil && r.Status == StatusError && r.Error == nil {
			t.Fatal("error answer without error accepted")
		}
		if env, err := UnmarshalEnvelope(data); err == nil {
			if env.Body.count() != 1 {
				t.Fatal("envelope accepted without exactly one operation")
			}
			if _, err := MarshalEnvelope(env.Body); err != nil {
				t.Fatal(err)
			}
		}
		_, _ = ParseSubject(strings.ToValidUTF8(string(data), ""))
	})
}

// The MQTT client API's field names, as documented (docs/vapix.md).
func TestMQTTWire(t *testing.T) {
	keep := true
	data, err := json.Marshal(MQTTClientConfig{
		Server: MQTTServer{Protocol: MQTTProtocolSSL, Host: "broker", Port: 8883}, KeepExistingPassword: &keep,
		SSL: &MQTTSSL{ValidateServerCert: true, CACertID: "ca", ClientCertID: "cert"},
	})
	require.NoError(t, err)
	assert.JSONEq(t, `{"server":{"protocol":"ssl","host":"broker","port":8883},"keepExistingPassword":true,
		"ssl":{"validateServerCert":true,"CACertID":"ca","clientCertID":"cert"}}`, string(data))

	resp, err := DecodeMQTTResponse([]byte(`{"apiVersion":"1.0","context":"c","method":"getClientStatus","data":{"status":{"state":"active","connectionStatus":"connected"},"config":{"server":{"host":"b"}}}}`))
	require.NoError(t, err)
	var st MQTTClientStatus
	require.NoError(t, json.Unmarshal(resp.Data, &st))
	assert.Equal(t, "active", st.Status.State)
	assert.Equal(t, "b", st.Config.Server.Host)

	resp, err = DecodeMQTTResponse([]byte(`{"apiVersion":"1.0","method":"configureClient","error":{"code":2104,"message":"bad"}}`))
	require.NoError(t, err)
	assert.Equal(t, MQTTCodeInvalidParameter, resp.Error.Code)
	_, err = DecodeMQTTResponse([]byte(`{"status":"success"}`))
	assert.Error(t, err)
	_, err = DecodeMQTTResponse([]byte(`<html>`))
	assert.Error(t, err)
}
