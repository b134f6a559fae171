package est_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/estwire"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/pki/trust"
	"github.com/certfleet/certfleet/workflows"
)

// TestServerKeyGenIsDeliveredOrDiscarded: a generated key exists only in
// the handler, so its certificate must reach the device or be revoked. A CA
// that answers after the EST wait is held back by the test (gate), a client
// that leaves hangs up, a failing write is a ResponseWriter that fails; the
// test synchronises on the gate, the handler's return and the workflow runs'
// ends, never on time.
func TestServerKeyGenIsDeliveredOrDiscarded(t *testing.T) {
	g := &gate{}
	served := make(chan string, 100)
	w := newWorld(t, worldOption{ca: g.wrap, handler: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			defer func() { served <- r.URL.Path }()
			next.ServeHTTP(rw, r)
		})
	}})
	histories := map[string]*historypb.History{}

	for _, late := range []struct {
		name, history string
		decided       bool // the CA decides at once, but its answer comes late
	}{
		{"the CA decides after the wait", "serverkeygen-decided-late.json", false},
		{"the CA's answer comes after the wait", "serverkeygen-answered-late.json", true},
	} {
		t.Run(late.name+": the retry with the same OTP gets the one active certificate", func(t *testing.T) {
			dev, otp := "cam-late-"+strconv.FormatBool(late.decided), "otp-late-0123"
			w.device(t, dev, "otp", otp)
			deviceKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			require.NoError(t, err)
			request := func() (*http.Response, string) {
				// Re-signed on every try, as a device would: the same request.
				return w.post(t, "cams/serverkeygen", dev, otp, estwire.EncodeBase64(csr(t, deviceKey, dev).Raw), nil)
			}
			w.enroller.Wait = 500 * time.Millisecond
			held := g.holdNext(t, late.decided)
			resp, body := request()
			require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
			assert.Equal(t, "1", resp.Header.Get("Retry-After"))
			assert.Contains(t, body, "send the request again")
			<-served
			first := <-held.entered

			w.enroller.Wait = 10 * time.Second
			resp, body = request()
			require.Equal(t, http.StatusOK, resp.StatusCode, "the retry with the same OTP: %s", body)
			<-served
			key, cert := parseServerKeyGen(t, resp.Header.Get("Content-Type"), body)
			require.True(t, pki.SamePublicKey(key.Public(), cert.PublicKey), "the key returned is the certified one")
			retry := g.last()

			result := w.settled(t, first, histories, late.history)
			assert.Equal(t, workflows.StatusDiscarded, result.Status)
			held.open() // the first request's answer arrives now, after the retry's certificate
			require.NoError(t, <-held.answered)
			w.assertOnlyActive(t, dev, cert)
			w.assertNotUsable(t, first)
			var otpID int64
			require.NoError(t, w.pool.QueryRow(context.Background(), `SELECT id FROM enrollment_credentials WHERE device_id = $1`, dev).Scan(&otpID))
			requestKey := workflows.EnrollmentWorkflowID("est", dev, "serverkeygen", "otp:"+strconv.FormatInt(otpID, 10), csr(t, deviceKey, dev))
			assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM enrollment_credentials WHERE id = $1 AND used_for = $2`, otpID, requestKey),
				"the OTP is spent on the device's own request, which its retries repeat")
			w.settled(t, retry, histories, "serverkeygen-delivered.json")
		})
	}

	t.Run("the client leaves while the CA holds the request", func(t *testing.T) {
		const dev, password = "cam-gone", "password-gone-0123"
		w.device(t, dev, "password", password)
		deviceKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		w.enroller.Wait = time.Minute // longer than the test: the client leaves first
		held := g.holdNext(t, false)
		ctx, hangUp := context.WithCancel(context.Background())
		defer hangUp()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url+"/cams/serverkeygen", bytes.NewReader(estwire.EncodeBase64(csr(t, deviceKey, dev).Raw)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", estwire.TypePKCS10)
		req.SetBasicAuth(dev, password)
		gone := make(chan error, 1)
		go func() {
			resp, err := w.client(t).Do(req)
			if err == nil {
				resp.Body.Close()
			}
			gone <- err
		}()
		key := <-held.entered
		hangUp()
		require.Error(t, <-gone)
		<-served // the handler has given up the enrollment
		held.open()
		require.NoError(t, <-held.answered)
		result := w.settled(t, key, histories, "serverkeygen-client-gone.json")
		assert.Equal(t, workflows.StatusDiscarded, result.Status)
		w.assertNotUsable(t, key)
		assert.Zero(t, w.count(t, `SELECT count(*) FROM certificates WHERE device_id = $1 AND status = 'active'`, dev))
	})

	t.Run("the response cannot be written", func(t *testing.T) {
		const dev, password = "cam-broken-pipe", "password-broken-pipe-0123"
		w.device(t, dev, "password", password)
		deviceKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		w.enroller.Wait = 10 * time.Second
		req := httptest.NewRequest(http.MethodPost, "/.well-known/est/cams/serverkeygen", bytes.NewReader(estwire.EncodeBase64(csr(t, deviceKey, dev).Raw)))
		req.Header.Set("Content-Type", estwire.TypePKCS10)
		req.SetBasicAuth(dev, password)
		broken := &brokenPipe{header: http.Header{}}
		w.handler.ServeHTTP(broken, req)
		<-served
		require.Equal(t, http.StatusOK, broken.status, "the certificate was issued, and its delivery failed")
		key := g.last()
		issued := w.count(t, `SELECT count(*) FROM ca_requests WHERE idempotency_key = $1 AND status = 'issued'`, key)
		require.Equal(t, 1, issued, "the CA issued the undelivered certificate")
		// The enrollment's run had ended, booking it; a second run settles it.
		result := w.settled(t, key, histories, "serverkeygen-discarded-after-booking.json")
		assert.Equal(t, workflows.StatusDiscarded, result.Status)
		w.assertNotUsable(t, key)
		assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM certificates c JOIN ca_requests r ON r.certificate_id = c.id
			WHERE r.idempotency_key = $1 AND c.status = 'revoked' AND c.revocation_reason = 5`, key), "revoked as cessationOfOperation")
		assert.Zero(t, w.count(t, `SELECT count(*) FROM certificates WHERE device_id = $1 AND status = 'active'`, dev))
	})

	t.Run("the device is registered to another credential while the CA holds the request", func(t *testing.T) {
		ctx := context.Background()
		factory := testpki.NewCA(t, "Acme Factory CA taken")
		testenv.ProvenAnchor(t, w.trust, factory, trust.Upload{Name: "factory-taken", AutoRegister: true, NameMapping: "CN"})
		const dev = "factory-taken"
		idevid, idevidKey := factory.Client(t, dev)
		identity := tls.Certificate{Certificate: [][]byte{idevid.Raw}, PrivateKey: idevidKey, Leaf: idevid}
		w.enroller.Wait = 10 * time.Second
		held := g.holdNext(t, false)
		type answer struct {
			status int
			body   string
			err    error
		}
		answered := make(chan answer, 1)
		body := bytes.NewReader(estwire.EncodeBase64(csr(t, testpki.NewKey(t), dev).Raw))
		client := w.client(t, identity)
		go func() {
			resp, err := client.Post(w.url+"/cams/serverkeygen", estwire.TypePKCS10, body)
			if err != nil {
				answered <- answer{err: err}
				return
			}
			defer resp.Body.Close()
			text, err := io.ReadAll(resp.Body)
			answered <- answer{resp.StatusCode, string(text), err}
		}()
		key := <-held.entered // admitted: no device of that ID existed
		w.device(t, dev, "password", "password-taken-0123")
		held.open()
		require.Error(t, <-held.answered, "the CA request cannot be claimed for a device taken")
		a := <-answered
		require.NoError(t, a.err)
		assert.Equal(t, http.StatusConflict, a.status, a.body)
		assert.Contains(t, a.body, "a device "+dev+" exists already")
		<-served
		assert.Zero(t, w.count(t, `SELECT count(*) FROM ca_requests WHERE idempotency_key = $1`, key), "nothing recorded")
		assert.Zero(t, w.count(t, `SELECT count(*) FROM certificates WHERE device_id = $1`, dev))
		assert.Zero(t, w.count(t, `SELECT count(*) FROM devices WHERE factory_cert_sha256 = $1`, pki.Fingerprint(idevid)), "not registered")

		// The handler discarded the enrollment after the refusal: a second
		// run, which finds nothing to settle.
		assert.Equal(t, workflows.StatusDiscarded, w.settled(t, key, histories, "serverkeygen-device-taken-discarded.json").Status)
		var runs []string
		require.Eventually(t, func() bool { runs = testenv.Runs(t, w.temporal, key); return len(runs) == 2 }, 10*time.Second, 50*time.Millisecond)
		_, refused := activities.DeviceTakenRefusal(w.temporal.GetWorkflow(ctx, key, runs[0]).Get(ctx, nil))
		assert.True(t, refused, "the first run failed with the refusal, and looks failed")
		histories["enrollment/serverkeygen-device-taken.json"] = testenv.History(t, w.temporal, key, runs[0])
	})

	testenv.ReplayHistories(t, histories)
}

// settled waits for the current run of enrollment key to end and returns its
// result, keeping its history under name for replay.
func (w *world) settled(t *testing.T, key string, histories map[string]*historypb.History, name string) activities.Submission {
	t.Helper()
	var sub activities.Submission
	require.NoError(t, w.temporal.GetWorkflow(context.Background(), key, "").Get(context.Background(), &sub))
	histories["enrollment/"+name] = testenv.History(t, w.temporal, key, "")
	return sub
}

// assertOnlyActive checks that cert is the device's one active certificate.
func (w *world) assertOnlyActive(t *testing.T, deviceID string, cert *x509.Certificate) {
	t.Helper()
	assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM certificates WHERE device_id = $1 AND status = 'active'`, deviceID), "active certificates")
	assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM certificates WHERE device_id = $1 AND status = 'active' AND sha256 = $2`, deviceID, pki.Fingerprint(cert)),
		"the active certificate is the one delivered")
}

// assertNotUsable checks that enrollment key left no active certificate:
// either the CA issued none (the request was withdrawn) or it was revoked.
func (w *world) assertNotUsable(t *testing.T, key string) {
	t.Helper()
	assert.Equal(t, 1, w.count(t, `SELECT count(*) FROM ca_requests r LEFT JOIN certificates c ON c.id = r.certificate_id
		WHERE r.idempotency_key = $1 AND (r.status = 'rejected' OR c.status = 'revoked' AND c.revocation_reason IN (4, 5))`, key),
		"the undelivered key's request is withdrawn, or its certificate revoked (superseded or cessationOfOperation)")
}

// parseServerKeyGen reads a serverkeygen response: the PKCS#8 key, then the
// certificate.
func parseServerKeyGen(t *testing.T, contentType, body string) (crypto.Signer, *x509.Certificate) {
	t.Helper()
	media, params, err := mime.ParseMediaType(contentType)
	require.NoError(t, err)
	require.Equal(t, "multipart/mixed", media)
	parts := multipart.NewReader(strings.NewReader(body), params["boundary"])
	var der [2][]byte
	for i := range der {
		part, err := parts.NextPart()
		require.NoError(t, err)
		text, err := io.ReadAll(part)
		require.NoError(t, err)
		der[i], err = estwire.DecodeBase64(text)
		require.NoError(t, err)
	}
	key, err := pki.ParsePrivateKey(der[0])
	require.NoError(t, err)
	certs, err := estwire.ParseCertsOnly(estwire.EncodeBase64(der[1]))
	require.NoError(t, err)
	require.NotEmpty(t, certs)
	return key, certs[0]
}

// gate is a CA that answers late: the submission after holdNext waits until
// the test releases it, and then goes ahead whatever its caller's context
// says, as a remote CA that has the request does. It records the
// idempotency key of every submission, which is the enrollment's workflow ID.
type gate struct {
	mu   sync.Mutex
	keys []string
	next *hold
}

// hold is one held submission.
type hold struct {
	decided  bool          // the CA decides before the hold, not after
	entered  chan string   // its key, once it waits
	release  chan struct{} // closed by open
	once     sync.Once
	answered chan error // what the CA answered
}

// open lets the held submission go on.
func (h *hold) open() { h.once.Do(func() { close(h.release) }) }

// holdNext holds the next submission: before the CA decides, or, when
// decided is set, after it decided and before its answer arrives.
func (g *gate) holdNext(t *testing.T, decided bool) *hold {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.next = &hold{decided: decided, entered: make(chan string, 1), release: make(chan struct{}), answered: make(chan error, 1)}
	t.Cleanup(g.next.open) // should the test fail first
	return g.next
}

// last is the key of the latest submission.
func (g *gate) last() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.keys[len(g.keys)-1]
}

func (g *gate) wrap(d ca.Driver) ca.Driver { return gatedCA{Driver: d, gate: g} }

type gatedCA struct {
	ca.Driver
	gate *gate
}

func (c gatedCA) Submit(ctx context.Context, req ca.Request) (ca.Result, error) {
	c.gate.mu.Lock()
	c.gate.keys = append(c.gate.keys, req.IdempotencyKey)
	h := c.gate.next
	c.gate.next = nil
	c.gate.mu.Unlock()
	if h == nil {
		return c.Driver.Submit(ctx, req)
	}
	var result ca.Result
	var err error
	if h.decided {
		result, err = c.Driver.Submit(ctx, req)
	}
	h.entered <- req.IdempotencyKey
	<-h.release
	if !h.decided {
		result, err = c.Driver.Submit(context.WithoutCancel(ctx), req)
	}
	h.answered <- err
	return result, err
}

// brokenPipe is a client connection that breaks as the response is written.
type brokenPipe struct {
	header http.Header
	status int
}

func (b *brokenPipe) Header() http.Header { return b.header }

func (b *brokenPipe) WriteHeader(status int) { b.status = status }

func (b *brokenPipe) Write([]byte) (int, error) {
	return 0, errors.New("write tcp 127.0.0.1:8443->127.0.0.1:50000: write: connection reset by peer")
}
