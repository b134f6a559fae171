package onvif_test

import (
	"testing"

	"github.com/certfleet/certfleet/drivers/device/onvif"
	"github.com/certfleet/certfleet/onvifwire"
)

// FuzzParseAnswer: whatever a camera answers, the parser returns an answer,
// a fault or an error, and never panics.
func FuzzParseAnswer(f *testing.F) {
	ok, _ := onvifwire.Marshal(nil, &onvifwire.GetCertificationPathResponse{CertificationPath: onvifwire.CertificationPath{CertificateID: []string{"Cert1", "Cert2"}, Alias: "certfleet/tls"}})
	fault, _ := onvifwire.Marshal(nil, onvifwire.InvalidArgVal("KeyID", "no key %q", "x"))
	f.Add(ok)
	f.Add(fault)
	f.Add([]byte(`<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>ter:NotAuthorized</s:Value><s:Subcode><s:Value>x</s:Value></s:Subcode></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en">no</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>`))
	f.Add([]byte(`<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body/></Envelope>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>`))
	f.Add([]byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><tas:GetCertificationPathResponse xmlns:tas="http://www.onvif.org/ver10/advancedsecurity/wsdl"><tas:CertificationPath><tas:CertificateID>a</tas:CertificateID></tas:CertificationPath></tas:GetCertificationPathResponse></s:Body></s:Envelope>trailing`))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		var into onvifwire.GetCertificationPathResponse
		env, err := onvif.ParseAnswer(data, &into)
		if err == nil && env == nil {
			t.Fatal("no envelope and no error")
		}
	})
}
