package main

// The OCSP benchmark: the responder as relying parties use it, beside the
// same server's /healthz. It needs no Temporal: a database of its own holds
// the built-in CA and certificates it issued (revoked ones among them),
// served by api.New over HTTP in the benchmark's process with certfleet's
// pool settings.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	xocsp "golang.org/x/crypto/ocsp"

	"github.com/certfleet/certfleet/api"
	"github.com/certfleet/certfleet/db"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/ocspresponder"
	"github.com/certfleet/certfleet/pki/kek"
)

// ocspCertificates is how many certificates the responder is asked about,
// a tenth of them revoked.
const ocspCertificates = 10_000

type ocspResult struct {
	Certificates     int      `json:"certificates"`
	SecondsPerSeries float64  `json:"seconds_per_series"`
	Runs             []estRun `json:"runs"` // Target: healthz, ocsp-get or ocsp-post-nonce
}

// benchOCSP asks the responder about random certificates from c callers
// at each concurrency: over GET without a nonce (the cacheable answers
// browsers and RFC 5019 clients get), over POST with a nonce (a fresh
// signature each, as openssl asks), and GET /healthz as the floor.
func benchOCSP(ctx context.Context, o options) (ocspResult, error) {
	r := ocspResult{Certificates: ocspCertificates, SecondsPerSeries: o.estDuration.Seconds()}
	dbURL, drop, err := createDatabase(ctx, o.adminURL, fmt.Sprintf("certfleet_bench_ocsp_%d", time.Now().UnixNano()))
	if err != nil {
		return r, err
	}
	defer drop()
	pool, err := db.Open(ctx, dbURL)
	if err != nil {
		return r, err
	}
	defer pool.Close()
	if _, err := db.Migrate(ctx, pool); err != nil {
		return r, err
	}
	key := make([]byte, 32)
	rand.Read(key) //nolint:errcheck // never fails
	keys, err := kek.New(key)
	if err != nil {
		return r, err
	}
	builtin, err := local.Open(ctx, pool, keys, local.Options{})
	if err != nil {
		return r, err
	}
	issuing, _ := builtin.Certificates()
	serials, err := seedIssued(ctx, pool, issuing, ocspCertificates)
	if err != nil {
		return r, fmt.Errorf("seed certificates: %w", err)
	}
	responder := ocspresponder.New(ocspresponder.Options{Path: local.OCSPPath}, ocspresponder.Static{builtin})
	srv := httptest.NewServer(api.New(api.Deps{Logger: slog.New(slog.DiscardHandler), OCSP: responder}))
	defer srv.Close()

	var next atomic.Int64
	request := func(nonce bool) ([]byte, error) {
		serial := serials[int(next.Add(1))%len(serials)]
		der, err := xocsp.CreateRequest(&x509.Certificate{SerialNumber: serial}, issuing, &xocsp.RequestOptions{Hash: crypto.SHA1})
		if err != nil || !nonce {
			return der, err
		}
		return withNonce(der)
	}
	series := []struct {
		target string
		do     func(*http.Client) error
	}{
		{"healthz", func(cl *http.Client) error { return fetchOK(cl, http.MethodGet, srv.URL+"/healthz", nil) }},
		{"ocsp-get", func(cl *http.Client) error {
			der, err := request(false)
			if err != nil {
				return err
			}
			return fetchOK(cl, http.MethodGet, srv.URL+"/ocsp/"+url.PathEscape(base64.StdEncoding.EncodeToString(der)), nil)
		}},
		{"ocsp-post-nonce", func(cl *http.Client) error {
			der, err := request(true)
			if err != nil {
				return err
			}
			return fetchOK(cl, http.MethodPost, srv.URL+"/ocsp", der)
		}},
	}
	for _, c := range o.concurrency {
		for _, s := range series {
			run := estRun{Target: s.target, Auth: "none", Resumption: true, Concurrency: c}
			load(&run, c, o.estDuration, func() *http.Client { return &http.Client{} }, s.do)
			r.Runs = append(r.Runs, run)
		}
	}
	printOCSP(r)
	return r, nil
}

// seedIssued records n certificates of issuer in the inventory, every tenth
// revoked, and returns their serial numbers. Their DER is a placeholder: OCSP
// reads only the status.
func seedIssued(ctx context.Context, pool *pgxpool.Pool, issuer *x509.Certificate, n int) ([]*big.Int, error) {
	_, err := pool.Exec(ctx, `
		INSERT INTO certificates (cert_type, issuer, serial_hex, subject, sha256, not_before, not_after, der, status, revoked_at, revocation_reason)
		SELECT 'tls', $1, to_hex(1000000 + i), 'CN=ocsp-' || i, sha256(('ocsp-' || i)::bytea), now() - interval '1 day', now() + interval '90 days', '\x3000',
		       CASE WHEN i % 10 = 0 THEN 'revoked' ELSE 'active' END,
		       CASE WHEN i % 10 = 0 THEN now() END, CASE WHEN i % 10 = 0 THEN 1 END
		FROM generate_series(1, $2::int) AS i`, issuer.Subject.String(), n)
	if err != nil {
		return nil, err
	}
	serials := make([]*big.Int, n)
	for i := range serials {
		serials[i] = big.NewInt(int64(1000000 + i + 1))
	}
	return serials, nil
}

// withNonce adds a 16-octet nonce to an OCSP request, as openssl sends it.
func withNonce(der []byte) ([]byte, error) {
	var req struct {
		TBS struct {
			Requests   []asn1.RawValue
			Extensions []pkix.Extension `asn1:"explicit,tag:2,optional"`
		}
	}
	if _, err := asn1.Unmarshal(der, &req); err != nil {
		return nil, err
	}
	nonce := make([]byte, 16)
	rand.Read(nonce) //nolint:errcheck // never fails
	value, err := asn1.Marshal(nonce)
	if err != nil {
		return nil, err
	}
	req.TBS.Extensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}, Value: value}}
	return asn1.Marshal(req)
}

func fetchOK(cl *http.Client, method, target string, body []byte) error {
	req, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/ocsp-request")
	}
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s", method, target, resp.Status)
	}
	return nil
}

func printOCSP(r ocspResult) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "Callers\tSeries\tper s\tp50 ms\tp99 ms\terrors\tof /healthz\t")
	for _, run := range r.Runs {
		fmt.Fprintf(w, "%d\t%s\t%.0f\t%.2f\t%.2f\t%d\t%s\t\n", run.Concurrency, run.Target, run.PerSecond, run.P50Millis, run.P99Millis, run.Errors, ofFloor(r, run))
	}
	w.Flush()
}

// ofFloor is a series' rate as a share of /healthz's at its concurrency.
func ofFloor(r ocspResult, run estRun) string {
	for _, f := range r.Runs {
		if f.Target == "healthz" && f.Concurrency == run.Concurrency && f.PerSecond > 0 {
			return fmt.Sprintf("%.0f%%", 100*run.PerSecond/f.PerSecond)
		}
	}
	return ""
}

var ocspSeries = map[string]string{
	"healthz":         "floor: GET /healthz on the same server",
	"ocsp-get":        "OCSP over GET, no nonce (answers reused while valid)",
	"ocsp-post-nonce": "OCSP over POST with a nonce (signed afresh, as openssl asks)",
}

func writeOCSP(b *strings.Builder, res *result, r ocspResult) {
	m := res.Machine
	b.WriteString("## OCSP responder\n\n")
	fmt.Fprintf(b, "Measured %s on %d cores (%s), %.1f GiB, %s.\n\n", res.At.Format("2006-01-02 15:04 MST"), m.Cores, m.CPU, m.MemoryGiB, m.Go)
	fmt.Fprintf(b, "`go run ./bench -only ocsp` records %d certificates of the built-in CA (a tenth revoked) in a database of its own and serves `api.New` with the responder over HTTP in the benchmark's process; each caller keeps one connection alive and asks about the certificates in turn, for %.0f s per series. Every answer reads the certificate's status from Postgres; the floor is the same server's `/healthz`, which reads nothing.\n\n", r.Certificates, r.SecondsPerSeries)
	b.WriteString("| Callers | Series | Answers/s | p50 | p99 | Errors | Of the floor |\n|---|---|---|---|---|---|---|\n")
	for _, run := range r.Runs {
		fmt.Fprintf(b, "| %d | %s | %.0f | %.2f ms | %.2f ms | %d | %s |\n", run.Concurrency, ocspSeries[run.Target], run.PerSecond, run.P50Millis, run.P99Millis, run.Errors, ofFloor(r, run))
	}
	b.WriteString("\n")
}
