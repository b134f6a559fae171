package axis

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/json"
	"go/build"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/devicesim"
	"github.com/certfleet/certfleet/httpdigest"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/vapixwire"
)

const master = "fleet-master-secret-0123456789"

// rig serves the fleet in process and signs requests with Digest.
type rig struct {
	t       testing.TB
	fleet   *devicesim.Fleet
	sim     *Simulator
	handler http.Handler
	chal    *httpdigest.Challenge
	nc      uint32
}

func newRig(t testing.TB) *rig {
	fleet := devicesim.New(5, "cam-", master)
	sim := New()
	r := &rig{t: t, fleet: fleet, sim: sim, handler: fleet.Handler(sim)}
	rec := r.raw(http.MethodGet, "/axis/cam-00001"+vapixwire.PathCertificates, "", nil, "")
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	values := rec.Header().Values("WWW-Authenticate")
	require.Len(t, values, 2, "SHA-256 and MD5 challenges")
	c, err := httpdigest.Choose(values)
	require.NoError(t, err)
	r.chal = c
	return r
}

func (r *rig) raw(method, path, contentType string, body []byte, auth string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	r.handler.ServeHTTP(rec, req)
	return rec
}

// call sends an authenticated request.
func (r *rig) call(method, path, contentType string, body []byte) *httptest.ResponseRecorder {
	user, password := r.fleet.CameraAccount()
	r.nc++
	req := httptest.NewRequest(method, path, nil)
	auth, err := r.chal.Authorize(method, req.URL.RequestURI(), user, password, r.nc, httpdigest.NewCnonce())
	require.NoError(r.t, err)
	return r.raw(method, path, contentType, body, auth)
}

func (r *rig) rest(method, path string, data any) (*httptest.ResponseRecorder, vapixwire.Response[json.RawMessage]) {
	var body []byte
	if data != nil {
		var err error
		body, err = json.Marshal(vapixwire.Request[any]{Data: data})
		require.NoError(r.t, err)
	}
	rec := r.call(method, path, "application/json", body)
	var resp vapixwire.Response[json.RawMessage]
	require.NoError(r.t, json.Unmarshal(rec.Body.Bytes(), &resp), rec.Body.String())
	return rec, resp
}

const cam = "/axis/cam-00001"

func TestAuthentication(t *testing.T) {
	r := newRig(t)
	rec := r.call(http.MethodGet, cam+vapixwire.PathCertificates, "", nil)
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())

	basic := httptest.NewRequest(http.MethodGet, cam+vapixwire.PathCertificates, nil)
	user, password := r.fleet.CameraAccount()
	basic.SetBasicAuth(user, password)
	rec = httptest.NewRecorder()
	r.handler.ServeHTTP(rec, basic)
	assert.Equal(t, http.StatusUnauthorized, rec.Code, "Basic is not accepted")

	wrong, err := r.chal.Authorize(http.MethodGet, cam+vapixwire.PathCertificates, user, "wrong", 9, "c")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, r.raw(http.MethodGet, cam+vapixwire.PathCertificates, "", nil, wrong).Code)

	body, _ := json.Marshal(devicesim.Faults{AuthRefused: true})
	req := httptest.NewRequest(http.MethodPut, "/devices/cam-00001/faults", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+master)
	rec = httptest.NewRecorder()
	r.handler.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, http.StatusUnauthorized, r.call(http.MethodGet, cam+vapixwire.PathCertificates, "", nil).Code, "AuthRefused")

	assert.Equal(t, http.StatusNotFound, r.call(http.MethodGet, "/axis/cam-77777"+vapixwire.PathCertificates, "", nil).Code)
}

func TestStrictInput(t *testing.T) {
	r := newRig(t)
	create := vapixwire.CreateCertificate{Alias: "k1", KeyType: vapixwire.KeyECP256, Subject: "CN=cam-00001"}
	for name, tc := range map[string]struct {
		method, path, body string
		status             int
	}{
		"unknown field":    {http.MethodPost, vapixwire.PathCreateCertificate, `{"data":{"alias":"k","key_type":"EC-P256","subject":"CN=x","extra":1}}`, http.StatusBadRequest},
		"no data":          {http.MethodPost, vapixwire.PathCreateCertificate, `{}`, http.StatusBadRequest},
		"trailing":         {http.MethodPost, vapixwire.PathCreateCertificate, `{"data":{}} {}`, http.StatusBadRequest},
		"bad key type":     {http.MethodPost, vapixwire.PathCreateCertificate, `{"data":{"alias":"k","key_type":"DSA-1024","subject":"CN=x"}}`, http.StatusBadRequest},
		"bad alias":        {http.MethodPost, vapixwire.PathCreateCertificate, `{"data":{"alias":"../x","key_type":"EC-P256","subject":"CN=x"}}`, http.StatusBadRequest},
		"bad subject":      {http.MethodPost, vapixwire.PathCreateCertificate, `{"data":{"alias":"k","key_type":"EC-P256","subject":"XX=1"}}`, http.StatusBadRequest},
		"bad SAN":          {http.MethodPost, vapixwire.PathCreateCertificate, `{"data":{"alias":"k","key_type":"EC-P256","subject":"CN=x","subject_alt_names":["URI:x"]}}`, http.StatusBadRequest},
		"missing cert":     {http.MethodGet, vapixwire.PathCertificate("nope"), ``, http.StatusNotFound},
		"csr of missing":   {http.MethodPost, vapixwire.PathGetCSR("nope"), `{"data":{}}`, http.StatusNotFound},
		"delete factory":   {http.MethodDelete, vapixwire.PathCertificate(FactoryAlias), ``, http.StatusConflict},
		"not a CA":         {http.MethodPost, vapixwire.PathCACertificates, `{"data":{"alias":"ca","certificate":"x"}}`, http.StatusBadRequest},
		"unknown resource": {http.MethodGet, vapixwire.CertAPI + "/nothing", ``, http.StatusNotFound},
	} {
		rec := r.call(tc.method, cam+tc.path, "application/json", []byte(tc.body))
		assert.Equal(t, tc.status, rec.Code, "%s: %s", name, rec.Body.String())
		resp, err := vapixwire.DecodeResponse[json.RawMessage](rec.Body.Bytes())
		require.NoError(t, err, name)
		assert.Equal(t, vapixwire.StatusError, resp.Status, name)
		assert.NotEmpty(t, resp.Error.Message, name)
	}

	rec, _ := r.rest(http.MethodPost, cam+vapixwire.PathCreateCertificate, create)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	rec, _ = r.rest(http.MethodPost, cam+vapixwire.PathCreateCertificate, create)
	assert.Equal(t, http.StatusConflict, rec.Code, "alias taken")

	// A certificate for another key is refused.
	other := otherCertificate(t)
	rec, resp := r.rest(http.MethodPatch, cam+vapixwire.PathCertificate("k1"), vapixwire.ReplaceCertificate{Certificate: other})
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, vapixwire.CodeKeyMismatch, resp.Error.Code)

	for name, body := range map[string]string{
		"not xml":     "hello",
		"two ops":     `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><GetWebServerTlsConfiguration xmlns="http://www.axis.com/vapix/ws/webserver"/><GetDot1XConfiguration xmlns="http://www.onvif.org/ver10/device/wsdl"/></e:Body></e:Envelope>`,
		"unknown op":  `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><Reboot xmlns="http://www.axis.com/vapix/ws/webserver"/></e:Body></e:Envelope>`,
		"bind absent": `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><SetWebServerTlsConfiguration xmlns="http://www.axis.com/vapix/ws/webserver"><Configuration><Tls>true</Tls><CertificateSet><Certificates xmlns="http://www.axis.com/vapix/ws/cert"><Id>nope</Id></Certificates></CertificateSet></Configuration></SetWebServerTlsConfiguration></e:Body></e:Envelope>`,
		"token":       `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><GetDot1XConfiguration xmlns="http://www.onvif.org/ver10/device/wsdl"><Dot1XConfigurationToken>x</Dot1XConfigurationToken></GetDot1XConfiguration></e:Body></e:Envelope>`,
	} {
		rec := r.call(http.MethodPost, cam+vapixwire.PathServices, vapixwire.SOAPContentType, []byte(body))
		assert.Equal(t, http.StatusBadRequest, rec.Code, name)
		env, err := vapixwire.UnmarshalEnvelope(rec.Body.Bytes())
		require.NoError(t, err, name)
		require.NotNil(t, env.Body.Fault, name)
		assert.True(t, env.Body.Fault.Sender(), name)
	}
}

func otherCertificate(t *testing.T) string {
	key, err := pki.GenerateKey(pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	require.NoError(t, err)
	cert, err := selfSign(key, pkix.Name{CommonName: "other"}, nil, nil, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	require.NoError(t, err)
	return string(pki.EncodeCertificatesPEM(cert))
}

// The layering rule: simulators import no driver.
func TestImportsNoDriver(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	require.NoError(t, err)
	for _, imp := range append(pkg.Imports, pkg.TestImports...) {
		assert.False(t, strings.Contains(imp, "/drivers"), imp)
	}
}

// FuzzRequests sends authenticated requests of any body to every endpoint:
// the camera answers 2xx or 4xx, never 5xx, and does not panic.
func FuzzRequests(f *testing.F) {
	f.Add(uint8(0), []byte(`{"data":{"alias":"a","key_type":"EC-P256","subject":"CN=x","subject_alt_names":["DNS:x","IP:10.0.0.1"]}}`))
	f.Add(uint8(1), []byte(`{"data":{}}`))
	f.Add(uint8(2), []byte(`{"data":{"certificate":"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----"}}`))
	f.Add(uint8(3), []byte(`{"data":{"alias":"ca","certificate":""}}`))
	f.Add(uint8(4), []byte(`<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><GetWebServerTlsConfiguration xmlns="http://www.axis.com/vapix/ws/webserver"/></e:Body></e:Envelope>`))
	f.Add(uint8(4), []byte(`<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><SetDot1XConfiguration xmlns="http://www.onvif.org/ver10/device/wsdl"><Dot1XConfiguration><Dot1XConfigurationToken xmlns="http://www.onvif.org/ver10/schema">EAPTLS_WIRED</Dot1XConfigurationToken><EAPMethod xmlns="http://www.onvif.org/ver10/schema">13</EAPMethod></Dot1XConfiguration></SetDot1XConfiguration></e:Body></e:Envelope>`))
	f.Add(uint8(6), []byte(`{"apiVersion":"1.0","method":"configureClient","params":{"server":{"protocol":"ssl","host":"b"},"keepExistingPassword":true,"ssl":{"validateServerCert":false,"clientCertID":"default"}}}`))
	r := newRig(f)
	endpoints := []struct{ method, path string }{
		{http.MethodPost, vapixwire.PathCreateCertificate},
		{http.MethodPost, vapixwire.PathGetCSR(FactoryAlias)},
		{http.MethodPatch, vapixwire.PathCertificate(FactoryAlias)},
		{http.MethodPost, vapixwire.PathCACertificates},
		{http.MethodPost, vapixwire.PathServices},
		{http.MethodDelete, vapixwire.PathCertificate("a")},
		{http.MethodPost, vapixwire.PathMQTTClient},
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		r.t = t
		ep := endpoints[int(which)%len(endpoints)]
		rec := r.call(ep.method, cam+ep.path, "application/json", body)
		if rec.Code >= 500 {
			t.Fatalf("%s %s answered %d: %s", ep.method, ep.path, rec.Code, rec.Body.String())
		}
	})
}
