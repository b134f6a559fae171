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
	"github.com/certfleet/certfleet/pki"
)

// replacingPins is a pin store that can move a pin.
type replacingPins struct {
	memPins
	replaced int
}

func (p *replacingPins) ReplacePin(_ context.Context, id string, old, pin []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if old != nil && !bytes.Equal(p.pins[id], old) {
		return nil
	}
	p.pins[id] = pin
	p.replaced++
	return nil
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

func TestPinFollowsTheNewHTTPSCertificate(t *testing.T) {
	ctx := context.Background()
	ca := newTestCA(t)
	for _, canReplace := range []bool{true, false} {
		env := startRealisticCamera(t, "cam-00001")
		pins := &replacingPins{}
		var store tlspin.Store = pins
		if !canReplace {
			store = &pins.memPins
		}
		driver := axis.New(store, 5*time.Second)
		dev := env.device("cam-00001")
		_, err := driver.Current(ctx, dev, pki.CertTypeTLS)
		require.NoError(t, err)
		dev.TLSPin = pins.get(dev.ID)
		require.NotNil(t, dev.TLSPin)

		der, err := driver.GenerateCSR(ctx, dev, csrRequest(dev.ID, pki.CertTypeTLS, p256))
		require.NoError(t, err)
		chain := ca.issue(t, der)
		require.NoError(t, driver.Install(ctx, dev, pki.CertTypeTLS, chain))

		want := sha256.Sum256(chain[0].Raw)
		dev.TLSPin = pins.get(dev.ID)
		if !canReplace {
			assert.NotEqual(t, want[:], dev.TLSPin, "a store that cannot replace keeps the old pin")
			// A fresh client (a real camera's web server restart drops the pooled connections).
			_, err = axis.New(store, 5*time.Second).Current(ctx, dev, pki.CertTypeTLS)
			requirePermanent(t, err, "the camera now presents another certificate than its pin")
			continue
		}
		assert.Equal(t, want[:], dev.TLSPin, "the pin moved to the installed leaf")
		assert.Equal(t, 1, pins.replaced)
		driver = axis.New(store, 5*time.Second)
		current, err := driver.Current(ctx, dev, pki.CertTypeTLS)
		require.NoError(t, err)
		assert.True(t, chain[0].Equal(current))
		require.NoError(t, driver.Install(ctx, dev, pki.CertTypeTLS, chain), "a retried install with the new pin")
		assert.Equal(t, 1, pins.replaced)
	}
}
