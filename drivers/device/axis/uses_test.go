package axis_test

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	axissim "github.com/certfleet/certfleet/devicesim/axis"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/drivers/device/axis"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/vapixwire"
)

// An 802.1X use with trust: the RADIUS server's CA is uploaded and becomes
// the CA certificate of the 802.1X configuration; another trust CA replaces
// it, and the first one, certfleet's and no longer referenced, is deleted.
func TestDot1XTrust(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	is := newIssuer(t, pool)
	env := newSim(t)
	driver := axis.New(&testenv.MemPins{}, 10*time.Second)
	dev := env.device("cam-00011")
	radiusCA := testpki.NewCA(t, "RADIUS CA").Cert
	dev.Uses = map[string]device.Use{pki.CertTypeIEEE8021X: {Binding: device.BindingIEEE8021X, Trust: []*x509.Certificate{radiusCA}}}

	first := is.renew(t, driver, dev, pki.CertTypeIEEE8021X, p256)
	st := env.state(t, dev.ID)
	assert.Equal(t, "certfleet-ieee8021x-1", st.Dot1X)
	require.Len(t, st.Dot1XCAs, 1, "the 802.1X configuration references the RADIUS CA")
	radiusAlias := st.Dot1XCAs[0]
	assert.True(t, strings.HasPrefix(radiusAlias, "certfleet-trust-"), radiusAlias)
	assert.Equal(t, "CN=RADIUS CA", st.CASubjects[radiusAlias])
	assert.Equal(t, axissim.FactoryAlias, st.HTTPS, "HTTPS is not touched")
	current, err := driver.Current(ctx, dev, pki.CertTypeIEEE8021X)
	require.NoError(t, err)
	assert.True(t, first[0].Equal(current))

	// Again: nothing changes.
	calls := st.Calls
	require.NoError(t, driver.Install(ctx, dev, pki.CertTypeIEEE8021X, first))
	st = env.state(t, dev.ID)
	assert.Equal(t, calls["bind_ieee8021x"], st.Calls["bind_ieee8021x"], "no second bind")
	assert.Equal(t, calls["add_ca"], st.Calls["add_ca"], "no second CA upload")
	assert.Equal(t, []string{radiusAlias}, st.Dot1XCAs)

	// A new RADIUS CA: the reference moves and the first trust CA goes.
	newRadiusCA := testpki.NewCA(t, "RADIUS CA 2").Cert
	dev.Uses = map[string]device.Use{pki.CertTypeIEEE8021X: {Binding: device.BindingIEEE8021X, Trust: []*x509.Certificate{newRadiusCA}}}
	second := is.renew(t, driver, dev, pki.CertTypeIEEE8021X, p256)
	st = env.state(t, dev.ID)
	assert.Equal(t, "certfleet-ieee8021x-2", st.Dot1X)
	require.Len(t, st.Dot1XCAs, 1)
	assert.NotEqual(t, radiusAlias, st.Dot1XCAs[0])
	assert.Equal(t, "CN=RADIUS CA 2", st.CASubjects[st.Dot1XCAs[0]])
	assert.NotContains(t, st.CACertificates, radiusAlias, "the unreferenced trust CA is deleted")
	assert.NotContains(t, st.Certificates, "certfleet-ieee8021x-1")
	for alias := range st.CASubjects {
		if strings.HasPrefix(alias, "certfleet-ca-") {
			continue
		}
		assert.Equal(t, st.Dot1XCAs[0], alias, "only the referenced trust CA is left")
	}
	current, err = driver.Current(ctx, dev, pki.CertTypeIEEE8021X)
	require.NoError(t, err)
	assert.True(t, second[0].Equal(current))

	// A use without trust leaves the network's CA certificates as they are.
	dev.Uses = nil
	is.renew(t, driver, dev, pki.CertTypeIEEE8021X, p256)
	assert.Equal(t, st.Dot1XCAs, env.state(t, dev.ID).Dot1XCAs)
}

// A trust CA the camera already holds under its own alias is referenced by
// that alias, and never deleted when the reference moves on.
func TestDot1XTrustOfTheCamera(t *testing.T) {
	pool, _ := testenv.Database(t)
	is := newIssuer(t, pool)
	env := newSim(t)
	driver := axis.New(&testenv.MemPins{}, 10*time.Second)
	dev := env.device("cam-00012")
	siteCA := testpki.NewCA(t, "Site RADIUS CA").Cert
	require.NoError(t, env.sim.AddCACertificate(dev.ID, "site-radius", siteCA))

	dev.Uses = map[string]device.Use{pki.CertTypeIEEE8021X: {Binding: device.BindingIEEE8021X, Trust: []*x509.Certificate{siteCA}}}
	is.renew(t, driver, dev, pki.CertTypeIEEE8021X, p256)
	st := env.state(t, dev.ID)
	assert.Equal(t, []string{"site-radius"}, st.Dot1XCAs, "matched by content, not uploaded again")

	dev.Uses = map[string]device.Use{pki.CertTypeIEEE8021X: {Binding: device.BindingIEEE8021X, Trust: []*x509.Certificate{testpki.NewCA(t, "Other RADIUS CA").Cert}}}
	is.renew(t, driver, dev, pki.CertTypeIEEE8021X, p256)
	st = env.state(t, dev.ID)
	assert.NotEqual(t, []string{"site-radius"}, st.Dot1XCAs)
	assert.Contains(t, st.CACertificates, "site-radius", "the camera's own CA certificate stays")
}

// A TLS certificate used by the MQTT client: bound as the client
// certificate with the broker's CA, the broker and password kept, HTTPS
// untouched; the default TLS use still goes to HTTPS.
func TestMQTTUse(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	is := newIssuer(t, pool)
	env := newSim(t)
	driver := axis.New(&testenv.MemPins{}, 10*time.Second)
	dev := env.device("cam-00013")
	before := env.state(t, dev.ID).MQTT
	require.NotEmpty(t, before.Host)
	require.NotEmpty(t, before.Password)

	// The default use: HTTPS, the MQTT client untouched.
	https := is.renew(t, driver, dev, pki.CertTypeTLS, p256)
	st := env.state(t, dev.ID)
	assert.Equal(t, "certfleet-tls-1", st.HTTPS)
	assert.Equal(t, before, st.MQTT)
	none, err := driver.Current(ctx, withUse(dev, pki.CertTypeTLS, device.BindingMQTT), pki.CertTypeTLS)
	require.NoError(t, err)
	assert.Nil(t, none, "no MQTT client certificate yet")

	brokerCA := testpki.NewCA(t, "Broker CA").Cert
	mqttDev := withUse(dev, pki.CertTypeTLS, device.BindingMQTT, brokerCA)
	mqtt := is.renew(t, driver, mqttDev, pki.CertTypeTLS, p256)
	st = env.state(t, dev.ID)
	assert.Equal(t, "certfleet-tls-2", st.MQTT.ClientCert)
	assert.Equal(t, "CN=Broker CA", st.CASubjects[st.MQTT.CACert], "the broker's CA validates the broker")
	assert.True(t, strings.HasPrefix(st.MQTT.CACert, "certfleet-trust-"), st.MQTT.CACert)
	assert.True(t, st.MQTT.ValidateServerCert)
	assert.Equal(t, before.Host, st.MQTT.Host)
	assert.Equal(t, before.Port, st.MQTT.Port)
	assert.Equal(t, before.Protocol, st.MQTT.Protocol)
	assert.Equal(t, before.ClientID, st.MQTT.ClientID)
	assert.Equal(t, before.Username, st.MQTT.Username)
	assert.Equal(t, before.Password, st.MQTT.Password, "the broker password is kept")
	assert.Equal(t, "certfleet-tls-1", st.HTTPS, "HTTPS is not touched")
	assert.Contains(t, st.Certificates, "certfleet-tls-1", "the HTTPS certificate is in use and stays")

	current, err := driver.Current(ctx, mqttDev, pki.CertTypeTLS)
	require.NoError(t, err)
	assert.True(t, mqtt[0].Equal(current))
	current, err = driver.Current(ctx, dev, pki.CertTypeTLS)
	require.NoError(t, err)
	assert.True(t, https[0].Equal(current), "the default use is HTTPS")

	// Again: nothing changes.
	calls := st.Calls
	require.NoError(t, driver.Install(ctx, mqttDev, pki.CertTypeTLS, mqtt))
	assert.Equal(t, calls["bind_mqtt"], env.state(t, dev.ID).Calls["bind_mqtt"], "no second bind")

	// The next MQTT renewal replaces the client certificate only.
	caAlias := st.MQTT.CACert
	is.renew(t, driver, mqttDev, pki.CertTypeTLS, p256)
	st = env.state(t, dev.ID)
	assert.Equal(t, "certfleet-tls-3", st.MQTT.ClientCert)
	assert.Equal(t, caAlias, st.MQTT.CACert)
	assert.Equal(t, []string{"certfleet-tls-1", "certfleet-tls-3", axissim.FactoryAlias}, st.Certificates)
	assert.Equal(t, "certfleet-tls-1", st.HTTPS)
	assert.Equal(t, before.Password, st.MQTT.Password)
}

// An MQTT client that does not connect over TLS, or has no broker, would
// not use a client certificate: the install is refused, nothing is bound.
func TestMQTTUseNeedsTLSBroker(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	is := newIssuer(t, pool)
	env := newSim(t)
	driver := axis.New(&testenv.MemPins{}, 10*time.Second)
	dev := withUse(env.device("cam-00016"), pki.CertTypeTLS, device.BindingMQTT)
	for _, server := range []vapixwire.MQTTServer{{Protocol: vapixwire.MQTTProtocolTCP, Host: "broker.example.net", Port: 1883}, {Protocol: vapixwire.MQTTProtocolSSL}} {
		require.NoError(t, env.sim.SetMQTTBroker(dev.ID, server))
		der, err := driver.GenerateCSR(ctx, dev, csrRequest(dev.ID, pki.CertTypeTLS, p256))
		require.NoError(t, err)
		err = driver.Install(ctx, dev, pki.CertTypeTLS, is.IssueAs(t, pki.CertTypeTLS, dev.ID, der))
		require.Error(t, err)
		assert.True(t, device.IsPermanent(err), err)
		st := env.state(t, dev.ID)
		assert.Empty(t, st.MQTT.ClientCert)
		assert.Equal(t, axissim.FactoryAlias, st.HTTPS)
	}
}

// Trust has no use on HTTPS: nothing is uploaded for it.
func TestHTTPSIgnoresTrust(t *testing.T) {
	pool, _ := testenv.Database(t)
	is := newIssuer(t, pool)
	env := newSim(t)
	driver := axis.New(&testenv.MemPins{}, 10*time.Second)
	dev := withUse(env.device("cam-00014"), pki.CertTypeTLS, device.BindingHTTPS, testpki.NewCA(t, "Unused CA").Cert)
	chain := is.renew(t, driver, dev, pki.CertTypeTLS, p256)
	st := env.state(t, dev.ID)
	assert.Equal(t, "certfleet-tls-1", st.HTTPS)
	assert.Len(t, st.CACertificates, len(chain)-1, "the chain's CA certificates only")
	for _, subject := range st.CASubjects {
		assert.NotEqual(t, "CN=Unused CA", subject)
	}
}

// A binding that does not fit the type, or trust the binding cannot hold, is
// refused before any change.
func TestUseRefused(t *testing.T) {
	ctx := context.Background()
	env := newSim(t)
	driver := axis.New(&testenv.MemPins{}, 10*time.Second)
	base := env.device("cam-00015")
	two := []*x509.Certificate{testpki.NewCA(t, "Broker CA 1").Cert, testpki.NewCA(t, "Broker CA 2").Cert}
	for name, tc := range map[string]struct {
		certType string
		use      device.Use
	}{
		"8021x on mqtt":      {pki.CertTypeIEEE8021X, device.Use{Binding: device.BindingMQTT}},
		"8021x on https":     {pki.CertTypeIEEE8021X, device.Use{Binding: device.BindingHTTPS}},
		"tls on 8021x":       {pki.CertTypeTLS, device.Use{Binding: device.BindingIEEE8021X}},
		"unknown binding":    {pki.CertTypeTLS, device.Use{Binding: "ftp"}},
		"two broker CAs":     {pki.CertTypeTLS, device.Use{Binding: device.BindingMQTT, Trust: two}},
		"empty trust member": {pki.CertTypeIEEE8021X, device.Use{Binding: device.BindingIEEE8021X, Trust: []*x509.Certificate{nil}}},
	} {
		dev := base
		dev.Uses = map[string]device.Use{tc.certType: tc.use}
		_, err := driver.GenerateCSR(ctx, dev, csrRequest(dev.ID, tc.certType, p256))
		require.Error(t, err, name)
		assert.True(t, device.IsPermanent(err), "%s: %v", name, err)
		err = driver.Install(ctx, dev, tc.certType, []*x509.Certificate{two[0]})
		require.Error(t, err, name)
		assert.True(t, device.IsPermanent(err), "%s: %v", name, err)
		_, err = driver.Current(ctx, dev, tc.certType)
		require.Error(t, err, name)
		assert.True(t, device.IsPermanent(err), "%s: %v", name, err)
	}
	st := env.state(t, base.ID)
	assert.Equal(t, []string{axissim.FactoryAlias}, st.Certificates, "nothing was made")
	assert.Empty(t, st.CACertificates)
}

func withUse(dev device.Device, certType, binding string, trust ...*x509.Certificate) device.Device {
	dev.Uses = map[string]device.Use{certType: {Binding: binding, Trust: trust}}
	return dev
}
