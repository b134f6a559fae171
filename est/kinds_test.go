package est

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/certfleet/certfleet/enroll"
	"github.com/certfleet/certfleet/errkind"
)

// TestDomainRefusalsByKind: a domain error that reaches the handler's end is
// answered by its kind, as text; an unavailable dependency's cause and any
// other error's text stay out of the answer.
func TestDomainRefusalsByKind(t *testing.T) {
	s := &Server{Service: enroll.Service{Logger: slog.New(slog.DiscardHandler)}}
	for _, tc := range []struct {
		err        error
		status     int
		body       string
		retryAfter string
	}{
		{fmt.Errorf("verify: %w", errkind.Forbidden("certificate is revoked")), http.StatusForbidden, "certificate is revoked\n", ""},
		{errkind.NotFound("no such CA request"), http.StatusNotFound, "no such CA request\n", ""},
		{errkind.Invalid("csr", "not PKCS#10"), http.StatusBadRequest, "csr: not PKCS#10\n", ""},
		{errkind.Unavailable(errors.New("dial tcp 10.0.0.7:443"), "the CA did not answer"), http.StatusServiceUnavailable, "the CA did not answer\n", "60"},
		{errors.New("pq: relation \"ca_requests\""), http.StatusInternalServerError, "internal error\n", ""},
	} {
		rec := httptest.NewRecorder()
		s.serve(func(http.ResponseWriter, *http.Request) error { return tc.err })(rec, httptest.NewRequest(http.MethodGet, "/.well-known/est/cacerts", nil))
		assert.Equal(t, tc.status, rec.Code, tc.err)
		assert.Equal(t, tc.body, rec.Body.String(), tc.err)
		assert.Equal(t, tc.retryAfter, rec.Header().Get("Retry-After"), tc.err)
	}
}
