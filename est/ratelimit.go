package est

import (
	"net"
	"net/http"
	"net/netip"
	"sync"

	"golang.org/x/time/rate"
)

// maxClients bounds the limiter table; when it fills, it starts afresh, which
// at worst grants a burst to clients seen before.
const maxClients = 100_000

// rateLimit is a token bucket per client: an IPv4 address or an IPv6 /64
// (see clientKey).
type rateLimit struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	clients map[string]*rate.Limiter
}

func newRateLimit(perSecond float64, burst int) *rateLimit {
	return &rateLimit{limit: rate.Limit(perSecond), burst: max(burst, 1), clients: map[string]*rate.Limiter{}}
}

func (l *rateLimit) allow(client string) bool {
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

func (l *rateLimit) wrap(next http.Handler) http.Handler {
	if l.limit <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.allow(clientKey(r)) {
			w.Header().Set("Retry-After", "1")
			writeText(w, http.StatusTooManyRequests, "too many requests from this address; retry in a second")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func clientIP(r *http.Request) string {
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
	host := clientIP(r)
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
