// Package apiclient is a small client of certfleet's operations API, for the
// certfleetctl command line and for scripts written in Go: it sends the
// bearer token, encodes and decodes JSON, follows keyset pages, and turns
// the API's error shape into errors that say what was wrong.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls one certfleet API with one token.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// New returns a client of the API at baseURL (e.g. http://127.0.0.1:8080).
func New(baseURL, token string) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("CERTFLEET_URL %q: want http(s)://host[:port]", baseURL)
	}
	if token == "" {
		return nil, errors.New("no API token: set CERTFLEET_TOKEN (make one with `certfleet token create`)")
	}
	return &Client{base: u, token: token, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// Error is the API refusing a call, as its error shape says.
type Error struct {
	Status  int
	Code    string
	Message string
	Details map[string]any
}

func (e *Error) Error() string {
	msg := e.Message
	if field, ok := e.Details["field"].(string); ok && field != "" && !strings.HasPrefix(msg, field) {
		msg = field + ": " + msg
	}
	if devices, ok := e.Details["devices"].([]any); ok && len(devices) > 0 {
		msg += fmt.Sprintf(" (devices: %v)", devices)
	}
	return fmt.Sprintf("%s (HTTP %d %s)", msg, e.Status, e.Code)
}

// JSON sends body (nil, or any JSON value) and decodes the answer into
// into (nil to discard it).
func (c *Client) JSON(ctx context.Context, method, path string, body, into any) error {
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(data)
	}
	data, err := c.Raw(ctx, method, path, reader, "application/json")
	if err != nil || into == nil {
		return err
	}
	if err := json.Unmarshal(data, into); err != nil {
		return fmt.Errorf("%s %s: the answer is not the JSON expected: %w", method, path, err)
	}
	return nil
}

// maxAnswer bounds what the client reads of one answer.
const maxAnswer = 64 << 20

// Raw sends body with contentType and returns the answer's body.
func (c *Client) Raw(ctx context.Context, method, path string, body io.Reader, contentType string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reach the certfleet API at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return nil, decodeError(resp.StatusCode, data)
	}
	return data, nil
}

func decodeError(status int, data []byte) error {
	var shape struct {
		Error struct {
			Code    string         `json:"code"`
			Message string         `json:"message"`
			Details map[string]any `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &shape) != nil || shape.Error.Message == "" {
		return &Error{Status: status, Code: http.StatusText(status), Message: strings.TrimSpace(string(data))}
	}
	return &Error{Status: status, Code: shape.Error.Code, Message: shape.Error.Message, Details: shape.Error.Details}
}

// Page is one page of a list.
type Page struct {
	Items []map[string]any `json:"items"`
	Next  string           `json:"next"`
}

// List reads a list route page by page, up to limit items (0: all).
func (c *Client) List(ctx context.Context, path string, query url.Values, limit int) ([]map[string]any, error) {
	var all []map[string]any
	for {
		if limit > 0 {
			query.Set("limit", fmt.Sprint(min(100, limit-len(all))))
		} else {
			query.Set("limit", "100")
		}
		var page Page
		if err := c.JSON(ctx, http.MethodGet, path+"?"+query.Encode(), nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.Next == "" || (limit > 0 && len(all) >= limit) {
			return all, nil
		}
		query.Set("after", page.Next)
	}
}

// SCEPChallengeRequest asks for a one-time SCEP challenge password; every
// field is optional (Lifetime is a Go duration, "1h" when empty).
type SCEPChallengeRequest struct {
	DeviceID string `json:"device_id,omitempty"`
	Label    string `json:"label,omitempty"`
	Lifetime string `json:"lifetime,omitempty"`
}

// SCEPChallenge is a new challenge password. The API shows Challenge only
// in this answer: it keeps only its hash.
type SCEPChallenge struct {
	ID        int64     `json:"id"`
	Challenge string    `json:"challenge"`
	DeviceID  *string   `json:"device_id"`
	Label     *string   `json:"label"`
	ExpiresAt time.Time `json:"expires_at"`
}

// CreateSCEPChallenge makes a one-time challenge password for SCEP enrollment.
func (c *Client) CreateSCEPChallenge(ctx context.Context, req SCEPChallengeRequest) (SCEPChallenge, error) {
	var out SCEPChallenge
	err := c.JSON(ctx, http.MethodPost, "/api/v1/scep/challenges", req, &out)
	return out, err
}
