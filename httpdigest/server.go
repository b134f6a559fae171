package httpdigest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server issues and checks Digest challenges for one realm. Its nonces carry
// their issue time and a MAC under a key of the server: a nonce is good for
// Lifetime, after which the client is told stale=true and answers again
// without asking its user. Within its lifetime a nonce's count (nc) must
// grow, so that a recorded Authorization header cannot be replayed.
type Server struct {
	Realm    string
	Lifetime time.Duration
	key      [32]byte
	now      func() time.Time

	mu   sync.Mutex
	seen map[string]seenNonce // by nonce, pruned when expired
}

type seenNonce struct {
	issued time.Time
	nc     uint64
}

// NewServer returns a server for realm with a fresh nonce key and a nonce
// lifetime of five minutes.
func NewServer(realm string) *Server {
	s := &Server{Realm: realm, Lifetime: 5 * time.Minute, now: time.Now, seen: map[string]seenNonce{}}
	_, _ = rand.Read(s.key[:])
	return s
}

// Challenge answers 401 with one challenge per algorithm, SHA-256 first.
// stale says the credential was right but the nonce too old.
func (s *Server) Challenge(w http.ResponseWriter, stale bool) {
	nonce := s.newNonce()
	for _, alg := range []string{SHA256, MD5} {
		v := fmt.Sprintf(`Digest realm=%s, qop="auth", algorithm=%s, nonce=%s`, quote(s.Realm), alg, quote(nonce))
		if stale {
			v += ", stale=true"
		}
		w.Header().Add("WWW-Authenticate", v)
	}
}

// Result is what Verify found.
type Result int

const (
	Missing Result = iota // no Digest Authorization header
	Invalid               // malformed, another realm, wrong URI, or wrong credential
	Stale                 // right credential, expired nonce
	OK
)

// Verify checks r's Authorization header against username and password.
// The response is compared in constant time; the username too.
func (s *Server) Verify(r *http.Request, username, password string) Result {
	header := r.Header.Get("Authorization")
	if header == "" {
		return Missing
	}
	a, err := ParseAuthorization(header)
	if err != nil {
		return Invalid
	}
	if newHash(a.Algorithm) == nil || a.Userhash || a.Qop != "auth" || a.Realm != s.Realm ||
		a.Cnonce == "" || len(a.NC) != 8 || !isHex(a.NC) {
		return Invalid
	}
	if a.URI != r.URL.RequestURI() {
		return Invalid
	}
	want := compute(a.Algorithm, username, s.Realm, password, r.Method, a.URI, a.Nonce, a.NC, a.Cnonce, a.Qop)
	userOK := subtle.ConstantTimeCompare([]byte(a.Username), []byte(username))
	respOK := subtle.ConstantTimeCompare([]byte(strings.ToLower(a.Response)), []byte(want))
	if userOK&respOK != 1 {
		return Invalid
	}
	issued, ok := s.checkNonce(a.Nonce)
	if !ok {
		return Invalid
	}
	if age := s.now().Sub(issued); age < -time.Minute || age > s.Lifetime {
		return Stale
	}
	nc, _ := strconv.ParseUint(a.NC, 16, 64)
	if !s.countUp(a.Nonce, issued, nc) {
		return Invalid
	}
	return OK
}

// countUp records nc for nonce, refusing a count not above the last one.
func (s *Server) countUp(nonce string, issued time.Time, nc uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if last, ok := s.seen[nonce]; ok && nc <= last.nc {
		return false
	}
	s.seen[nonce] = seenNonce{issued: issued, nc: nc}
	if len(s.seen) > 1024 {
		cutoff := s.now().Add(-s.Lifetime)
		for n, v := range s.seen {
			if v.issued.Before(cutoff) {
				delete(s.seen, n)
			}
		}
	}
	return true
}

// newNonce is base64url(8-byte Unix nano time || 16 bytes of HMAC-SHA256).
func (s *Server) newNonce() string {
	var b [24]byte
	binary.BigEndian.PutUint64(b[:8], uint64(s.now().UnixNano()))
	copy(b[8:], s.mac(b[:8]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *Server) checkNonce(nonce string) (time.Time, bool) {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != 24 || !hmac.Equal(b[8:], s.mac(b[:8])) {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b[:8]))), true
}

func (s *Server) mac(data []byte) []byte {
	m := hmac.New(sha256.New, s.key[:])
	m.Write(data)
	return m.Sum(nil)[:16]
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
