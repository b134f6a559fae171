package enroll

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"

	"golang.org/x/time/rate"
)

// maxClients bounds the limiter table; when it fills, it starts afresh, which
// at worst grants a burst to clients seen before.
const maxClients = 100_000

// RateLimit is a token bucket per client: an IPv4 address or an IPv6 /64
// (see clientKey).
type RateLimit struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	clients map[string]*rate.Limiter
}

// NewRateLimit allows each client perSecond requests, in bursts of burst.
func NewRateLimit(perSecond float64, burst int) *RateLimit {
	return &RateLimit{limit: rate.Limit(perSecond), burst: max(burst, 1), clients: map[string]*rate.Limiter{}}
}

func (l *RateLimit) allow(client string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.clients[client]
	if !ok {
		if len(l.clients) >= maxClients {
			clear(l.clients)
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.clients[client] = lim
	}
	return lim.Allow()
}

// Wrap answers 429 with Retry-After to a client over its limit.
func (l *RateLimit) Wrap(next http.Handler) http.Handler {
	if l.limit <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.allow(clientKey(r)) {
			w.Header().Set("Retry-After", "1")
			WriteText(w, http.StatusTooManyRequests, "too many requests from this address; retry in a second")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ClientIP is the address of r's client.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// clientKey is what the rate limit counts a request against: the client's
// IPv4 address, or the /64 its IPv6 address is in. One IPv6 host usually has
// a whole /64 to itself (SLAAC, privacy addresses), so counting per address
// would hand it 2^64 buckets. An IPv4-mapped IPv6 address is its IPv4 one.
func clientKey(r *http.Request) string {
	host := ClientIP(r)
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return addr.String()
	}
	return netip.PrefixFrom(addr, 64).Masked().String()
}

// WriteText answers status with a text message, its length explicit.
func WriteText(w http.ResponseWriter, status int, message string) {
	body := []byte(message + "\n")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body) //nolint:errcheck // the client has gone
}

// RecoverPanics answers a handler's panic with an opaque 500, logged with the
// protocol's name, rather than a dropped connection.
func RecoverPanics(logger *slog.Logger, protocol string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				logger.Error(protocol+" handler panicked", "path", r.URL.Path, "panic", v)
				WriteText(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}
