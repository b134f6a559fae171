package axis_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/devicesim"
	axissim "github.com/certfleet/certfleet/devicesim/axis"
	"github.com/certfleet/certfleet/drivers/device/axis"
	"github.com/certfleet/certfleet/drivers/device/tlspin"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/pki"
)

// repinningPins is a pin store that moves a pin to a certificate it holds
// as the device's, as the inventory does (tlspin.DBPins).
type repinningPins struct {
	testenv.MemPins
	issued   map[[32]byte]bool
	replaced int
}

func (p *repinningPins) Repin(_ context.Context, id string, old, seen []byte) (bool, error) {
	current := p.Get(id)
	if (!bytes.Equal(current, old) && !bytes.Equal(current, seen)) || !p.issued[[32]byte(seen)] {
		return false, nil
	}
	if !bytes.Equal(current, seen) {
		p.Set(id, seen)
		p.replaced++
	}
	return true, nil
}

// A camera that serves HTTPS with the certificate bound to HTTPS, as a real one does.
func startRealisticCamera(t *testing.T, id string) *simEnv {
	t.Helper()
	fleet := devicesim.New(5, "cam-", fleetSecret)
	sim := axissim.New()
	srv := httptest.NewUnstartedServer(fleet.Handler(sim))
	srv.TLS = &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return sim.TLSCertificate(id) }}
	srv.StartTLS()
	// Without SNI (an IP address) crypto/tls uses Certificates over GetCertificate.
	srv.TLS.Certificates = nil
	t.Cleanup(srv.Close)
	return &simEnv{fleet: fleet, sim: sim, srv: srv}
}

// TestPinFollowsTheNewHTTPSCertificate: a camera serves the certificate
// certfleet bound to HTTPS; the next call moves the pin to it because the
// inventory holds it as the camera's, and a store that cannot move pins
// refuses the camera as a changed one.
func TestPinFollowsTheNewHTTPSCertificate(t *testing.T) {
	ctx := context.Background()
	ca := testpki.NewCA(t, "test CA")
	for _, canRepin := range []bool{true, false} {
		env := startRealisticCamera(t, "cam-00001")
		pins := &repinningPins{issued: map[[32]byte]bool{}}
		var store tlspin.Store = pins
		if !canRepin {
			store = &pins.MemPins
		}
		driver := axis.New(store, 5*time.Second)
		dev := env.device("cam-00001")
		_, err := driver.Current(ctx, dev, pki.CertTypeTLS)
		require.NoError(t, err)
		dev.TLSPin = pins.Get(dev.ID)
		require.NotNil(t, dev.TLSPin)

		der, err := driver.GenerateCSR(ctx, dev, csrRequest(dev.ID, pki.CertTypeTLS, p256))
		require.NoError(t, err)
		chain := ca.Chain(t, der)
		want := sha256.Sum256(chain[0].Raw)
		pins.issued[want] = true
		require.NoError(t, driver.Install(ctx, dev, pki.CertTypeTLS, chain))

		// A fresh client: a real camera's web server restart drops the pooled connections.
		driver = axis.New(store, 5*time.Second)
		current, err := driver.Current(ctx, dev, pki.CertTypeTLS)
		if !canRepin {
			requirePermanent(t, err, "the camera now presents another certificate than its pin")
			continue
		}
		require.NoError(t, err)
		assert.True(t, chain[0].Equal(current))
		assert.Equal(t, want[:], pins.Get(dev.ID), "the pin moved to the installed leaf")
		assert.Equal(t, 1, pins.replaced)
		dev.TLSPin = pins.Get(dev.ID)
		require.NoError(t, driver.Install(ctx, dev, pki.CertTypeTLS, chain), "a retried install with the new pin")
		assert.Equal(t, 1, pins.replaced)

		// A certificate the inventory does not hold as the camera's is refused.
		delete(pins.issued, want)
		pins.Set(dev.ID, make([]byte, 32))
		dev.TLSPin = pins.Get(dev.ID)
		_, err = axis.New(store, 5*time.Second).Current(ctx, dev, pki.CertTypeTLS)
		requirePermanent(t, err, "does not match its pin")
	}
}
