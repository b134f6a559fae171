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
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/estwire"
	"github.com/certfleet/certfleet/pki/trust"
)

// estRun is one series at one concurrency.
type estRun struct {
	Target      string  `json:"target"` // certfleet, estserver (the peer) or floor
	Auth        string  `json:"auth"`   // factory-certificate, password or none
	Resumption  bool    `json:"tls_resumption"`
	Concurrency int     `json:"concurrency"`
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	PerSecond   float64 `json:"per_second"`
	P50Millis   float64 `json:"p50_ms"`
	P99Millis   float64 `json:"p99_ms"`
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

func (p *devicePool) take() (device, error) {
	i := int(p.next.Add(1) - 1)
	if i >= len(p.devices) {
		return device{}, errExhausted
	}
	return p.devices[i], nil
}

var errExhausted = errors.New("the device pool is used up")

// benchEST runs simpleenroll against certfleet and the peer, and the
// short-workflow floor, at each concurrency for dur.
func benchEST(ctx context.Context, s *stack, concurrencies []int, dur time.Duration) ([]estRun, error) {
	caPool, err := s.estRoots(ctx)
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
		// The peer's mock CA signs whatever it gets: one CSR serves every request.
		{estRun{Target: "estserver", Auth: "none"}, peer.roots, func(cl *http.Client) error {
			return post(cl, peer.url, factory.devices[0].csr, "", "")
		}},
		{estRun{Target: "estserver", Auth: "none", Resumption: true}, peer.roots, func(cl *http.Client) error {
			return post(cl, peer.url, factory.devices[0].csr, "", "")
		}},
		{estRun{Target: "floor", Auth: "none"}, nil, func(*http.Client) error {
			run, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID: fmt.Sprintf("bench-est-floor/%d", floorCalls.Add(1)), TaskQueue: floorQueue, EnableEagerStart: true,
			}, FloorEnrollment)
			if err != nil {
				return err
			}
			return run.Get(ctx, nil)
		}},
	}
	var runs []estRun
	for _, c := range concurrencies {
		for _, sr := range series {
			run := sr.run
			run.Concurrency = c
			load(&run, c, dur, func() *http.Client { return newClient(sr.roots, run.Resumption, nil) }, sr.do)
			runs = append(runs, run)
		}
	}
	return runs, nil
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
						fmt.Fprintf(os.Stderr, "bench: %s %s c=%d: %v\n", run.Target, run.Auth, c, err)
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
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

// device is one would-be EST client: its CSR (base64) and, for zero-touch,
// its factory certificate.
type device struct {
	id   string
	csr  []byte
	cert tls.Certificate
}

const benchPassword = "bench-password-0123456789"

// estRoots sets up the label and returns the roots the server's certificate chains to.
func (s *stack) estRoots(ctx context.Context) (*x509.CertPool, error) {
	profileID, err := s.createProfile(ctx, "bench est", "iot_device")
	if err != nil {
		return nil, err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO est_labels (label, is_default, profile_id, allow_basic, allow_factory) VALUES ('bench', true, $1, true, true)`, profileID)
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
	out := make([]device, n)
	for i := range out {
		id := fmt.Sprintf("est-f-%05d", i)
		key, cert, err := issue(caKey, caCert, id, false)
		if err != nil {
			return nil, err
		}
		if out[i].csr, err = csrFor(id); err != nil {
			return nil, err
		}
		out[i].id, out[i].cert = id, tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}
	}
	return &devicePool{devices: out}, nil
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
	_, err = s.pool.Exec(ctx, `
		WITH d AS (INSERT INTO devices (id, name, device_type, driver) SELECT format('est-p-%s', lpad(n::text, 5, '0')), 'bench', 'iot_device', 'est'
		           FROM generate_series(0, $1::int - 1) n RETURNING id)
		INSERT INTO enrollment_credentials (device_id, kind, secret_hash) SELECT id, 'password', $2 FROM d`, n, hash)
	if err != nil {
		return nil, fmt.Errorf("register password devices: %w", err)
	}
	out := make([]device, n)
	for i := range out {
		out[i].id = fmt.Sprintf("est-p-%05d", i)
		if out[i].csr, err = csrFor(out[i].id); err != nil {
			return nil, err
		}
	}
	return &devicePool{devices: out}, nil
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
