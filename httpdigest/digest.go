// Package httpdigest is HTTP Digest access authentication (RFC 7616) as
// cameras speak it: the client side (parse a WWW-Authenticate challenge and
// answer it with an Authorization header, MD5 or SHA-256, qop=auth) and the
// server side of simulated cameras (issue a challenge with a self-checking
// nonce, verify an answer against a username and password in constant time).
//
// Only qop=auth is spoken: auth-int, the -sess algorithms, SHA-512-256 and
// userhash are refused, so a caller never silently falls back to something
// weaker. Basic is not part of this package at all.
package httpdigest

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
)

// Algorithms spoken, strongest first.
const (
	SHA256 = "SHA-256"
	MD5    = "MD5"
)

// MaxHeaderLen bounds the header values the parsers accept.
const MaxHeaderLen = 4096

// ErrNotDigest is a header of another scheme than Digest.
var ErrNotDigest = errors.New("not a Digest header")

// Challenge is one Digest challenge of a WWW-Authenticate header.
type Challenge struct {
	Realm     string
	Nonce     string
	Opaque    string
	Algorithm string   // MD5 when the header names none (RFC 7616 section 3.3)
	Qop       []string // the qop-options offered
	Stale     bool     // the nonce expired: answer again with the new one, the credential was fine
	Userhash  bool
}

// ParseChallenge reads one Digest challenge (the value of a WWW-Authenticate header).
func ParseChallenge(header string) (*Challenge, error) {
	params, err := parseScheme(header)
	if err != nil {
		return nil, err
	}
	c := &Challenge{
		Realm: params["realm"], Nonce: params["nonce"], Opaque: params["opaque"],
		Algorithm: params["algorithm"],
		Stale:     strings.EqualFold(params["stale"], "true"),
		Userhash:  strings.EqualFold(params["userhash"], "true"),
	}
	if c.Algorithm == "" {
		c.Algorithm = MD5
	}
	for q := range strings.SplitSeq(params["qop"], ",") {
		if q = strings.TrimSpace(q); q != "" {
			c.Qop = append(c.Qop, q)
		}
	}
	if _, ok := params["realm"]; !ok {
		return nil, errors.New("digest challenge without realm")
	}
	if c.Nonce == "" {
		return nil, errors.New("digest challenge without nonce")
	}
	return c, nil
}

// Supported reports why this package cannot answer c, or nil when it can.
func (c *Challenge) Supported() error {
	if newHash(c.Algorithm) == nil {
		return fmt.Errorf("digest algorithm %q is not supported (want %s or %s)", c.Algorithm, SHA256, MD5)
	}
	if c.Userhash {
		return errors.New("digest userhash is not supported")
	}
	for _, q := range c.Qop {
		if q == "auth" {
			return nil
		}
	}
	return fmt.Errorf("digest challenge offers qop %q, not auth", strings.Join(c.Qop, ","))
}

// Choose picks the strongest challenge this package can answer among the
// WWW-Authenticate values of a 401. An answer that offers no Digest at all
// (only Basic, say) is an error: certfleet never sends a password in clear.
func Choose(values []string) (*Challenge, error) {
	var best *Challenge
	var reasons []string
	for _, v := range values {
		c, err := ParseChallenge(v)
		if err != nil {
			if !errors.Is(err, ErrNotDigest) {
				reasons = append(reasons, err.Error())
			}
			continue
		}
		if err := c.Supported(); err != nil {
			reasons = append(reasons, err.Error())
			continue
		}
		if best == nil || (best.Algorithm != SHA256 && c.Algorithm == SHA256) {
			best = c
		}
	}
	if best != nil {
		return best, nil
	}
	if len(reasons) == 0 {
		return nil, errors.New("the server offers no Digest authentication")
	}
	return nil, fmt.Errorf("no usable Digest challenge: %s", strings.Join(reasons, "; "))
}

// Authorize returns the Authorization header value answering c for one
// request: method and uri (the request target, as sent), nc the count of
// requests made with this nonce (from 1), cnonce a fresh client nonce
// (NewCnonce).
func (c *Challenge) Authorize(method, uri, username, password string, nc uint32, cnonce string) (string, error) {
	if err := c.Supported(); err != nil {
		return "", err
	}
	ncs := fmt.Sprintf("%08x", nc)
	response := compute(c.Algorithm, username, c.Realm, password, method, uri, c.Nonce, ncs, cnonce, "auth")
	var b strings.Builder
	b.WriteString("Digest ")
	fmt.Fprintf(&b, "username=%s, realm=%s, uri=%s, algorithm=%s, nonce=%s, nc=%s, cnonce=%s, qop=auth, response=%s",
		quote(username), quote(c.Realm), quote(uri), c.Algorithm, quote(c.Nonce), ncs, quote(cnonce), quote(response))
	if c.Opaque != "" {
		fmt.Fprintf(&b, ", opaque=%s", quote(c.Opaque))
	}
	return b.String(), nil
}

// NewCnonce returns a fresh client nonce.
func NewCnonce() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Authorization is a parsed Digest Authorization header.
type Authorization struct {
	Username  string
	Realm     string
	URI       string
	Algorithm string
	Nonce     string
	NC        string
	Cnonce    string
	Qop       string
	Response  string
	Opaque    string
	Userhash  bool
}

// ParseAuthorization reads a Digest Authorization header value.
func ParseAuthorization(header string) (*Authorization, error) {
	params, err := parseScheme(header)
	if err != nil {
		return nil, err
	}
	a := &Authorization{
		Username: params["username"], Realm: params["realm"], URI: params["uri"],
		Algorithm: params["algorithm"], Nonce: params["nonce"], NC: params["nc"],
		Cnonce: params["cnonce"], Qop: params["qop"], Response: params["response"],
		Opaque: params["opaque"], Userhash: strings.EqualFold(params["userhash"], "true"),
	}
	if a.Algorithm == "" {
		a.Algorithm = MD5
	}
	for _, required := range []string{"username", "realm", "uri", "nonce", "response"} {
		if _, ok := params[required]; !ok {
			return nil, fmt.Errorf("digest authorization without %s", required)
		}
	}
	return a, nil
}

// compute is the request-digest of RFC 7616 section 3.4.1 for qop=auth.
func compute(algorithm, username, realm, password, method, uri, nonce, nc, cnonce, qop string) string {
	ha1 := hexHash(algorithm, username+":"+realm+":"+password)
	ha2 := hexHash(algorithm, method+":"+uri)
	return hexHash(algorithm, ha1+":"+nonce+":"+nc+":"+cnonce+":"+qop+":"+ha2)
}

func newHash(algorithm string) hash.Hash {
	switch strings.ToUpper(algorithm) {
	case SHA256:
		return sha256.New()
	case MD5:
		return md5.New()
	}
	return nil
}

func hexHash(algorithm, s string) string {
	h := newHash(algorithm)
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

// quote makes a quoted-string (RFC 9110 section 5.6.4).
func quote(s string) string {
	if !strings.ContainsAny(s, `"\`) {
		return `"` + s + `"`
	}
	return strconv.Quote(s) // escapes " and \ with a backslash; other bytes are not expected here
}

// parseScheme checks that header is of the Digest scheme and reads its
// auth-params: token=token or token=quoted-string, separated by commas.
// Names are lower-cased; a repeated name is an error.
func parseScheme(header string) (map[string]string, error) {
	if len(header) > MaxHeaderLen {
		return nil, fmt.Errorf("digest header longer than %d bytes", MaxHeaderLen)
	}
	scheme, rest, _ := strings.Cut(strings.TrimLeft(header, " \t"), " ")
	if !strings.EqualFold(scheme, "Digest") {
		return nil, ErrNotDigest
	}
	params := map[string]string{}
	s := rest
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return params, nil
		}
		i := 0
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		if i == 0 {
			return nil, fmt.Errorf("digest header: expected a parameter name at %q", truncate(s))
		}
		name := strings.ToLower(s[:i])
		s = strings.TrimLeft(s[i:], " \t")
		if s == "" || s[0] != '=' {
			return nil, fmt.Errorf("digest header: parameter %q without a value", name)
		}
		s = strings.TrimLeft(s[1:], " \t")
		var value string
		if s != "" && s[0] == '"' {
			var b strings.Builder
			j := 1
			closed := false
			for j < len(s) {
				ch := s[j]
				if ch == '\\' && j+1 < len(s) {
					b.WriteByte(s[j+1])
					j += 2
					continue
				}
				if ch == '"' {
					closed = true
					j++
					break
				}
				if ch < 0x20 && ch != '\t' || ch == 0x7f {
					return nil, fmt.Errorf("digest header: control character in %q", name)
				}
				b.WriteByte(ch)
				j++
			}
			if !closed {
				return nil, fmt.Errorf("digest header: unterminated quoted value of %q", name)
			}
			value, s = b.String(), s[j:]
		} else {
			j := 0
			for j < len(s) && isTokenChar(s[j]) {
				j++
			}
			if j == 0 {
				return nil, fmt.Errorf("digest header: parameter %q without a value", name)
			}
			value, s = s[:j], s[j:]
		}
		if _, dup := params[name]; dup {
			return nil, fmt.Errorf("digest header: parameter %q repeated", name)
		}
		params[name] = value
		s = strings.TrimLeft(s, " \t")
		if s != "" && s[0] != ',' {
			return nil, fmt.Errorf("digest header: expected a comma at %q", truncate(s))
		}
	}
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~/", c) >= 0 // '/' is not a tchar but appears unquoted in token68-ish nonces
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

// ChallengeValues returns the WWW-Authenticate values of an answer.
func ChallengeValues(h http.Header) []string { return h.Values("WWW-Authenticate") }
