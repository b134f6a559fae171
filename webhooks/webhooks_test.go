package webhooks_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/certfleet/certfleet/webhooks"
)

// TestSignature: the signature is the hex HMAC-SHA256 of "<timestamp>.<body>",
// as a receiver recomputes it with any HMAC library; another body, time or
// secret does not verify.
func TestSignature(t *testing.T) {
	secret, body := []byte("s3cret"), []byte(`{"id":"job.finished/1"}`)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("1764720000." + string(body)))
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	assert.Equal(t, want, webhooks.Sign(secret, 1764720000, body))
	assert.True(t, webhooks.Verify(secret, 1764720000, body, want))
	assert.False(t, webhooks.Verify(secret, 1764720001, body, want), "another time")
	assert.False(t, webhooks.Verify(secret, 1764720000, []byte(`{"id":"job.finished/2"}`), want), "another body")
	assert.False(t, webhooks.Verify([]byte("other"), 1764720000, body, want), "another secret")
}
