// Package tlspin is the HTTPS client of device drivers that trust a device's
// own TLS certificate by its SHA-256 pin: the first answer (2xx) that accepted
// the device's credential pins the certificate the device presented, and a
// different certificate afterwards is refused. It never follows a redirect.
package tlspin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/device"
)

// Store records the pin of a device seen for the first time.
type Store interface {
	SavePin(ctx context.Context, deviceID string, pin []byte) error
}

// Repinner is a Store that moves a device's pin from old to seen (or finds it
// moved already) when seen is the fingerprint of a certificate the inventory
// holds as that device's:
// a camera whose HTTPS certificate certfleet replaced presents the new one,
// whose key only the camera has, and must stay reachable.
type Repinner interface {
	Repin(ctx context.Context, deviceID string, old, seen []byte) (bool, error)
}

// ErrMismatch is a device presenting another TLS certificate than the pinned one.
var ErrMismatch = errors.New("the device's TLS certificate does not match its pin")

// mismatch is ErrMismatch with the fingerprint of what the device presented.
type mismatch struct{ seen []byte }

func (m *mismatch) Error() string { return ErrMismatch.Error() }
func (m *mismatch) Unwrap() error { return ErrMismatch }

// Client sends requests to devices, one transport per pin.
type Client struct {
	pins Store

	mu         sync.Mutex
	transports map[string]*http.Transport // by pin: one per device, or one for a whole simulated fleet
	// learned are the pins this client saved, by device: the calls that
	// follow a first contact in the same step hold the device to its pin,
	// though the step read the device before it had one. They are forgotten
	// after learnedFor, so that a pin an operator cleared is not kept here.
	learned map[string]learnedPin
}

type learnedPin struct {
	pin []byte
	at  time.Time
}

// learnedFor outlasts a job step's try (a minute).
const learnedFor = 5 * time.Minute

// New returns a client that records first pins in pins.
func New(pins Store) *Client {
	return &Client{pins: pins, transports: map[string]*http.Transport{}, learned: map[string]learnedPin{}}
}

// Do sends req to dev and returns the answer, redirects included as answers.
// Its errors are classified: a pin mismatch is permanent, an unreachable
// device transient.
func (c *Client) Do(ctx context.Context, dev device.Device, req *http.Request) (*http.Response, error) {
	resp, firstPin, err := c.send(ctx, dev, req)
	var m *mismatch
	if errors.As(err, &m) {
		if dev, err = c.repin(ctx, dev, m.seen, err); err == nil {
			if req.GetBody != nil {
				if req.Body, err = req.GetBody(); err != nil {
					return nil, device.Permanent(err)
				}
			}
			resp, firstPin, err = c.send(ctx, dev, req)
		}
	}
	if err != nil {
		if errors.Is(err, ErrMismatch) {
			return nil, device.Permanent(fmt.Errorf("device %s: %w", dev.ID, ErrMismatch))
		}
		return nil, device.Transient(fmt.Errorf("device %s unreachable: %w", dev.ID, err))
	}
	// Only an answer that accepted the credential pins the device: anyone on
	// the path can answer 401 or 500 with a certificate of their own.
	if firstPin != nil && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if err := c.pins.SavePin(ctx, dev.ID, *firstPin); err != nil {
			resp.Body.Close()
			if errors.Is(err, ErrMismatch) {
				return nil, device.Permanent(fmt.Errorf("device %s: another contact pinned another certificate: %w", dev.ID, err))
			}
			return nil, device.Transient(fmt.Errorf("pin TLS certificate of device %s: %w", dev.ID, err))
		}
		c.learn(dev.ID, *firstPin)
	}
	return resp, nil
}

// send sends req over the transport of dev's pin, or of a first contact.
func (c *Client) send(ctx context.Context, dev device.Device, req *http.Request) (*http.Response, *[]byte, error) {
	if dev.TLSPin == nil {
		dev.TLSPin = c.recall(dev.ID)
	}
	transport, firstPin := c.transport(dev)
	if firstPin != nil {
		defer transport.CloseIdleConnections()
	}
	resp, err := (&http.Client{Transport: transport, CheckRedirect: refuseRedirects}).Do(req.WithContext(ctx))
	return resp, firstPin, err
}

func (c *Client) learn(deviceID string, pin []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for id, l := range c.learned {
		if now.Sub(l.at) > learnedFor {
			delete(c.learned, id)
		}
	}
	c.learned[deviceID] = learnedPin{pin: pin, at: now}
}

func (c *Client) recall(deviceID string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, ok := c.learned[deviceID]; ok && time.Since(l.at) <= learnedFor {
		return l.pin
	}
	return nil
}

// repin moves dev's pin to seen if the store holds seen as a certificate of
// dev, and returns dev with its new pin; otherwise it returns mismatchErr.
func (c *Client) repin(ctx context.Context, dev device.Device, seen []byte, mismatchErr error) (device.Device, error) {
	repinner, ok := c.pins.(Repinner)
	if !ok {
		return dev, mismatchErr
	}
	moved, err := repinner.Repin(ctx, dev.ID, dev.TLSPin, seen)
	if err != nil {
		return dev, device.Transient(fmt.Errorf("move the TLS pin of device %s: %w", dev.ID, err))
	}
	if !moved {
		return dev, mismatchErr
	}
	dev.TLSPin = seen
	return dev, nil
}

// refuseRedirects makes the client return a redirect as the answer instead of
// following it: following would send the credential, and for a 307 the body,
// wherever the device points, and Go keeps the Authorization header on a
// redirect to the same host at any port.
func refuseRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// transport returns a transport that accepts only the device's pinned TLS
// certificate. For a device not pinned yet it returns a one-off transport that
// records what the device presents; Do saves that pin once a call succeeded
// with the device's credential accepted.
func (c *Client) transport(dev device.Device) (*http.Transport, *[]byte) {
	if dev.TLSPin == nil {
		var seen []byte
		t := newTransport(func(cert *x509.Certificate) error {
			sum := sha256.Sum256(cert.Raw)
			seen = sum[:]
			return nil
		})
		return t, &seen
	}
	key := hex.EncodeToString(dev.TLSPin)
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.transports[key]; ok {
		return t, nil
	}
	pin := bytes.Clone(dev.TLSPin)
	t := newTransport(func(cert *x509.Certificate) error {
		if sum := sha256.Sum256(cert.Raw); !bytes.Equal(sum[:], pin) {
			return &mismatch{seen: sum[:]}
		}
		return nil
	})
	c.transports[key] = t
	return t, nil
}

// newTransport checks the peer's leaf certificate with check instead of a CA:
// devices present self-signed certificates, and the pin is the trust.
func newTransport(check func(*x509.Certificate) error) *http.Transport {
	return &http.Transport{
		TLSClientConfig: &tls.Config{
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: true, // replaced by VerifyConnection's pin check
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return ErrMismatch
				}
				return check(cs.PeerCertificates[0])
			},
		},
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
}

// DBPins keeps pins in the devices table. A pin is set once: a device that
// already has one keeps it, and a changed certificate must be re-pinned by an
// operator.
type DBPins struct{ Pool *pgxpool.Pool }

// Repin moves deviceID's pin from old to seen if the inventory holds seen
// as the fingerprint of a certificate of deviceID that is not revoked.
func (p DBPins) Repin(ctx context.Context, deviceID string, old, seen []byte) (bool, error) {
	n, err := store.New(p.Pool).RepinDeviceTLS(ctx, store.RepinDeviceTLSParams{DeviceID: deviceID, OldPin: old, NewPin: seen})
	if err != nil {
		return false, fmt.Errorf("move TLS pin of %s: %w", deviceID, err)
	}
	return n == 1, nil
}

// SavePin records pin as deviceID's if it has none yet. If another contact
// pinned the device meanwhile, pin must be that one: ErrMismatch otherwise.
func (p DBPins) SavePin(ctx context.Context, deviceID string, pin []byte) error {
	q := store.New(p.Pool)
	n, err := q.PinDeviceTLS(ctx, store.PinDeviceTLSParams{ID: deviceID, TlsPin: pin})
	if err != nil || n == 1 {
		return wrapSave(deviceID, err)
	}
	stored, err := q.GetDeviceTLSPin(ctx, deviceID)
	if err != nil {
		return wrapSave(deviceID, err)
	}
	if !bytes.Equal(stored, pin) {
		return ErrMismatch
	}
	return nil
}

func wrapSave(deviceID string, err error) error {
	if err != nil {
		return fmt.Errorf("save TLS pin of %s: %w", deviceID, err)
	}
	return nil
}
