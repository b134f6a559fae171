package est

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestRateLimitIsPerClient(t *testing.T) {
	limited := newRateLimit(1, 3).wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	status := func(addr string) int {
		req := httptest.NewRequest(http.MethodGet, "/.well-known/est/cacerts", nil)
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		limited.ServeHTTP(rec, req)
		return rec.Code
	}
	for i := range 3 {
		if got := status("192.0.2.1:1000"); got != http.StatusOK {
			t.Fatalf("request %d within the burst: %d", i, got)
		}
	}
	if got := status("192.0.2.1:1001"); got != http.StatusTooManyRequests {
		t.Fatalf("fourth request at once from one address: %d, want 429", got)
	}
	if got := status("192.0.2.2:1000"); got != http.StatusOK {
		t.Fatalf("another client is limited too: %d", got)
	}
}

func TestAllowedNetworks(t *testing.T) {
	lan := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for addr, want := range map[string]bool{"10.1.2.3:5000": true, "[::ffff:10.1.2.3]:5000": true, "127.0.0.1:5000": false, "garbage": false} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = addr
		if got := allowed(lan, req); got != want {
			t.Errorf("%s: allowed %v, want %v", addr, got, want)
		}
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	if !allowed(nil, req) {
		t.Error("no networks must allow everyone")
	}
}
