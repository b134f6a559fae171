package axis_test

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	axissim "github.com/certfleet/certfleet/devicesim/axis"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/drivers/device/axis"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/pki"
)

// issuer takes cameras through CSR, issuance and install.
type issuer struct{ *testenv.Issuer }

func newIssuer(t *testing.T, pool *pgxpool.Pool) issuer {
	return issuer{testenv.NewIssuer(t, pool, "camera")}
}

// renew takes a camera through CSR, issuance and install.
func (is issuer) renew(t *testing.T, d *axis.Driver, dev device.Device, certType string, key pki.KeySpec) []*x509.Certificate {
	t.Helper()
	ctx := context.Background()
	der, err := d.GenerateCSR(ctx, dev, csrRequest(dev.ID, certType, key))
	require.NoError(t, err)
	chain := is.IssueAs(t, certType, dev.ID, der)
	require.NoError(t, d.Install(ctx, dev, certType, chain))
	return chain
}

func TestDriverAndSimulatorEndToEnd(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	is := newIssuer(t, pool)
	env := newSim(t)
	pins := &testenv.MemPins{}
	driver := axis.New(pins, 10*time.Second)
	dev := env.device("cam-00007")

	// A new camera: its factory certificate on HTTPS, nothing on 802.1X.
	factory, err := driver.Current(ctx, dev, pki.CertTypeTLS)
	require.NoError(t, err)
	require.NotNil(t, factory)
	assert.Equal(t, "cam-00007", factory.Subject.CommonName)
	none, err := driver.Current(ctx, dev, pki.CertTypeIEEE8021X)
	require.NoError(t, err)
	assert.Nil(t, none)
	assert.Equal(t, env.pinOf(), pins.Get(dev.ID), "pinned on the first answer that accepted the credential")
	dev.TLSPin = pins.Get(dev.ID)

	// First renewal.
	der, err := driver.GenerateCSR(ctx, dev, csrRequest(dev.ID, pki.CertTypeTLS, p256))
	require.NoError(t, err)
	csr, err := x509.ParseCertificateRequest(der)
	require.NoError(t, err)
	assert.Equal(t, "cam-00007", csr.Subject.CommonName)
	assert.Equal(t, []string{"Example"}, csr.Subject.Organization)
	assert.Equal(t, []string{"cam-00007.example.net"}, csr.DNSNames)
	st := env.state(t, dev.ID)
	assert.Equal(t, []string{"certfleet-tls-1", axissim.FactoryAlias}, st.Certificates)
	assert.Equal(t, axissim.FactoryAlias, st.HTTPS, "nothing is bound before Install")

	first := is.Issue(t, dev.ID, der)
	require.NoError(t, driver.Install(ctx, dev, pki.CertTypeTLS, first))
	current, err := driver.Current(ctx, dev, pki.CertTypeTLS)
	require.NoError(t, err)
	assert.True(t, first[0].Equal(current), "the camera serves the new certificate")
	st = env.state(t, dev.ID)
	assert.Equal(t, "certfleet-tls-1", st.HTTPS)
	assert.Equal(t, []string{"certfleet-tls-1", axissim.FactoryAlias}, st.Certificates, "the factory certificate stays")
	assert.Len(t, st.CACertificates, len(first)-1, "the chain's CA certificates are uploaded")

	// Install is at least once: again is a success that changes nothing.
	calls := st.Calls
	require.NoError(t, driver.Install(ctx, dev, pki.CertTypeTLS, first))
	st = env.state(t, dev.ID)
	assert.Equal(t, "certfleet-tls-1", st.HTTPS)
	assert.Equal(t, calls["bind_https"], st.Calls["bind_https"], "no second bind")
	assert.Equal(t, calls["replace"], st.Calls["replace"], "no second upload")
	assert.Equal(t, calls["add_ca"], st.Calls["add_ca"], "no second CA upload")

	// Second renewal, RSA: the previous certfleet certificate goes, the factory one stays.
	second := is.renew(t, driver, dev, pki.CertTypeTLS, pki.KeySpec{Algorithm: "rsa", Size: 2048})
	current, err = driver.Current(ctx, dev, pki.CertTypeTLS)
	require.NoError(t, err)
	assert.True(t, second[0].Equal(current))
	st = env.state(t, dev.ID)
	assert.Equal(t, []string{"certfleet-tls-2", axissim.FactoryAlias}, st.Certificates)
	assert.Equal(t, "certfleet-tls-2", st.HTTPS)

	// A CSR that never got its certificate is cleaned up by the next one.
	_, err = driver.GenerateCSR(ctx, dev, csrRequest(dev.ID, pki.CertTypeTLS, p256))
	require.NoError(t, err)
	_, err = driver.GenerateCSR(ctx, dev, csrRequest(dev.ID, pki.CertTypeTLS, p256))
	require.NoError(t, err)
	st = env.state(t, dev.ID)
	assert.Equal(t, []string{"certfleet-tls-2", "certfleet-tls-4", axissim.FactoryAlias}, st.Certificates)

	// IEEE 802.1X is bound separately and leaves HTTPS alone.
	dot1x := is.renew(t, driver, dev, pki.CertTypeIEEE8021X, p256)
	current, err = driver.Current(ctx, dev, pki.CertTypeIEEE8021X)
	require.NoError(t, err)
	assert.True(t, dot1x[0].Equal(current))
	st = env.state(t, dev.ID)
	assert.Equal(t, "certfleet-ieee8021x-1", st.Dot1X)
	assert.Equal(t, "certfleet-tls-2", st.HTTPS)
	dot1x2 := is.renew(t, driver, dev, pki.CertTypeIEEE8021X, p256)
	st = env.state(t, dev.ID)
	assert.Equal(t, "certfleet-ieee8021x-2", st.Dot1X)
	assert.NotContains(t, st.Certificates, "certfleet-ieee8021x-1")
	assert.Contains(t, st.Certificates, axissim.FactoryAlias)
	current, err = driver.Current(ctx, dev, pki.CertTypeIEEE8021X)
	require.NoError(t, err)
	assert.True(t, dot1x2[0].Equal(current))
}
