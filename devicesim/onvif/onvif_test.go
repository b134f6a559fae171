package onvif_test

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/devicesim"
	"github.com/certfleet/certfleet/devicesim/onvif"
	"github.com/certfleet/certfleet/onvifwire"
)

const master = "fleet-master-secret-0123456789"

type sim struct {
	fleet   *devicesim.Fleet
	cams    *onvif.Cameras
	handler http.Handler
}

func newSim() *sim {
	fleet := devicesim.New(10, "cam-", master)
	cams := onvif.New()
	return &sim{fleet: fleet, cams: cams, handler: fleet.Handler(cams)}
}

const securityURL = "/onvif/cam-00001/advancedsecurity_service"

// signed is a request envelope with a valid UsernameToken.
func (s *sim) signed(tb testing.TB, body any) []byte {
	tb.Helper()
	user, password := s.fleet.CameraAccount()
	sec, err := onvifwire.NewSecurity(user, password, time.Now())
	require.NoError(tb, err)
	msg, err := onvifwire.Marshal(sec, body)
	require.NoError(tb, err)
	return msg
}

func (s *sim) post(path, contentType string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	return rec
}

func faultOf(t testing.TB, rec *httptest.ResponseRecorder) *onvifwire.Fault {
	t.Helper()
	env, err := onvifwire.Unmarshal(rec.Body.Bytes(), func(xml.Name) (any, error) { return nil, nil })
	require.NoError(t, err, rec.Body.String())
	require.NotNil(t, env.Fault, rec.Body.String())
	return env.Fault
}

func TestStrictSOAP(t *testing.T) {
	s := newSim()
	soap := onvifwire.ContentTypeFor("x")

	rec := s.post(securityURL, soap, s.signed(t, &onvifwire.GetAllKeys{}))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var keys onvifwire.GetAllKeysResponse
	_, err := onvifwire.Unmarshal(rec.Body.Bytes(), func(xml.Name) (any, error) { return &keys, nil })
	require.NoError(t, err)
	require.Len(t, keys.KeyAttribute, 1)
	assert.Equal(t, onvif.FactoryKeyID, keys.KeyAttribute[0].KeyID)

	cases := []struct {
		name    string
		path    string
		ctype   string
		body    []byte
		status  int
		code    string
		subcode string
	}{
		{"unknown operation", securityURL, soap, s.signed(t, &struct {
			XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl FormatCamera"`
		}{}), 400, "Receiver", "ActionNotSupported"},
		{"device operation at the security service", securityURL, soap, s.signed(t, &onvifwire.GetServices{}), 400, "Receiver", "ActionNotSupported"},
		{"right name, wrong namespace", securityURL, soap, s.signed(t, &struct {
			XMLName xml.Name `xml:"http://www.onvif.org/ver20/advancedsecurity/wsdl GetAllKeys"`
		}{}), 400, "Receiver", "ActionNotSupported"},
		{"SOAP 1.1", securityURL, soap, []byte(`<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>`), 400, "VersionMismatch", ""},
		{"not XML", securityURL, soap, []byte(`{"op":"GetAllKeys"}`), 400, "Sender", "WellFormed"},
		{"bad arguments", securityURL, soap, []byte(strings.Replace(string(s.signed(t, &onvifwire.CreateRSAKeyPair{KeyLength: 2048})), ">2048<", ">big<", 1)), 400, "Sender", "InvalidArgs"},
		{"unsupported key length", securityURL, soap, s.signed(t, &onvifwire.CreateRSAKeyPair{KeyLength: 1024}), 400, "Sender", "InvalidArgVal"},
		{"no such key", securityURL, soap, s.signed(t, &onvifwire.GetKeyStatus{KeyID: "Nope"}), 400, "Sender", "KeyID"},
		{"factory key in use", securityURL, soap, s.signed(t, &onvifwire.DeleteKey{KeyID: onvif.FactoryKeyID}), 400, "Sender", "ReferenceExists"},
		{"assigned path", securityURL, soap, s.signed(t, &onvifwire.DeleteCertificationPath{CertificationPathID: onvif.FactoryPathID}), 400, "Sender", "ReferenceExists"},
		{"no token", securityURL, soap, mustMarshal(t, &onvifwire.GetAllKeys{}), 400, "Sender", "NotAuthorized"},
		{"SOAP 1.1 content type", securityURL, "text/xml", s.signed(t, &onvifwire.GetAllKeys{}), 415, "Sender", "InvalidArgVal"},
	}
	for _, c := range cases {
		rec := s.post(c.path, c.ctype, c.body)
		assert.Equal(t, c.status, rec.Code, c.name)
		f := faultOf(t, rec)
		assert.Equal(t, c.code, f.Code, c.name)
		if c.subcode != "" {
			assert.True(t, f.Has(c.subcode), "%s: %v", c.name, f)
		}
	}

	// A stale or wrong token is refused.
	user, _ := s.fleet.CameraAccount()
	old, err := onvifwire.NewSecurity(user, "wrong", time.Now())
	require.NoError(t, err)
	msg, err := onvifwire.Marshal(old, &onvifwire.GetAllKeys{})
	require.NoError(t, err)
	assert.True(t, faultOf(t, s.post(securityURL, soap, msg)).Has("NotAuthorized"))
	_, password := s.fleet.CameraAccount()
	stale, err := onvifwire.NewSecurity(user, password, time.Now().Add(-time.Hour))
	require.NoError(t, err)
	msg, err = onvifwire.Marshal(stale, &onvifwire.GetAllKeys{})
	require.NoError(t, err)
	assert.True(t, faultOf(t, s.post(securityURL, soap, msg)).Has("NotAuthorized"))
}

func mustMarshal(t testing.TB, body any) []byte {
	msg, err := onvifwire.Marshal(nil, body)
	require.NoError(t, err)
	return msg
}

// FuzzSimulator: whatever the body, the camera answers a SOAP envelope, a
// fault when it is not a 200, and never a 5xx or a panic.
func FuzzSimulator(f *testing.F) {
	s := newSim()
	for _, body := range []any{
		&onvifwire.GetAllKeys{}, &onvifwire.GetAllCertificates{}, &onvifwire.GetAllCertificationPaths{},
		&onvifwire.GetAssignedServerCertificates{}, &onvifwire.GetKeyStatus{KeyID: onvif.FactoryKeyID},
		&onvifwire.CreateECCKeyPair{EllipticCurve: "secp256r1", Alias: "certfleet/tls"},
		&onvifwire.CreatePKCS10CSR{KeyID: onvif.FactoryKeyID, Subject: onvifwire.DistinguishedName{CommonName: []string{"x"}},
			SignatureAlgorithm: onvifwire.AlgorithmIdentifier{Algorithm: onvifwire.OIDECDSAWithSHA256},
			CSRAttribute:       []onvifwire.CSRAttribute{{X509v3Extension: &onvifwire.X509v3Extension{ExtnOID: onvifwire.OIDSubjectAltName, ExtnValue: "MAA="}}}},
		&onvifwire.GetCertificationPath{CertificationPathID: onvif.FactoryPathID},
		&onvifwire.GetCertificate{CertificateID: onvif.FactoryCertID},
		&onvifwire.UploadCertificate{Certificate: "AAAA"},
		&onvifwire.CreateCertificationPath{CertificateIDs: onvifwire.CertificateIDs{CertificateID: []string{onvif.FactoryCertID, onvif.FactoryCertID}}},
		&onvifwire.AddServerCertificateAssignment{CertificationPathID: onvif.FactoryPathID},
		&onvifwire.ReplaceServerCertificateAssignment{OldCertificationPathID: onvif.FactoryPathID, NewCertificationPathID: onvif.FactoryPathID},
		&onvifwire.RemoveServerCertificateAssignment{CertificationPathID: "CertPath9"},
		&onvifwire.DeleteCertificate{CertificateID: onvif.FactoryCertID},
		&onvifwire.AddDot1XConfiguration{Dot1XConfiguration: onvifwire.Dot1XConfiguration{Alias: "certfleet/ieee8021x",
			Outer: onvifwire.Dot1XStage{Method: onvifwire.EAPTLS, Identity: "cam", CertificationPathID: onvif.FactoryPathID}}},
		&onvifwire.GetAllDot1XConfigurations{},
		&onvifwire.SetNetworkInterfaceDot1XConfiguration{Token: onvif.InterfaceToken, Dot1XID: "Dot1X9"},
		&onvifwire.GetNetworkInterfaceDot1XConfiguration{Token: onvif.InterfaceToken},
		&onvifwire.DeleteNetworkInterfaceDot1XConfiguration{Token: onvif.InterfaceToken},
		&onvifwire.DeleteDot1XConfiguration{Dot1XID: "Dot1X9"},
		&onvifwire.CreateCertPathValidationPolicy{Alias: "certfleet/ieee8021x", TrustAnchor: []onvifwire.TrustAnchor{{CertificateID: onvif.FactoryCertID}}},
		&onvifwire.GetAllCertPathValidationPolicies{},
		&onvifwire.DeleteCertPathValidationPolicy{CertPathValidationPolicyID: "CertPathValidationPolicy4"},
	} {
		f.Add(false, s.signed(f, body))
	}
	f.Add(true, s.signed(f, &onvifwire.GetServices{IncludeCapability: true}))
	f.Add(true, s.signed(f, &onvifwire.GetNetworkInterfaces{}))
	f.Add(true, mustMarshal(f, &onvifwire.GetSystemDateAndTime{}))
	f.Add(false, []byte(`<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault/></s:Body></s:Envelope>`))
	f.Add(false, []byte(`<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>`))
	f.Add(true, []byte{})
	f.Fuzz(func(t *testing.T, device bool, body []byte) {
		path := securityURL
		if device {
			path = "/onvif/cam-00002/device_service"
		}
		rec := s.post(path, onvifwire.ContentType, body)
		if rec.Code >= 500 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
		env, err := onvifwire.Unmarshal(rec.Body.Bytes(), func(xml.Name) (any, error) { return &struct{}{}, nil })
		if err != nil {
			t.Fatalf("answer is not an envelope: %v\n%s", err, rec.Body.String())
		}
		if (rec.Code == http.StatusOK) != (env.Fault == nil) {
			t.Fatalf("status %d with fault %v", rec.Code, env.Fault)
		}
	})
}
