// Package agent is the device driver for the agent protocol (package
// agentproto): certfleet's client of `certfleet agent` on Linux devices and of
// the simulated fleet. It sends the device's credential on every call over
// package tlspin's pinned, redirect-refusing client.
package agent

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/certfleet/certfleet/agentproto"
	"github.com/certfleet/certfleet/credentials/secret"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/drivers/device/tlspin"
	"github.com/certfleet/certfleet/pki"
)

// DriverName is how device records name this driver.
const DriverName = "agent"

// Driver speaks the agent protocol.
type Driver struct {
	client  *tlspin.Client
	timeout time.Duration
}

var _ device.Driver = (*Driver)(nil)

// New returns a driver whose calls time out after timeout.
func New(pins tlspin.Store, timeout time.Duration) *Driver {
	return &Driver{client: tlspin.New(pins), timeout: timeout}
}

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
	if trust := dev.UseOf(certType).Trust; len(trust) > 0 {
		req.Trust = string(pki.EncodeCertificatesPEM(trust...))
	}
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

	resp, err := d.client.Do(ctx, dev, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decodeResponse(dev.ID, resp, into)
}

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
