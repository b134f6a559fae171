package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/estwire"
	"github.com/certfleet/certfleet/pki/trust"
	"github.com/certfleet/certfleet/vocab"
	"github.com/certfleet/certfleet/workflows"
)

// estRun is one series at one concurrency, EST or SCEP.
type estRun struct {
	Target      string  `json:"target"`             // certfleet, estserver (the peer) or floor
	Protocol    string  `json:"protocol,omitempty"` // scep, or empty for EST
	Auth        string  `json:"auth"`               // factory-certificate, password, challenge or none
	Resumption  bool    `json:"tls_resumption"`
	Concurrency int     `json:"concurrency"`
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	PerSecond   float64 `json:"per_second"`
	P50Millis   float64 `json:"p50_ms"`
	P99Millis   float64 `json:"p99_ms"`
	// Breakdown is where certfleet's EST enrollments spent their time
	// (dev-server stack only).
	Breakdown *enrollBreakdown `json:"breakdown,omitempty"`
	// CPUMillisPerRequest is the CPU each part of the stack spent per
	// answered request.
	CPUMillisPerRequest map[string]float64 `json:"cpu_ms_per_request,omitempty"`
}

// startFloor starts the EST floor's workflow and awaits it.
func startFloor(ctx context.Context, c client.Client, opts client.StartWorkflowOptions) error {
	run, err := c.ExecuteWorkflow(ctx, opts, FloorEnrollment)
	if err != nil {
		return err
	}
	return run.Get(ctx, nil)
}

func floorOptions(n int64) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{ID: fmt.Sprintf("bench-est-floor/%d", n), TaskQueue: floorQueue, EnableEagerStart: true}
}

// findable marks the floor series whose runs carry what an enrollment's
// run carries to be found in the Temporal UI (enroll.Temporal's start
// options): its four search attributes and a summary.
const findable = "findable"

func findableFloorOptions(n int64) client.StartWorkflowOptions {
	opts := floorOptions(n)
	device := fmt.Sprintf("bench-floor-device-%06d", n)
	opts.TypedSearchAttributes = temporal.NewSearchAttributes(
		workflows.CertJobID.ValueSet("est"),
		workflows.DeviceID.ValueSet(device),
		workflows.CertProfile.ValueSet("EST devices"),
		workflows.CertStep.ValueSet(string(vocab.StepSubmit)),
	)
	opts.StaticSummary = "EST simpleenroll of device " + device + " (label factory)"
	return opts
}

// poolSize is how many devices of each kind are made before the clock
// starts, so that the client's own key generation is not measured: every
// certfleet request is a new device, enrolling once.
const poolSize = 8000

// devicePool hands out each device once.
type devicePool struct {
	devices []device
	next    atomic.Int64
}

// makeDevices fills a pool of n devices with fill, on every core: making
// keys and signing is the slow part of setting up.
func makeDevices(n int, fill func(i int, d *device) error) (*devicePool, error) {
	out := make([]device, n)
	var next atomic.Int64
	errs := make(chan error, runtime.NumCPU())
	for range runtime.NumCPU() {
		go func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := fill(i, &out[i]); err != nil {
					next.Store(int64(n)) // stop the others
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for range runtime.NumCPU() {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return &devicePool{devices: out}, first
}

func (p *devicePool) take() (device, error) {
	i := int(p.next.Add(1) - 1)
	if i >= len(p.devices) {
		return device{}, errExhausted
	}
	return p.devices[i], nil
}

var errExhausted = errors.New("the device pool is used up")

// benchEST runs EST simpleenroll against certfleet and the peer, SCEP
// PKCSReq against certfleet, and the short-workflow floor, at each
// concurrency for dur: every series at one concurrency beside the floor
// measured at that concurrency in the same run.
func benchEST(ctx context.Context, s *stack, concurrencies []int, dur time.Duration) ([]estRun, error) {
	caPool, err := s.enrollmentLabels(ctx)
	if err != nil {
		return nil, err
	}
	factory, err := s.estFactoryDevices(ctx, poolSize)
	if err != nil {
		return nil, err
	}
	passwords, err := s.estPasswordDevices(ctx, poolSize)
	if err != nil {
		return nil, err
	}
	scep, err := s.scepDevices(ctx, poolSize)
	if err != nil {
		return nil, err
	}
	peer, err := startPeer(s)
	if err != nil {
		return nil, err
	}
	defer peer.proc.stop()
	certfleetURL := "https://" + s.estAddr + "/.well-known/est/simpleenroll"
	var floorCalls atomic.Int64
	series := []struct {
		run   estRun
		roots *x509.CertPool
		do    func(client *http.Client) error
	}{
		{estRun{Target: "certfleet", Auth: "factory-certificate"}, caPool, func(*http.Client) error {
			d, err := factory.take()
			if err != nil {
				return err
			}
			return post(newClient(caPool, false, &d.cert), certfleetURL, d.csr, "", "")
		}},
		{estRun{Target: "certfleet", Auth: "password"}, caPool, func(cl *http.Client) error {
			d, err := passwords.take()
			if err != nil {
				return err
			}
			return post(cl, certfleetURL, d.csr, d.id, benchPassword)
		}},
		{estRun{Target: "certfleet", Auth: "password", Resumption: true}, caPool, func(cl *http.Client) error {
			d, err := passwords.take()
			if err != nil {
				return err
			}
			return post(cl, certfleetURL, d.csr, d.id, benchPassword)
		}},
		// SCEP over plain HTTP, one kept-alive connection per caller.
		{estRun{Target: "certfleet", Protocol: "scep", Auth: "challenge", Resumption: true}, nil, func(cl *http.Client) error {
			d, err := scep.take()
			if err != nil {
				return err
			}
			return scep.enroll(cl, d)
		}},
		// The peer's mock CA signs whatever it gets: one CSR serves every request.
		{estRun{Target: "estserver", Auth: "none"}, peer.roots, func(cl *http.Client) error {
			return post(cl, peer.url, factory.devices[0].csr, "", "")
		}},
		{estRun{Target: "estserver", Auth: "none", Resumption: true}, peer.roots, func(cl *http.Client) error {
			return post(cl, peer.url, factory.devices[0].csr, "", "")
		}},
		{estRun{Target: "floor", Auth: "none"}, nil, func(*http.Client) error {
			return startFloor(ctx, s.temporal, floorOptions(floorCalls.Add(1)))
		}},
		// The same, as findable in the Temporal UI as an enrollment is: what
		// Temporal charges for an enrollment's visibility, beside the floor.
		{estRun{Target: "floor", Auth: findable}, nil, func(*http.Client) error {
			return startFloor(ctx, s.temporal, findableFloorOptions(floorCalls.Add(1)))
		}},
	}
	var runs []estRun
	for _, c := range concurrencies {
		for _, sr := range series {
			run := sr.run
			run.Concurrency = c
			cpuBefore := s.sampleCPU()
			if err := s.breakDownSeries(ctx, &run, func() {
				load(&run, c, dur, func() *http.Client { return newClient(sr.roots, run.Resumption, nil) }, sr.do)
			}); err != nil {
				return nil, err
			}
			run.CPUMillisPerRequest = s.sampleCPU().perUnit(cpuBefore, run.Requests)
			runs = append(runs, run)
		}
	}
	return runs, nil
}

// breakDownSeries runs series and, for certfleet's EST series on a stack
// with one certfleet process, records where its enrollments' time went.
func (s *stack) breakDownSeries(ctx context.Context, run *estRun, series func()) error {
	clientHandshakes.meanMillis(0) // reset
	if s.metricsAddr == "" || run.Target != "certfleet" || run.Protocol != "" {
		series()
		return nil
	}
	before, err := s.scrapeMetrics(ctx)
	if err != nil {
		return err
	}
	series()
	after, err := s.scrapeMetrics(ctx)
	if err != nil {
		return err
	}
	run.Breakdown, err = breakDownEnrollment(after.since(before), run.Requests, clientHandshakes.meanMillis(run.Requests+run.Errors))
	return err
}

// load runs do from c callers until dur passes or a pool runs out. Each
// caller has its own client, which keeps its TLS sessions when resuming.
func load(run *estRun, c int, dur time.Duration, newCaller func() *http.Client, do func(*http.Client) error) {
	var mu sync.Mutex
	var latencies []time.Duration
	begin := time.Now()
	deadline := begin.Add(dur)
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			cl := newCaller()
			for time.Now().Before(deadline) {
				t0 := time.Now()
				err := do(cl)
				took := time.Since(t0)
				if errors.Is(err, errExhausted) {
					return
				}
				mu.Lock()
				if err != nil {
					run.Errors++
					if run.Errors <= 3 {
						fmt.Fprintf(os.Stderr, "bench: %s, c=%d: %v\n", seriesName(*run), c, err)
					}
				} else {
					latencies = append(latencies, took)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	run.Requests = len(latencies)
	run.PerSecond = float64(len(latencies)) / elapsed.Seconds()
	slices.Sort(latencies)
	run.P50Millis, run.P99Millis = percentile(latencies, 0.50), percentile(latencies, 0.99)
}

func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[min(len(sorted)-1, int(p*float64(len(sorted))))].Microseconds()) / 1000
}

// newClient makes an HTTPS client; with resume it keeps connections alive
// and TLS sessions cached, without it every request is a new handshake.
func newClient(roots *x509.CertPool, resume bool, cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: roots}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	if resume {
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(16)
	}
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: !resume, MaxIdleConnsPerHost: 1}}
}

func post(cl *http.Client, url string, csr []byte, user, pass string) error {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(csr)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", estwire.TypePKCS10)
	req.Header.Set("Content-Transfer-Encoding", "base64") // estserver v1.0.6 requires it
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := cl.Do(clientHandshakes.trace(req))
	if err != nil {
		return err
	}
	_, err = readOK(resp)
	return err
}

// device is one would-be EST or SCEP client: its CSR (base64) and, for
// zero-touch, its factory certificate; or, for SCEP, its whole PKCSReq.
type device struct {
	id      string
	csr     []byte
	cert    tls.Certificate
	pkcsReq []byte
}

const benchPassword = "bench-password-0123456789"

// The enrollment labels: EST's (the default) and SCEP's, which admits one-time
// challenges only (a SHA-256 lookup, not argon2id), both for devices of type
// enrollDeviceType and the same profile.
const (
	scepLabel        = "bench-scep"
	enrollDeviceType = "iot_device"
)

// enrollmentLabels sets up the labels and returns the roots the server's
// certificate chains to.
func (s *stack) enrollmentLabels(ctx context.Context) (*x509.CertPool, error) {
	profileID, err := s.createProfile(ctx, "bench est", enrollDeviceType)
	if err != nil {
		return nil, err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO est_labels (label, is_default, profile_id, allow_basic, allow_factory, scep_enabled, scep_challenges)
		VALUES ('bench', true, $1, true, true, false, DEFAULT), ($2, false, $1, false, false, true, '{dynamic}')`, profileID, scepLabel)
	if err != nil {
		return nil, err
	}
	var root []byte
	if err := s.pool.QueryRow(ctx, `SELECT root_der FROM local_cas LIMIT 1`).Scan(&root); err != nil {
		return nil, fmt.Errorf("read the built-in CA's root: %w", err)
	}
	cert, err := x509.ParseCertificate(root)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool, nil
}

// estFactoryDevices makes n factory certificates under a trust anchor that
// registers devices on first contact, each with a CSR naming its device.
func (s *stack) estFactoryDevices(ctx context.Context, n int) (*devicePool, error) {
	caKey, caCert, err := selfSignedCA("Bench Factory CA")
	if err != nil {
		return nil, err
	}
	if err := s.provenAnchor(ctx, caKey, trust.Upload{Name: "bench factory", PEM: pemCert(caCert), AutoRegister: true, NameMapping: "CN"}); err != nil {
		return nil, err
	}
	return makeDevices(n, func(i int, d *device) error {
		d.id = fmt.Sprintf("est-f-%05d", i)
		key, cert, err := issue(caKey, caCert, d.id, false)
		if err != nil {
			return err
		}
		d.cert = tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}
		d.csr, err = csrFor(d.id)
		return err
	})
}

// provenAnchor uploads a trust anchor, proves possession of its key and
// enables it, as an admin must before the anchor authenticates anything.
func (s *stack) provenAnchor(ctx context.Context, key crypto.Signer, up trust.Upload) error {
	anchors := trust.New(s.pool)
	rows, err := anchors.Add(ctx, up)
	if err != nil {
		return err
	}
	code, err := anchors.Challenge(ctx, rows[0].ID)
	if err != nil {
		return err
	}
	digest := sha256.Sum256([]byte(code))
	signature, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return err
	}
	if err := anchors.Prove(ctx, rows[0].ID, code, base64.StdEncoding.EncodeToString(signature)); err != nil {
		return err
	}
	return anchors.SetEnabled(ctx, rows[0].ID, true)
}

// estPasswordDevices registers n devices with the same password (hashed once:
// the benchmark measures verifying, not registering).
func (s *stack) estPasswordDevices(ctx context.Context, n int) (*devicePool, error) {
	hash, err := auth.HashSecret(benchPassword)
	if err != nil {
		return nil, err
	}
	err = s.registerDevices(ctx, "est-p-", n, `INSERT INTO enrollment_credentials (device_id, kind, secret_hash) SELECT id, 'password', $1 FROM d`, hash)
	if err != nil {
		return nil, fmt.Errorf("register password devices: %w", err)
	}
	return makeDevices(n, func(i int, d *device) error {
		d.id = fmt.Sprintf("est-p-%05d", i)
		var err error
		d.csr, err = csrFor(d.id)
		return err
	})
}

// registerDevices puts n devices <prefix>00000… of enrollDeviceType in the
// inventory, self-enrolling, and runs then, a statement on the new rows d
// (a common table expression of their id) whose arguments are args.
func (s *stack) registerDevices(ctx context.Context, prefix string, n int, then string, args ...any) error {
	_, err := s.pool.Exec(ctx, fmt.Sprintf(`
		WITH d AS (INSERT INTO devices (id, name, device_type, driver) SELECT $%[1]d || lpad(n::text, 5, '0'), 'bench', $%[2]d, 'est'
		           FROM generate_series(0, $%[3]d::int - 1) n RETURNING id)
		%[4]s`, len(args)+1, len(args)+2, len(args)+3, then), append(args, prefix, enrollDeviceType, n)...)
	return err
}

func csrFor(cn string) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	return estwire.EncodeBase64(der), err
}

// peer is globalsign's estserver v1.0.6 with its mock CA, on loopback.
type peer struct {
	proc  *process
	url   string
	roots *x509.CertPool
}

func startPeer(s *stack) (*peer, error) {
	caKey, caCert, err := selfSignedCA("Peer CA")
	if err != nil {
		return nil, err
	}
	serverKey, serverCert, err := issue(caKey, caCert, "127.0.0.1", true)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, "estserver")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	files := map[string][]byte{"ca.pem": pemCert(caCert), "ca.key": pemKey(caKey), "server.pem": pemCert(serverCert), "server.key": pemKey(serverKey)}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	addr := freeAddr()
	config, _ := json.Marshal(map[string]any{
		"mock_ca": map[string]string{"certificates": filepath.Join(dir, "ca.pem"), "private_key": filepath.Join(dir, "ca.key")},
		"tls":     map[string]any{"listen_address": addr, "certificates": filepath.Join(dir, "server.pem"), "private_key": filepath.Join(dir, "server.key")},
		"timeout": 60,
	})
	if err := os.WriteFile(filepath.Join(dir, "config.json"), config, 0o600); err != nil {
		return nil, err
	}
	proc, err := start(s.dir, "estserver", nil, filepath.Join(s.repo, "bin", "estserver"), "-config", filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	if err := waitFor("estserver", 20*time.Second, dialable(addr)); err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	return &peer{proc: proc, url: "https://" + addr + "/.well-known/est/simpleenroll", roots: roots}, nil
}

func selfSignedCA(cn string) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, err
}

// issue signs a certificate for cn: a TLS server certificate with cn as its
// IP address, or a client (factory) certificate.
func issue(caKey crypto.Signer, ca *x509.Certificate, cn string, server bool) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 100))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage, tmpl.IPAddresses = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, []net.IP{net.ParseIP(cn)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, err
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func pemKey(k *ecdsa.PrivateKey) []byte {
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
