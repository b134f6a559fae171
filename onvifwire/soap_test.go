package onvifwire

import (
	"bytes"
	"encoding/xml"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDigestMatchesTheProfile(t *testing.T) {
	// Base64(SHA1(nonce + created + password)), computed independently:
	// printf 'abc2026-01-01T00:00:00Zsecret' | openssl sha1 -binary | base64
	assert.Equal(t, "4qXCsENCN3FgFTp1fjNJ8XRRLZs=", Digest([]byte("abc"), "2026-01-01T00:00:00Z", "secret"))
}

func TestUsernameToken(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	sec, err := NewSecurity("admin", "s3cret-password", now)
	require.NoError(t, err)
	msg, err := Marshal(sec, &GetAllKeys{})
	require.NoError(t, err)
	assert.NotContains(t, string(msg), "s3cret-password", "only the digest travels")

	var body GetAllKeys
	env, err := Unmarshal(msg, func(op xml.Name) (any, error) { return &body, nil })
	require.NoError(t, err)
	assert.Equal(t, xml.Name{Space: NSTas, Local: "GetAllKeys"}, env.Op)
	require.NoError(t, env.Security.Verify("admin", "s3cret-password", now.Add(time.Minute), 5*time.Minute))
	assert.ErrorIs(t, env.Security.Verify("admin", "other", now, 5*time.Minute), ErrNotAuthorized)
	assert.ErrorIs(t, env.Security.Verify("root", "s3cret-password", now, 5*time.Minute), ErrNotAuthorized)
	assert.ErrorIs(t, env.Security.Verify("admin", "s3cret-password", now.Add(time.Hour), 5*time.Minute), ErrNotAuthorized, "stale")
	var none *Security
	assert.ErrorIs(t, none.Verify("admin", "s3cret-password", now, time.Minute), ErrNotAuthorized)

	again, err := NewSecurity("admin", "s3cret-password", now)
	require.NoError(t, err)
	assert.NotEqual(t, sec.UsernameToken.Nonce.Value, again.UsernameToken.Nonce.Value, "a fresh nonce each call")
}

func TestFaultRoundTrip(t *testing.T) {
	msg, err := Marshal(nil, InvalidArgVal("KeyID", "no key <%s>", "k&1"))
	require.NoError(t, err)
	env, err := Unmarshal(msg, func(xml.Name) (any, error) { return nil, nil })
	require.NoError(t, err)
	require.NotNil(t, env.Fault)
	assert.Equal(t, Sender, env.Fault.Code)
	assert.Equal(t, []string{"InvalidArgVal", "KeyID"}, env.Fault.Subcodes)
	assert.Equal(t, "no key <k&1>", env.Fault.Reason)
	assert.True(t, env.Fault.Has("KeyID"))
}

func TestUnmarshalIsStrict(t *testing.T) {
	for name, doc := range map[string]string{
		"soap 1.1":     `<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><x/></e:Body></e:Envelope>`,
		"no body":      `<e:Envelope xmlns:e="` + NSEnv + `"></e:Envelope>`,
		"two elements": `<e:Envelope xmlns:e="` + NSEnv + `"><e:Body><a/><b/></e:Body></e:Envelope>`,
		"trailing":     `<e:Envelope xmlns:e="` + NSEnv + `"><e:Body><a/></e:Body></e:Envelope><more/>`,
		"doctype":      `<!DOCTYPE e><e:Envelope xmlns:e="` + NSEnv + `"><e:Body><a/></e:Body></e:Envelope>`,
		"unclosed":     `<e:Envelope xmlns:e="` + NSEnv + `"><e:Body><a/></e:Body>`,
	} {
		_, err := Unmarshal([]byte(doc), func(xml.Name) (any, error) { return &struct{}{}, nil })
		assert.Error(t, err, name)
	}
	// Prefixes declared on the envelope resolve inside the body.
	doc := `<s:Envelope xmlns:s="` + NSEnv + `" xmlns:tas="` + NSTas + `"><s:Body><tas:GetKeyStatus><tas:KeyID>K1</tas:KeyID></tas:GetKeyStatus></s:Body></s:Envelope>`
	var req GetKeyStatus
	_, err := Unmarshal([]byte(doc), func(xml.Name) (any, error) { return &req, nil })
	require.NoError(t, err)
	assert.Equal(t, "K1", req.KeyID)
	// The right local name in the wrong namespace does not fill the field.
	doc = `<s:Envelope xmlns:s="` + NSEnv + `"><s:Body><GetKeyStatus xmlns="` + NSTas + `"><KeyID xmlns="urn:other">K1</KeyID></GetKeyStatus></s:Body></s:Envelope>`
	req = GetKeyStatus{}
	_, err = Unmarshal([]byte(doc), func(xml.Name) (any, error) { return &req, nil })
	require.NoError(t, err)
	assert.Empty(t, req.KeyID)
}

func TestMarshalSANs(t *testing.T) {
	der, err := MarshalSANs([]string{"a.example"}, []string{"10.0.0.1", "::1"}, []string{"x@example.net"}, []string{"urn:x"})
	require.NoError(t, err)
	require.NoError(t, CheckSANs(der))
	none, err := MarshalSANs(nil, nil, nil, nil)
	require.NoError(t, err)
	assert.Nil(t, none)
	_, err = MarshalSANs(nil, []string{"not-an-ip"}, nil, nil)
	assert.Error(t, err)
	assert.Error(t, CheckSANs(bytes.Repeat([]byte{0x30}, 3)))
}
