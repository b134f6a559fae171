package onvif_test

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/pki"
)

func containsCert(certs []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range certs {
		if x.Equal(c) {
			return true
		}
	}
	return false
}

// TestIEEE8021XTrust: the use's Trust CA and the issuing CA become what the
// camera's 802.1X configuration trusts for the authentication server; a
// renewal with another trust CA replaces it and deletes certfleet's old one.
func TestIEEE8021XTrust(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	is := newIssuer(t, pool)
	sim := startSim(t)
	driver, _ := newDriver()
	dev := sim.device(6)
	ieee := pki.CertTypeIEEE8021X

	radiusCA := testpki.NewCA(t, "RADIUS CA").Cert
	dev.Uses = map[string]device.Use{ieee: {Binding: device.BindingIEEE8021X, Trust: []*x509.Certificate{radiusCA}}}
	first := is.issueFor(t, driver, dev, ieee, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	require.GreaterOrEqual(t, len(first), 2)
	require.NoError(t, driver.Install(ctx, dev, ieee, first))
	current, err := driver.Current(ctx, dev, ieee)
	require.NoError(t, err)
	assert.True(t, first[0].Equal(current))

	inv, err := sim.cams.Inventory(dev.ID)
	require.NoError(t, err)
	trusted := inv.Dot1XCACertificates()
	assert.True(t, containsCert(trusted, radiusCA), "the 802.1X configuration trusts the RADIUS CA")
	for _, ca := range first[1:] {
		assert.True(t, containsCert(trusted, ca), "the 802.1X configuration trusts the issuing CA %s", ca.Subject)
	}
	assert.Len(t, trusted, 1+len(first)-1)
	for _, c := range inv.Certs {
		if c.Cert.Equal(radiusCA) {
			assert.Equal(t, "certfleet/trust", c.Alias)
		}
	}

	require.NoError(t, driver.Install(ctx, dev, ieee, first), "a retried install succeeds")
	again, err := sim.cams.Inventory(dev.ID)
	require.NoError(t, err)
	assert.Equal(t, inv, again, "a retried install changes nothing")

	otherCA := testpki.NewCA(t, "RADIUS CA 2").Cert
	dev.Uses = map[string]device.Use{ieee: {Binding: device.BindingIEEE8021X, Trust: []*x509.Certificate{otherCA}}}
	second := is.issueFor(t, driver, dev, ieee, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	require.NoError(t, driver.Install(ctx, dev, ieee, second))
	current, err = driver.Current(ctx, dev, ieee)
	require.NoError(t, err)
	assert.True(t, second[0].Equal(current))

	inv, err = sim.cams.Inventory(dev.ID)
	require.NoError(t, err)
	trusted = inv.Dot1XCACertificates()
	assert.True(t, containsCert(trusted, otherCA), "the new RADIUS CA replaces the old")
	assert.False(t, containsCert(trusted, radiusCA), "the old RADIUS CA is no longer trusted")
	for _, ca := range second[1:] {
		assert.True(t, containsCert(trusted, ca))
	}
	count := map[string]int{}
	for _, c := range inv.Certs {
		assert.False(t, c.Cert.Equal(radiusCA), "certfleet's copy of the old RADIUS CA is deleted")
		count["cert "+c.Alias]++
	}
	for _, k := range inv.Keys {
		count["key "+k.Alias]++
	}
	for _, p := range inv.Policies {
		count["policy "+p.Alias]++
	}
	assert.Equal(t, 1, count["cert certfleet/trust"], "%v", count)
	assert.Equal(t, 1, count["key certfleet/trust"], "%v", count)
	assert.Equal(t, 1, count["policy certfleet/ieee8021x"], "%v", count)
	assert.Equal(t, 1, count["cert factory default"], "factory objects stay: %v", count)
	assert.Equal(t, 1, count["key factory default"], "factory objects stay: %v", count)
	require.Len(t, inv.Dot1X, 1)

	// The same leaf with more trust, then with less: the configuration is
	// made again with the new trust each time, and the old trust goes.
	thirdCA := testpki.NewCA(t, "RADIUS CA 3").Cert
	dev.Uses = map[string]device.Use{ieee: {Binding: device.BindingIEEE8021X, Trust: []*x509.Certificate{thirdCA, otherCA}}}
	require.NoError(t, driver.Install(ctx, dev, ieee, second))
	inv, err = sim.cams.Inventory(dev.ID)
	require.NoError(t, err)
	trusted = inv.Dot1XCACertificates()
	assert.True(t, containsCert(trusted, thirdCA))
	assert.True(t, containsCert(trusted, otherCA))
	dev.Uses = map[string]device.Use{ieee: {Binding: device.BindingIEEE8021X, Trust: []*x509.Certificate{thirdCA}}}
	require.NoError(t, driver.Install(ctx, dev, ieee, second))
	inv, err = sim.cams.Inventory(dev.ID)
	require.NoError(t, err)
	trusted = inv.Dot1XCACertificates()
	assert.True(t, containsCert(trusted, thirdCA))
	assert.False(t, containsCert(trusted, otherCA))
	for _, c := range inv.Certs {
		assert.False(t, c.Cert.Equal(otherCA), "certfleet's copy of the replaced RADIUS CA is deleted")
	}
	require.Len(t, inv.Dot1X, 1)
	require.Len(t, inv.Policies, 1)

	// No trust any more: the configuration names no policy, and certfleet's
	// policy and trust certificates go.
	dev.Uses = nil
	third := is.issueFor(t, driver, dev, ieee, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	require.NoError(t, driver.Install(ctx, dev, ieee, third))
	inv, err = sim.cams.Inventory(dev.ID)
	require.NoError(t, err)
	assert.Empty(t, inv.Dot1XCACertificateIDs())
	assert.Empty(t, inv.Policies)
	for _, c := range inv.Certs {
		assert.NotEqual(t, "certfleet/trust", c.Alias)
	}
	for _, k := range inv.Keys {
		assert.NotEqual(t, "certfleet/trust", k.Alias)
	}
}

// TestIEEE8021XTrustReusesCameraCopy: a trust CA the camera already holds
// (here under another alias) is referenced, not uploaded again, and never
// deleted by certfleet.
func TestIEEE8021XTrustReusesCameraCopy(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	is := newIssuer(t, pool)
	sim := startSim(t)
	driver, _ := newDriver()
	dev := sim.device(7)
	ieee := pki.CertTypeIEEE8021X

	// The issuing CA doubles as the RADIUS server's CA: the camera's copy
	// of the chain serves both.
	first := is.issueFor(t, driver, dev, ieee, pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	root := first[len(first)-1]
	dev.Uses = map[string]device.Use{ieee: {Binding: device.BindingIEEE8021X, Trust: []*x509.Certificate{root}}}
	require.NoError(t, driver.Install(ctx, dev, ieee, first))
	inv, err := sim.cams.Inventory(dev.ID)
	require.NoError(t, err)
	n := 0
	for _, c := range inv.Certs {
		if c.Cert.Equal(root) {
			n++
			assert.Equal(t, "certfleet/ca", c.Alias)
		}
		assert.NotEqual(t, "certfleet/trust", c.Alias)
	}
	assert.Equal(t, 1, n, "one copy of the root on the camera")
	assert.True(t, containsCert(inv.Dot1XCACertificates(), root))
}

// TestBindings: MQTT and bindings that do not fit the certificate type are
// refused permanently, before the camera is asked anything.
func TestBindings(t *testing.T) {
	ctx := context.Background()
	sim := startSim(t)
	driver, _ := newDriver()
	dev := sim.device(8)
	key := pki.KeySpec{Algorithm: "ecdsa", Size: 256}
	chain := []*x509.Certificate{testpki.NewCA(t, "unused").Cert}

	for _, tc := range []struct {
		certType, binding, want string
	}{
		{pki.CertTypeTLS, device.BindingMQTT, "MQTT"},
		{pki.CertTypeTLS, device.BindingIEEE8021X, "ieee8021x"},
		{pki.CertTypeIEEE8021X, device.BindingHTTPS, "https"},
		{pki.CertTypeIEEE8021X, device.BindingMQTT, "MQTT"},
		{pki.CertTypeTLS, "smtp", "smtp"},
	} {
		d := dev
		d.Uses = map[string]device.Use{tc.certType: {Binding: tc.binding}}
		_, err := driver.GenerateCSR(ctx, d, csrRequestFor(d, tc.certType, key))
		require.Error(t, err, "%s/%s", tc.certType, tc.binding)
		assert.True(t, device.IsPermanent(err), "%v", err)
		assert.Contains(t, err.Error(), tc.want)
		assert.Contains(t, err.Error(), "onvif driver")
		err = driver.Install(ctx, d, tc.certType, chain)
		require.Error(t, err)
		assert.True(t, device.IsPermanent(err), "%v", err)
		assert.Contains(t, err.Error(), tc.binding)
		_, err = driver.Current(ctx, d, tc.certType)
		require.Error(t, err)
		assert.True(t, device.IsPermanent(err), "%v", err)
	}
	assert.Empty(t, sim.cams.Calls(dev.ID), "nothing was sent to the camera")
}

// TestTLSWithDefaultUse: a TLS renewal with the default use, or an explicit
// https use with Trust (ignored), installs as before and creates no trust objects.
func TestTLSWithDefaultUse(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	is := newIssuer(t, pool)
	sim := startSim(t)
	driver, _ := newDriver()
	dev := sim.device(9)
	key := pki.KeySpec{Algorithm: "ecdsa", Size: 256}

	first := is.issue(t, driver, dev, key)
	require.NoError(t, driver.Install(ctx, dev, pki.CertTypeTLS, first))
	current, err := driver.Current(ctx, dev, pki.CertTypeTLS)
	require.NoError(t, err)
	assert.True(t, first[0].Equal(current))

	dev.Uses = map[string]device.Use{pki.CertTypeTLS: {Binding: device.BindingHTTPS, Trust: []*x509.Certificate{testpki.NewCA(t, "Client CA").Cert}}}
	second := is.issue(t, driver, dev, key)
	require.NoError(t, driver.Install(ctx, dev, pki.CertTypeTLS, second))
	current, err = driver.Current(ctx, dev, pki.CertTypeTLS)
	require.NoError(t, err)
	assert.True(t, second[0].Equal(current))

	inv, err := sim.cams.Inventory(dev.ID)
	require.NoError(t, err)
	assert.Empty(t, inv.Policies)
	assert.Empty(t, inv.Dot1X)
	for _, c := range inv.Certs {
		assert.False(t, strings.HasSuffix(c.Alias, "/trust"), c.Alias)
		assert.False(t, c.Cert.Equal(first[0]), "the first leaf is deleted")
	}
	keys, certs, paths := sim.certfleetObjects(t, dev.ID)
	assert.Equal(t, 1, paths)
	assert.Equal(t, len(second), certs)
	assert.GreaterOrEqual(t, keys, 1)
}
