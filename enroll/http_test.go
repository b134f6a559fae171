package enroll

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestRateLimitIsPerClient(t *testing.T) {
	limited := NewRateLimit(1, 3).Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
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
		if got := Allowed(lan, ClientIP(req)); got != want {
			t.Errorf("%s: allowed %v, want %v", addr, got, want)
		}
	}
	if !Allowed(nil, "192.0.2.1") {
		t.Error("no networks must allow everyone")
	}
}

// TestRateLimitCountsIPv6PerSlash64 checks what the limit counts against:
// every address of an IPv6 /64 shares one bucket, since one host may use them
// all; IPv4 stays per address, and an IPv4-mapped IPv6 address is its IPv4 one.
func TestRateLimitCountsIPv6PerSlash64(t *testing.T) {
	limited := NewRateLimit(1, 2).Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	status := func(addr string) int {
		req := httptest.NewRequest(http.MethodGet, "/.well-known/est/cacerts", nil)
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		limited.ServeHTTP(rec, req)
		return rec.Code
	}
	for _, addr := range []string{"[2001:db8:1:2::1]:1000", "[2001:db8:1:2:ffff:ffff:ffff:fffe]:1000"} {
		if got := status(addr); got != http.StatusOK {
			t.Fatalf("%s within the /64's burst: %d", addr, got)
		}
	}
	if got := status("[2001:db8:1:2:abcd::7%eth0]:1000"); got != http.StatusTooManyRequests {
		t.Fatalf("a third address of the same /64 at once: %d, want 429", got)
	}
	if got := status("[2001:db8:1:3::1]:1000"); got != http.StatusOK {
		t.Fatalf("the next /64 is limited too: %d", got)
	}

	for _, addr := range []string{"192.0.2.7:1000", "[::ffff:192.0.2.7]:1001"} {
		if got := status(addr); got != http.StatusOK {
			t.Fatalf("%s within the address's burst: %d", addr, got)
		}
	}
	if got := status("192.0.2.7:1002"); got != http.StatusTooManyRequests {
		t.Fatalf("192.0.2.7 after two requests, one of them IPv4-mapped: %d, want 429", got)
	}
	if got := status("192.0.2.8:1000"); got != http.StatusOK {
		t.Fatalf("the next IPv4 address is limited too: %d", got)
	}
}

func TestClientKey(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.1:443":              "192.0.2.1",
		"[::ffff:192.0.2.1]:443":     "192.0.2.1",
		"[2001:db8::1]:443":          "2001:db8::/64",
		"[2001:db8:0:0:ffff::1]:443": "2001:db8::/64",
		"[2001:db8:0:1::1]:443":      "2001:db8:0:1::/64",
		"[fe80::1%eth0]:443":         "fe80::/64",
		"garbage":                    "garbage",
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = addr
		if got := clientKey(req); got != want {
			t.Errorf("clientKey(%s) = %q, want %q", addr, got, want)
		}
	}
}
