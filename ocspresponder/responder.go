// Package ocspresponder answers OCSP requests (RFC 6960, over HTTP GET and
// POST as RFC 5019 profiles them) for the CAs certfleet runs: good, revoked
// (with its time and reason) or unknown, signed by each CA's delegated OCSP
// signer, with the request's nonce echoed. Every answer reads the
// certificate's status from the inventory, so a revocation shows at once in
// every process; a signed answer without a nonce is reused until half its
// validity has passed or the status it states has changed (answers of
// unknown are signed afresh, never kept).
package ocspresponder

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/certfleet/certfleet/drivers/ca"
)

// Authority is a CA the responder answers for.
type Authority interface {
	// Issuer is the CA certificate whose name and key requests identify by hash.
	Issuer() *x509.Certificate
	// OCSPSigner is its current delegated OCSP signer.
	OCSPSigner(ctx context.Context) (Signer, error)
	// CertificateStatus says whether it issued serial and whether it is revoked.
	CertificateStatus(ctx context.Context, serial *big.Int) (ca.CertificateStatus, error)
}

// Authorities lists the CAs the responder answers for, the first of which
// also signs the "unknown" answer to a request about an issuer none of them
// is (a CA certfleet only trusts, or none it knows). It is asked on every
// request, so CAs added while the responder runs are answered for.
type Authorities interface {
	OCSPAuthorities() []Authority
}

// Static is a fixed list of authorities.
type Static []Authority

// OCSPAuthorities is the list.
func (s Static) OCSPAuthorities() []Authority { return s }

// Options tune the responder.
type Options struct {
	// Path is where the responder is served: POST Path, GET Path/<request>.
	Path string
	// Validity is how long an answer holds (its nextUpdate); one hour unless set.
	Validity time.Duration
	// MaxCached bounds the signed answers kept; 100,000 unless set.
	MaxCached int
	Logger    *slog.Logger
}

// Responder is an http.Handler for POST Path and GET Path/<base64 request>.
// It is safe for concurrent use.
type Responder struct {
	authorities Authorities
	opts        Options

	mu     sync.Mutex
	cache  map[string]cachedAnswer // by the request's CertID, DER
	hashed map[string]authority    // by the issuer certificate, DER
}

// authority is an Authority with its issuer's name and key hashed the ways
// a request may hash them.
type authority struct {
	Authority
	nameHashes, keyHashes map[crypto.Hash][]byte
}

type cachedAnswer struct {
	status  ca.CertificateStatus
	der     []byte
	refresh time.Time
	expires time.Time
}

// New answers for the CAs authorities lists.
func New(opts Options, authorities Authorities) *Responder {
	if opts.Validity <= 0 {
		opts.Validity = time.Hour
	}
	if opts.MaxCached <= 0 {
		opts.MaxCached = 100_000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Responder{opts: opts, authorities: authorities, cache: map[string]cachedAnswer{}, hashed: map[string]authority{}}
}

// hashIssuer computes the issuer name and key hashes (RFC 6960 §4.1.1) under
// every hash a request may use, once per CA.
func (r *Responder) hashIssuer(a Authority) authority {
	issuer := a.Issuer()
	r.mu.Lock()
	defer r.mu.Unlock()
	if h, ok := r.hashed[string(issuer.Raw)]; ok {
		return h
	}
	var spki struct {
		Algorithm asn1.RawValue
		PublicKey asn1.BitString
	}
	// The certificate parsed, so its public key info does too.
	asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &spki) //nolint:errcheck
	h := authority{Authority: a, nameHashes: map[crypto.Hash][]byte{}, keyHashes: map[crypto.Hash][]byte{}}
	for _, hash := range hashes {
		h.nameHashes[hash] = digest(hash, issuer.RawSubject)
		h.keyHashes[hash] = digest(hash, spki.PublicKey.RightAlign())
	}
	r.hashed[string(issuer.Raw)] = h
	return h
}

func digest(hash crypto.Hash, data []byte) []byte {
	d := hash.New()
	d.Write(data)
	return d.Sum(nil)
}

// maxRequest bounds a request body: one CertID and a nonce take about 120 bytes.
const maxRequest = 4 << 10

func (r *Responder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	der, err := readRequest(req, r.opts.Path)
	if errors.Is(err, errMethod) {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, err.Error(), http.StatusMethodNotAllowed)
		return
	}
	var parsed request
	if err == nil {
		parsed, err = parseRequest(der)
	}
	if err != nil {
		reply(w, http.StatusBadRequest, malformedResponse, "no-store")
		return
	}
	answer, err := r.respond(req.Context(), parsed)
	if err != nil {
		r.opts.Logger.Warn("OCSP request not answered", "serial", parsed.serial.Text(16), "error", err)
		reply(w, http.StatusServiceUnavailable, tryLaterResponse, "no-store")
		return
	}
	cache := "no-store" // an answer carrying a nonce is for its requester alone
	if req.Method == http.MethodGet && parsed.nonce == nil {
		maxAge := max(0, int(time.Until(answer.expires).Seconds()))
		cache = fmt.Sprintf("max-age=%d, public, no-transform, must-revalidate", maxAge)
		w.Header().Set("Expires", answer.expires.UTC().Format(http.TimeFormat))
	}
	reply(w, http.StatusOK, answer.der, cache)
}

func reply(w http.ResponseWriter, status int, body []byte, cacheControl string) {
	w.Header().Set("Content-Type", "application/ocsp-response")
	w.Header().Set("Cache-Control", cacheControl)
	w.WriteHeader(status)
	w.Write(body) //nolint:errcheck // the client went away
}

var errMethod = errors.New("OCSP requests are GET or POST")

// readRequest takes the DER request from a POST body or from the base64 in
// a GET's path (RFC 6960 Appendix A.1), which may be URL-encoded.
func readRequest(req *http.Request, prefix string) ([]byte, error) {
	switch req.Method {
	case http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(req.Body, maxRequest+1))
		if err == nil && len(body) > maxRequest {
			err = errors.New("OCSP request too large")
		}
		return body, err
	case http.MethodGet:
		escaped, ok := strings.CutPrefix(req.URL.EscapedPath(), prefix+"/")
		if !ok {
			return nil, errors.New("GET without a request")
		}
		encoded, err := url.PathUnescape(escaped)
		if err != nil || len(encoded) > 2*maxRequest {
			return nil, errors.New("GET request is not URL-encoded base64")
		}
		return base64.StdEncoding.DecodeString(encoded)
	default:
		return nil, errMethod
	}
}

// respond answers r from the cache when it may, else signs a new answer.
func (r *Responder) respond(ctx context.Context, req request) (cachedAnswer, error) {
	a, ours, err := r.authorityOf(req)
	if err != nil {
		return cachedAnswer{}, err
	}
	status := ca.CertificateStatus{State: ca.CertificateUnknown}
	if ours {
		if status, err = a.CertificateStatus(ctx, req.serial); err != nil {
			return cachedAnswer{}, fmt.Errorf("status of %s: %w", req.serial.Text(16), err)
		}
	}
	key := string(req.certID.FullBytes)
	now := time.Now()
	if req.nonce == nil {
		if hit, ok := r.cached(key, status, now); ok {
			return hit, nil
		}
	}
	signer, err := a.OCSPSigner(ctx)
	if err != nil {
		return cachedAnswer{}, fmt.Errorf("OCSP signer of %s: %w", a.Issuer().Subject, err)
	}
	fresh := cachedAnswer{status: status, refresh: now.Add(r.opts.Validity / 2), expires: now.Add(r.opts.Validity)}
	if fresh.der, err = sign(req, answer{status: status, thisUpdate: now, nextUpdate: fresh.expires}, signer); err != nil {
		return cachedAnswer{}, err
	}
	// Unknown answers are not kept: anyone can ask about any serial, and
	// they would push out the answers relying parties reuse.
	if req.nonce == nil && status.State != ca.CertificateUnknown {
		r.store(key, fresh)
	}
	return fresh, nil
}

// authorityOf finds the CA a request names; the first CA signs for those
// it names none of.
func (r *Responder) authorityOf(req request) (authority, bool, error) {
	all := r.authorities.OCSPAuthorities()
	if len(all) == 0 {
		return authority{}, false, errors.New("no CA to answer for")
	}
	for _, a := range all {
		h := r.hashIssuer(a)
		if bytes.Equal(h.nameHashes[req.hash], req.nameHash) && bytes.Equal(h.keyHashes[req.hash], req.keyHash) {
			return h, true, nil
		}
	}
	return r.hashIssuer(all[0]), false, nil
}

func (r *Responder) cached(key string, status ca.CertificateStatus, now time.Time) (cachedAnswer, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	hit, ok := r.cache[key]
	same := hit.status.State == status.State && hit.status.Reason == status.Reason && hit.status.RevokedAt.Equal(status.RevokedAt)
	return hit, ok && same && now.Before(hit.refresh)
}

func (r *Responder) store(key string, answer cachedAnswer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cache) >= r.opts.MaxCached {
		clear(r.cache) // rare: refilling costs a signature per certificate asked about
	}
	r.cache[key] = answer
}
