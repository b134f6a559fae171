package httpdigest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The example of RFC 7616 section 3.9.1.
const (
	rfcRealm  = "http-auth@example.org"
	rfcNonce  = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
	rfcOpaque = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
	rfcCnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
)

func TestRFC7616Example(t *testing.T) {
	header := []string{
		`Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
		`Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
	}
	for _, tc := range []struct {
		header, algorithm, response string
	}{
		{header[1], MD5, "8ca523f5e9506fed4657c9700eebdbec"},
		{header[0], SHA256, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	} {
		c, err := ParseChallenge(tc.header)
		require.NoError(t, err)
		assert.Equal(t, rfcRealm, c.Realm)
		assert.Equal(t, rfcNonce, c.Nonce)
		assert.Equal(t, rfcOpaque, c.Opaque)
		assert.Equal(t, tc.algorithm, c.Algorithm)
		assert.Equal(t, []string{"auth", "auth-int"}, c.Qop)

		got, err := c.Authorize(http.MethodGet, "/dir/index.html", "Mufasa", "Circle of Life", 1, rfcCnonce)
		require.NoError(t, err)
		a, err := ParseAuthorization(got)
		require.NoError(t, err)
		assert.Equal(t, tc.response, a.Response, tc.algorithm)
		assert.Equal(t, "00000001", a.NC)
		assert.Equal(t, "auth", a.Qop)
		assert.Equal(t, rfcOpaque, a.Opaque)
		assert.Equal(t, "Mufasa", a.Username)
		assert.Equal(t, "/dir/index.html", a.URI)
	}

	best, err := Choose(header)
	require.NoError(t, err)
	assert.Equal(t, SHA256, best.Algorithm, "SHA-256 is preferred")
	best, err = Choose([]string{`Basic realm="x"`, header[1]})
	require.NoError(t, err)
	assert.Equal(t, MD5, best.Algorithm)
}

func TestChooseRefuses(t *testing.T) {
	for name, values := range map[string][]string{
		"basic only":   {`Basic realm="cam"`},
		"none":         nil,
		"sess":         {`Digest realm="r", nonce="n", qop="auth", algorithm=MD5-sess`},
		"sha-512-256":  {`Digest realm="r", nonce="n", qop="auth", algorithm=SHA-512-256`},
		"auth-int":     {`Digest realm="r", nonce="n", qop="auth-int", algorithm=SHA-256`},
		"rfc2069":      {`Digest realm="r", nonce="n"`},
		"userhash":     {`Digest realm="r", nonce="n", qop="auth", userhash=true`},
		"no nonce":     {`Digest realm="r", qop="auth"`},
		"unterminated": {`Digest realm="r, nonce="n", qop="auth`},
	} {
		_, err := Choose(values)
		assert.Error(t, err, name)
	}
}

func TestParseQuoting(t *testing.T) {
	c, err := ParseChallenge(`digest  realm="a \"quoted\" realm",nonce=abc ,qop=auth,stale=TRUE`)
	require.NoError(t, err)
	assert.Equal(t, `a "quoted" realm`, c.Realm)
	assert.Equal(t, "abc", c.Nonce)
	assert.True(t, c.Stale)
	assert.Equal(t, MD5, c.Algorithm)

	for _, bad := range []string{
		`Digest realm="r", realm="s", nonce="n"`,
		`Digest realm="r" nonce="n"`,
		`Digest realm=`,
		`Digest =x`,
		"Digest realm=\"a\x00b\", nonce=n",
		"Digest " + strings.Repeat("a", MaxHeaderLen),
	} {
		_, err := ParseChallenge(bad)
		assert.Error(t, err, bad)
	}
	_, err = ParseChallenge(`Basic realm="r"`)
	assert.ErrorIs(t, err, ErrNotDigest)
}

func TestServerRoundTrip(t *testing.T) {
	s := NewServer("AXIS_ACCC8E000001")
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }

	rec := httptest.NewRecorder()
	s.Challenge(rec, false)
	values := rec.Header().Values("WWW-Authenticate")
	require.Len(t, values, 2)
	c, err := Choose(values)
	require.NoError(t, err)
	assert.Equal(t, SHA256, c.Algorithm)

	req := httptest.NewRequest(http.MethodPost, "/config/rest/cert/v1/certificates?x=1", nil)
	assert.Equal(t, Missing, s.Verify(req, "root", "pass"))

	auth, err := c.Authorize(req.Method, req.URL.RequestURI(), "root", "pass", 1, NewCnonce())
	require.NoError(t, err)
	req.Header.Set("Authorization", auth)
	assert.Equal(t, OK, s.Verify(req, "root", "pass"))
	assert.Equal(t, Invalid, s.Verify(req, "root", "pass"), "a replayed nc")
	assert.Equal(t, Invalid, s.Verify(req, "root", "wrong"))
	assert.Equal(t, Invalid, s.Verify(req, "admin", "pass"))

	other := httptest.NewRequest(http.MethodPost, "/other", nil)
	other.Header.Set("Authorization", auth)
	assert.Equal(t, Invalid, s.Verify(other, "root", "pass"), "the answer is bound to its URI")

	get := httptest.NewRequest(http.MethodGet, "/config/rest/cert/v1/certificates?x=1", nil)
	get.Header.Set("Authorization", auth)
	assert.Equal(t, Invalid, s.Verify(get, "root", "pass"), "the answer is bound to its method")

	forged := *c
	forged.Nonce = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	auth, err = forged.Authorize(req.Method, req.URL.RequestURI(), "root", "pass", 1, NewCnonce())
	require.NoError(t, err)
	req.Header.Set("Authorization", auth)
	assert.Equal(t, Invalid, s.Verify(req, "root", "pass"), "a nonce the server did not issue")

	// The next count of the same nonce is fine.
	auth, err = c.Authorize(req.Method, req.URL.RequestURI(), "root", "pass", 2, NewCnonce())
	require.NoError(t, err)
	req.Header.Set("Authorization", auth)
	assert.Equal(t, OK, s.Verify(req, "root", "pass"))

	// An old nonce with the right credential is stale, so the client can answer again.
	auth, err = c.Authorize(req.Method, req.URL.RequestURI(), "root", "pass", 3, NewCnonce())
	require.NoError(t, err)
	req.Header.Set("Authorization", auth)
	now = now.Add(time.Hour)
	assert.Equal(t, Stale, s.Verify(req, "root", "pass"))

	md5c, err := ParseChallenge(values[1])
	require.NoError(t, err)
	now = now.Add(-time.Hour)
	auth, err = md5c.Authorize(req.Method, req.URL.RequestURI(), "root", "pass", 4, NewCnonce()) // the same nonce as the SHA-256 challenge
	require.NoError(t, err)
	req.Header.Set("Authorization", auth)
	assert.Equal(t, OK, s.Verify(req, "root", "pass"), "MD5 is accepted too")
}

func FuzzParseChallenge(f *testing.F) {
	f.Add(`Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe"`)
	f.Add(`Digest realm="a \"b\"", nonce=x, stale=true`)
	f.Add(`Basic realm="x"`)
	f.Fuzz(func(t *testing.T, header string) {
		c, err := ParseChallenge(header)
		if err != nil {
			return
		}
		if c.Supported() == nil {
			out, err := c.Authorize("GET", "/", "u", "p", 1, "c")
			if err != nil {
				t.Fatalf("supported challenge not answered: %v", err)
			}
			a, err := ParseAuthorization(out)
			if err != nil {
				t.Fatalf("own Authorization %q does not parse: %v", out, err)
			}
			if a.Realm != c.Realm || a.Nonce != c.Nonce || a.Opaque != c.Opaque {
				t.Fatalf("round trip changed values: %+v vs %+v", a, c)
			}
		}
	})
}

func FuzzVerify(f *testing.F) {
	f.Add(`Digest username="root", realm="r", uri="/", algorithm=SHA-256, nonce="n", nc=00000001, cnonce="c", qop=auth, response="00"`)
	f.Add(`Digest username=, realm`)
	s := NewServer("r")
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", header)
		if s.Verify(req, "root", "pass") == OK {
			t.Fatalf("forged header accepted: %q", header)
		}
	})
}
