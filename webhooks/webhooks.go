// Package webhooks tells outside systems what happens in certfleet. Events
// are written to an outbox (webhook_events) in the transaction of the change
// they tell of, mostly by database triggers, so that none is lost; a
// Dispatcher hands each to the webhooks subscribed to its type by starting
// one WebhookDelivery workflow per webhook and event, which POSTs it, signed
// with HMAC-SHA256, and retries with backoff while the receiver is down.
// Every attempt is logged in webhook_deliveries.
package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// The event types a webhook may subscribe to.
const (
	JobFinished          = "job.finished"
	JobItemsFailed       = "job.items_failed"
	CARequestPending     = "ca_request.pending"
	CARequestDecided     = "ca_request.decided"
	CertificatesExpiring = "certificates.expiring_unrenewed"
	RenewalJobStarted    = "renewal.job_started"
	CARenewed            = "ca.renewed"
	TrustAnchorChanged   = "trust_anchor.changed"
	// Ping is sent to one webhook on request, to try it.
	Ping = "ping"
)

// EventTypes lists the types a webhook may subscribe to.
var EventTypes = []string{JobFinished, JobItemsFailed, CARequestPending, CARequestDecided, CertificatesExpiring, RenewalJobStarted, CARenewed, TrustAnchorChanged}

// The headers of a delivery.
const (
	HeaderEvent     = "X-Certfleet-Event"
	HeaderEventID   = "X-Certfleet-Event-Id"
	HeaderTimestamp = "X-Certfleet-Timestamp"
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, under the
	// webhook's secret, of the timestamp, a dot and the body: a receiver
	// recomputes it, and refuses old timestamps to stop replays.
	HeaderSignature = "X-Certfleet-Signature"
)

// Sign is the HeaderSignature value of body sent at Unix time timestamp.
func Sign(secret []byte, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature is body's at timestamp under secret, in
// constant time.
func Verify(secret []byte, timestamp int64, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(signature))
}
