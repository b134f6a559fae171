// Package agent is the device driver for the agent protocol (package
// agentproto): certfleet's client of `certfleet agent` on Linux devices and of
// the simulated fleet. It pins each device's TLS certificate, trusting it on
// the first answer (2xx) that accepted the device's credential, sends that
// credential on every call, and never follows a redirect.
package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/certfleet/certfleet/agentproto"
	"github.com/certfleet/certfleet/credentials/secret"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/pki"
)

// DriverName is how device records name this driver.
const DriverName = "agent"

// PinStore records the TLS pin of a device seen for the first time.
type PinStore interface {
	SavePin(ctx context.Context, deviceID string, pin []byte) error
}

// Driver speaks the agent protocol.
type Driver struct {
	pins    PinStore
	timeout time.Duration

	mu         sync.Mutex
	transports map[string]*http.Transport // by pin: one per device, or one for a whole simulated fleet
}

var _ device.Driver = (*Driver)(nil)

// New returns a driver whose calls time out after timeout.
func New(pins PinStore, timeout time.Duration) *Driver {
	return &Driver{pins: pins, timeout: timeout, transports: map[string]*http.Transport{}}
}

// errPinMismatch is a device presenting another TLS certificate than the pinned one.
var errPinMismatch = errors.New("the device's TLS certificate does not match its pin")

// GenerateCSR asks the device for a CSR and checks that it is one.
func (d *Driver) GenerateCSR(ctx context.Context, dev device.Device, req pki.CSRRequest) ([]byte, error) {
	var resp agentproto.CSRResponse
	if err := d.call(ctx, dev, http.MethodPost, agentproto.PathCSR, req, &resp); err != nil {
		return nil, err
	}
	csr, err := pki.ParseCSR([]byte(resp.CSR))
	if err != nil {
		return nil, device.Permanent(fmt.Errorf("device %s returned a bad CSR: %w", dev.ID, err))
	}
	return csr.Raw, nil
}

// Install sends the chain to the device.
func (d *Driver) Install(ctx context.Context, dev device.Device, certType string, chain []*x509.Certificate) error {
	req := agentproto.InstallRequest{CertType: certType, Chain: string(pki.EncodeCertificatesPEM(chain...))}
	var resp agentproto.InstallResponse
	return d.call(ctx, dev, http.MethodPost, agentproto.PathInstall, req, &resp)
}

// Current reads the device's certificate of certType; nil when it has none.
func (d *Driver) Current(ctx context.Context, dev device.Device, certType string) (*x509.Certificate, error) {
	var resp agentproto.CurrentResponse
	err := d.call(ctx, dev, http.MethodGet, agentproto.PathCurrent+"?cert_type="+url.QueryEscape(certType), nil, &resp)
	var refusal *agentproto.Error
	if errors.As(err, &refusal) && refusal.Code == agentproto.CodeNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	chain, err := pki.ParseCertificatesPEM([]byte(resp.Chain))
	if err != nil {
		return nil, device.Permanent(fmt.Errorf("device %s returned a bad chain: %w", dev.ID, err))
	}
	return chain[0], nil
}

// call makes one protocol call and classifies its failure.
func (d *Driver) call(ctx context.Context, dev device.Device, method, path string, body, into any) error {
	credential, err := bearer(dev)
	if err != nil {
		return err
	}
	var payload io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return device.Permanent(err)
		}
		payload = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, dev.Address+path, payload)
	if err != nil {
		return device.Permanent(fmt.Errorf("device %s address %q: %w", dev.ID, dev.Address, err))
	}
	req.Header.Set("Authorization", "Bearer "+credential)
	req.Header.Set("Content-Type", "application/json")

	transport, firstPin := d.transport(dev)
	if firstPin != nil {
		defer transport.CloseIdleConnections()
	}
	resp, err := (&http.Client{Transport: transport, CheckRedirect: refuseRedirects}).Do(req)
	if err != nil {
		if errors.Is(err, errPinMismatch) {
			return device.Permanent(fmt.Errorf("device %s: %w", dev.ID, errPinMismatch))
		}
		return device.Transient(fmt.Errorf("device %s unreachable: %w", dev.ID, err))
	}
	defer resp.Body.Close()
	// Only an answer that accepted the credential pins the device: anyone on
	// the path can answer 401 or 500 with a certificate of their own.
	if firstPin != nil && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if err := d.pins.SavePin(ctx, dev.ID, *firstPin); err != nil {
			return device.Transient(fmt.Errorf("pin TLS certificate of device %s: %w", dev.ID, err))
		}
	}
	return decodeResponse(dev.ID, resp, into)
}

// refuseRedirects makes the client return a redirect as the answer instead of
// following it: following would send the credential, and for a 307 the body,
// wherever the device points, and Go keeps the Authorization header on a
// redirect to the same host at any port.
func refuseRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// bearer is the token the agent protocol sends: a bearer credential, or one
// derived per device (which the store hands out as bearer).
func bearer(dev device.Device) (string, error) {
	switch {
	case dev.Credential.IsZero():
		return "", device.Permanent(fmt.Errorf("device %s has no credential; bind one from the credential store", dev.ID))
	case dev.Credential.Kind != secret.Bearer:
		return "", device.Permanent(fmt.Errorf("device %s: the agent driver sends a bearer or derived credential, not %s", dev.ID, dev.Credential.Kind))
	}
	return dev.Credential.Value, nil
}

func decodeResponse(deviceID string, resp *http.Response, into any) error {
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return device.Transient(fmt.Errorf("device %s: read answer: %w", deviceID, err))
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, into); err != nil {
			return device.Permanent(fmt.Errorf("device %s: malformed answer: %w", deviceID, err))
		}
		return nil
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return device.Permanent(fmt.Errorf("device %s redirected (%d) to %q; the agent protocol does not redirect, and certfleet does not follow",
			deviceID, resp.StatusCode, resp.Header.Get("Location")))
	}
	var body agentproto.ErrorResponse
	_ = json.Unmarshal(data, &body)
	refusal := &agentproto.Error{Status: resp.StatusCode, Code: body.Error.Code, Message: body.Error.Message}
	err = fmt.Errorf("device %s: %w", deviceID, refusal)
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusBadGateway,
		http.StatusGatewayTimeout, http.StatusInternalServerError, http.StatusRequestTimeout:
		return device.Transient(err)
	}
	return device.Permanent(err)
}

// transport returns a transport that accepts only the device's pinned TLS
// certificate. For a device not pinned yet it returns a one-off transport that
// records what the device presents; the caller saves that pin once the call
// succeeded with the device's credential accepted.
func (d *Driver) transport(dev device.Device) (*http.Transport, *[]byte) {
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
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.transports[key]; ok {
		return t, nil
	}
	pin := bytes.Clone(dev.TLSPin)
	t := newTransport(func(cert *x509.Certificate) error {
		if sum := sha256.Sum256(cert.Raw); !bytes.Equal(sum[:], pin) {
			return errPinMismatch
		}
		return nil
	})
	d.transports[key] = t
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
					return errPinMismatch
				}
				return check(cs.PeerCertificates[0])
			},
		},
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
}
