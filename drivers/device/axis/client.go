package axis

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/httpdigest"
	"github.com/certfleet/certfleet/vapixwire"
)

// maxAnswer bounds the answers read from a camera.
const maxAnswer = 1 << 20

// session is one driver operation on one camera: it keeps the Digest
// challenge of the camera across the operation's calls, counting nc.
type session struct {
	d          *Driver
	dev        device.Device
	user, pass string
	digest     httpdigest.Session
}

// errStatus is a camera answer other than 2xx, classified by newStatusError.
type errStatus struct {
	op     string
	status int
	detail string
}

func (e *errStatus) Error() string {
	if e.detail == "" {
		return fmt.Sprintf("%s: HTTP %d", e.op, e.status)
	}
	return fmt.Sprintf("%s: HTTP %d: %s", e.op, e.status, e.detail)
}

// do sends one request, answering the camera's Digest challenge, and
// returns the answer's status and body (read up to maxAnswer). Only
// transport failures and authentication refusals are errors here.
func (s *session) do(ctx context.Context, op, method, path, contentType string, body []byte) (int, []byte, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, s.dev.Address+path, bytes.NewReader(body))
		if err != nil {
			return 0, nil, device.Permanent(fmt.Errorf("camera %s address %q: %w", s.dev.ID, s.dev.Address, err))
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		req.Header.Set("Accept", "application/json, application/soap+xml")
		if err := s.digest.Authorize(req, s.user, s.pass); err != nil {
			return 0, nil, device.Permanent(fmt.Errorf("camera %s: %s: %w", s.dev.ID, op, err))
		}
		resp, err := s.d.client.Do(ctx, s.dev, req)
		if err != nil {
			return 0, nil, fmt.Errorf("%s: %w", op, err) // classified by tlspin
		}
		data, readErr := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		resp.Body.Close()
		if readErr != nil {
			return 0, nil, device.Transient(fmt.Errorf("camera %s: %s: read answer: %w", s.dev.ID, op, readErr))
		}
		if resp.StatusCode != http.StatusUnauthorized {
			return resp.StatusCode, data, nil
		}
		// 401: answer the challenge, once; again only if the camera says our nonce went stale.
		if err := s.digest.Challenged(resp.Header, attempt); err != nil {
			return 0, nil, device.Permanent(fmt.Errorf("camera %s: %s: user %q: %w", s.dev.ID, op, s.user, err))
		}
	}
}

// classify turns a non-2xx answer into a classified error: refusals (4xx,
// redirects) are permanent, busy or broken cameras (408, 429, 5xx) transient.
func (s *session) classify(op string, status int, detail string) error {
	err := fmt.Errorf("camera %s: %w", s.dev.ID, &errStatus{op: op, status: status, detail: detail})
	switch {
	case status >= 300 && status < 400:
		return device.Permanent(fmt.Errorf("%w (a redirect; certfleet does not follow redirects from cameras)", err))
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		return device.Transient(err)
	}
	return device.Permanent(err)
}

// rest makes one Certificate Management API call; into receives data.
func rest[T any](ctx context.Context, s *session, op, method, path string, reqData any) (T, int, error) {
	var zero T
	var body []byte
	contentType := ""
	if reqData != nil {
		var err error
		body, err = jsonMarshal(vapixwire.Request[any]{Data: reqData})
		if err != nil {
			return zero, 0, device.Permanent(fmt.Errorf("camera %s: %s: %w", s.dev.ID, op, err))
		}
		contentType = "application/json"
	}
	status, data, err := s.do(ctx, op, method, path, contentType, body)
	if err != nil {
		return zero, 0, err
	}
	answer, parseErr := vapixwire.DecodeResponse[T](data)
	if status < 200 || status >= 300 {
		detail := snippet(data)
		if parseErr == nil && answer.Error != nil {
			detail = answer.Error.Error()
		}
		return zero, status, s.classify(op, status, detail)
	}
	if parseErr != nil {
		return zero, status, device.Permanent(fmt.Errorf("camera %s: %s: %w", s.dev.ID, op, parseErr))
	}
	if answer.Status != vapixwire.StatusSuccess {
		return zero, status, device.Permanent(fmt.Errorf("camera %s: %s: %w", s.dev.ID, op, answer.Error))
	}
	return answer.Data, status, nil
}

// soap makes one SOAP call and returns the answer's body.
func (s *session) soap(ctx context.Context, op string, body vapixwire.Body) (*vapixwire.Body, error) {
	payload, err := vapixwire.MarshalEnvelope(body)
	if err != nil {
		return nil, device.Permanent(fmt.Errorf("camera %s: %s: %w", s.dev.ID, op, err))
	}
	status, data, err := s.do(ctx, op, http.MethodPost, vapixwire.PathServices, vapixwire.SOAPContentType, payload)
	if err != nil {
		return nil, err
	}
	env, parseErr := vapixwire.UnmarshalEnvelope(data)
	if status < 200 || status >= 300 {
		detail := snippet(data)
		if parseErr == nil && env.Body.Fault != nil {
			detail = env.Body.Fault.Error()
		}
		return nil, s.classify(op, status, detail)
	}
	if parseErr != nil {
		return nil, device.Permanent(fmt.Errorf("camera %s: %s: %w", s.dev.ID, op, parseErr))
	}
	if env.Body.Fault != nil {
		return nil, device.Permanent(fmt.Errorf("camera %s: %s: %w", s.dev.ID, op, env.Body.Fault))
	}
	return &env.Body, nil
}

// snippet is the start of an unparsed answer, printable, for error messages.
func snippet(data []byte) string {
	s := strings.ToValidUTF8(string(data), "?")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.TrimSpace(s)
}
