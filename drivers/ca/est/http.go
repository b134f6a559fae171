package est

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/estwire"
	"github.com/certfleet/certfleet/pki"
)

// maxResponse bounds what certfleet reads from an EST server.
const maxResponse = 1 << 20

// refusedError is the server refusing this request (400, 403): recorded as a
// rejection, unlike a misconfiguration or an outage.
type refusedError struct {
	status int
	body   string
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("EST server refused the request (HTTP %d): %s", e.status, e.body)
}

// enroll posts a CSR to simpleenroll. It returns the certificates issued, or
// nil certificates and the server's Retry-After when the server answers 202.
func (d *Driver) enroll(ctx context.Context, csrDER []byte) ([]*x509.Certificate, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.base+"/simpleenroll", bytes.NewReader(estwire.EncodeBase64(csrDER)))
	if err != nil {
		return nil, 0, ca.Permanent(err)
	}
	req.Header.Set("Content-Type", estwire.TypePKCS10)
	req.Header.Set("Content-Transfer-Encoding", "base64")
	resp, data, err := d.do(req)
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode == http.StatusAccepted {
		return nil, retryAfter(resp.Header.Get("Retry-After"), time.Now()), nil
	}
	certs, err := parseCertsOnly(data)
	return certs, 0, err
}

// chainTTL is how long the server's CA certificates are reused: they change
// rarely, and good EST clients cache /cacerts rather than fetch it per
// enrollment.
const chainTTL = time.Hour

// chainCache holds the server's CA certificates from the last /cacerts.
type chainCache struct {
	mu      sync.Mutex
	certs   []*x509.Certificate
	fetched time.Time
}

// CACertificates returns the server's /cacerts, ordered issuing CA first,
// fetched at most once per chainTTL.
func (d *Driver) CACertificates(ctx context.Context) ([]*x509.Certificate, error) {
	d.chain.mu.Lock()
	defer d.chain.mu.Unlock()
	if d.chain.certs != nil && time.Since(d.chain.fetched) < chainTTL {
		return d.chain.certs, nil
	}
	certs, err := d.fetchCACertificates(ctx)
	if err != nil {
		return nil, err
	}
	d.chain.certs, d.chain.fetched = certs, time.Now()
	return certs, nil
}

func (d *Driver) fetchCACertificates(ctx context.Context) ([]*x509.Certificate, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.base+"/cacerts", nil)
	if err != nil {
		return nil, ca.Permanent(err)
	}
	_, data, err := d.do(req)
	if err != nil {
		return nil, err
	}
	certs, err := parseCertsOnly(data)
	if err != nil {
		return nil, err
	}
	return pki.OrderChain(certs), nil
}

// do sends req and classifies the outcome: network failures and 5xx are
// transient, refusals are rejections, other 4xx are permanent misconfiguration.
func (d *Driver) do(req *http.Request) (*http.Response, []byte, error) {
	if d.username != "" {
		req.SetBasicAuth(d.username, d.password)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, nil, ca.Transient(fmt.Errorf("EST %s %s: %w", req.Method, req.URL.Path, err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, nil, ca.Transient(fmt.Errorf("read EST response: %w", err))
	}
	switch status := resp.StatusCode; {
	case status == http.StatusOK || status == http.StatusAccepted:
		return resp, data, nil
	case status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout:
		return nil, nil, ca.Transient(fmt.Errorf("EST server answered HTTP %d: %s", status, snippet(data)))
	case status == http.StatusBadRequest || status == http.StatusForbidden:
		return nil, nil, &refusedError{status: status, body: snippet(data)}
	default:
		return nil, nil, ca.Permanent(fmt.Errorf("EST %s %s: HTTP %d: %s", req.Method, req.URL.Path, status, snippet(data)))
	}
}

// parseCertsOnly decodes a base64 PKCS#7 certs-only body, wrapped or not.
func parseCertsOnly(body []byte) ([]*x509.Certificate, error) {
	certs, err := estwire.ParseCertsOnly(body)
	if err != nil {
		return nil, ca.Permanent(fmt.Errorf("EST response: %w", err))
	}
	return certs, nil
}

// retryAfter reads Retry-After in seconds or as an HTTP date.
func retryAfter(header string, now time.Time) time.Duration {
	if secs, err := strconv.Atoi(strings.TrimSpace(header)); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if at, err := http.ParseTime(header); err == nil && at.After(now) {
		return at.Sub(now)
	}
	return defaultRetry
}

func snippet(data []byte) string {
	text := strings.TrimSpace(string(data))
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	return text
}
