package onvif_test

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/devicesim/onvif"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/onvifwire"
)

// call posts body to camera cam-00001's security service and decodes the answer into into.
func (s *sim) call(t *testing.T, body, into any) *onvifwire.Fault {
	t.Helper()
	rec := s.post(securityURL, onvifwire.ContentType, s.signed(t, body))
	if rec.Code != http.StatusOK {
		return faultOf(t, rec)
	}
	_, err := onvifwire.Unmarshal(rec.Body.Bytes(), func(xml.Name) (any, error) { return into, nil })
	require.NoError(t, err, rec.Body.String())
	return nil
}

// TestCertPathValidationPolicies: the 802.1X configuration's trust (its
// policy's trust anchors) is recorded, and IDs the camera does not hold are
// refused, as are deletions of what a policy or configuration still uses.
func TestCertPathValidationPolicies(t *testing.T) {
	s := newSim()
	ca := testpki.NewCA(t, "RADIUS CA").Cert

	var up onvifwire.UploadCertificateResponse
	require.Nil(t, s.call(t, &onvifwire.UploadCertificate{Certificate: base64.StdEncoding.EncodeToString(ca.Raw), Alias: "certfleet/trust"}, &up))

	f := s.call(t, &onvifwire.CreateCertPathValidationPolicy{Alias: "x", TrustAnchor: []onvifwire.TrustAnchor{{CertificateID: "NoSuchCert"}}}, &struct{}{})
	require.NotNil(t, f, "an unknown trust anchor is refused")
	assert.True(t, f.Has("InvalidArgVal"), "%v", f)
	require.NotNil(t, s.call(t, &onvifwire.CreateCertPathValidationPolicy{Alias: "x"}, &struct{}{}), "a policy without trust anchors is refused")

	var created onvifwire.CreateCertPathValidationPolicyResponse
	require.Nil(t, s.call(t, &onvifwire.CreateCertPathValidationPolicy{Alias: "certfleet/ieee8021x",
		TrustAnchor: []onvifwire.TrustAnchor{{CertificateID: up.CertificateID}}}, &created))
	require.NotEmpty(t, created.CertPathValidationPolicyID)

	f = s.call(t, &onvifwire.AddDot1XConfiguration{Dot1XConfiguration: onvifwire.Dot1XConfiguration{Alias: "certfleet/ieee8021x",
		Outer: onvifwire.Dot1XStage{Method: onvifwire.EAPTLS, CertPathValidationPolicyID: "NoSuchPolicy", Identity: "cam", CertificationPathID: onvif.FactoryPathID}}}, &struct{}{})
	require.NotNil(t, f, "an unknown policy is refused")
	assert.True(t, f.Has("InvalidArgVal"), "%v", f)

	var added onvifwire.AddDot1XConfigurationResponse
	require.Nil(t, s.call(t, &onvifwire.AddDot1XConfiguration{Dot1XConfiguration: onvifwire.Dot1XConfiguration{Alias: "certfleet/ieee8021x",
		Outer: onvifwire.Dot1XStage{Method: onvifwire.EAPTLS, CertPathValidationPolicyID: created.CertPathValidationPolicyID, Identity: "cam", CertificationPathID: onvif.FactoryPathID}}}, &added))
	require.Nil(t, s.call(t, &onvifwire.SetNetworkInterfaceDot1XConfiguration{Token: onvif.InterfaceToken, Dot1XID: added.Dot1XID}, &onvifwire.SetNetworkInterfaceDot1XConfigurationResponse{}))

	inv, err := s.cams.Inventory("cam-00001")
	require.NoError(t, err)
	assert.Equal(t, []string{up.CertificateID}, inv.Dot1XCACertificateIDs())
	require.Len(t, inv.Dot1XCACertificates(), 1)
	assert.True(t, inv.Dot1XCACertificates()[0].Equal(ca))

	var all onvifwire.GetAllCertPathValidationPoliciesResponse
	require.Nil(t, s.call(t, &onvifwire.GetAllCertPathValidationPolicies{}, &all))
	require.Len(t, all.CertPathValidationPolicy, 1)
	assert.Equal(t, up.CertificateID, all.CertPathValidationPolicy[0].TrustAnchor[0].CertificateID)

	f = s.call(t, &onvifwire.DeleteCertificate{CertificateID: up.CertificateID}, &struct{}{})
	require.NotNil(t, f, "a trust anchor in use is not deleted")
	assert.True(t, f.Has("ReferenceExists"), "%v", f)
	f = s.call(t, &onvifwire.DeleteCertPathValidationPolicy{CertPathValidationPolicyID: created.CertPathValidationPolicyID}, &struct{}{})
	require.NotNil(t, f, "a policy an 802.1X configuration names is not deleted")
	assert.True(t, f.Has("ReferenceExists"), "%v", f)
}
