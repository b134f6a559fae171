// Package est is the CA driver for any RFC 7030 EST server: certfleet acts as
// a registration authority that enrolls with simpleenroll (HTTP Basic or a TLS
// client certificate), treats 202 with Retry-After as pending, and reads the
// CA chain from cacerts.
package est

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/credentials/secret"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/pki/kek"
)

// DriverName is how profiles name this driver.
const DriverName = "est"

// Settings are a profile's ca_settings for this driver. They name a
// credential of the credential store and never hold a secret.
type Settings struct {
	// URL is the EST server, e.g. https://est.example.net:8443.
	URL string `json:"url"`
	// Label is the optional path segment: /.well-known/est/<label>/...
	Label string `json:"label,omitempty"`
	// Credential names a stored credential: a password one for HTTP Basic,
	// or a tls_client one for a TLS client certificate.
	Credential string `json:"credential,omitempty"`
	// CAFile (PEM) is what the server's TLS certificate must chain to; the
	// system roots when empty.
	CAFile string `json:"ca_file,omitempty"`
}

// ParseSettings reads and checks a profile's ca_settings.
func ParseSettings(raw []byte) (Settings, error) {
	var s Settings
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Settings{}, fmt.Errorf("EST CA settings: %w", err)
	}
	u, err := url.Parse(s.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return Settings{}, fmt.Errorf("EST CA settings: url must be https://host[:port], got %q", s.URL)
	}
	return s, nil
}

// defaultRetry is the poll interval when a 202 carries no usable Retry-After.
const defaultRetry = time.Minute

// Driver enrolls with one EST server.
type Driver struct {
	pool     *pgxpool.Pool
	base     string
	username string
	password string
	client   *http.Client
	ledger   ca.Ledger
	chain    chainCache
}

var _ ca.Driver = (*Driver)(nil)

// New prepares a driver with the opened credential its settings name (zero
// when they name none); it reads the trust file now, so that a
// misconfiguration fails at start rather than at the first enrollment.
func New(pool *pgxpool.Pool, s Settings, credential secret.Secret, keys *kek.KEK) (*Driver, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		data, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("EST CA trust file: %w", err)
		}
		roots, err := pki.ParseCertificatesPEM(data)
		if err != nil {
			return nil, fmt.Errorf("EST CA trust file %s: %w", s.CAFile, err)
		}
		tlsConfig.RootCAs = x509.NewCertPool()
		for _, root := range roots {
			tlsConfig.RootCAs.AddCert(root)
		}
	}
	var username, password string
	switch credential.Kind {
	case secret.TLSClient:
		pair, err := tls.X509KeyPair([]byte(credential.Value), []byte(credential.Value))
		if err != nil {
			return nil, fmt.Errorf("EST client certificate of credential %s: %w", s.Credential, err)
		}
		tlsConfig.Certificates = []tls.Certificate{pair}
	case secret.Password:
		username, password = credential.Username, credential.Value
	case "":
	default:
		return nil, fmt.Errorf("EST CA settings: credential %s is a %s credential; want password or tls_client", s.Credential, credential.Kind)
	}
	d := &Driver{
		pool:     pool,
		base:     strings.TrimSuffix(s.URL, "/") + "/.well-known/est",
		username: username,
		password: password,
		client: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{TLSClientConfig: tlsConfig, ForceAttemptHTTP2: true},
		},
		ledger: ca.Ledger{Driver: DriverName, KEK: keys},
	}
	if s.Label != "" {
		d.base += "/" + url.PathEscape(s.Label)
	}
	return d, nil
}

// Capabilities: EST has no revocation, and servers may answer 202.
func (d *Driver) Capabilities() ca.Capabilities { return ca.Capabilities{Revoke: false, Pending: true} }

// Revoke is not part of EST; revocations of such certificates go to the CA's
// own tools, or to certfleet's offline revocation entries.
func (d *Driver) Revoke(context.Context, *x509.Certificate, ca.RevocationReason) error {
	return ca.Permanent(errors.New("the EST protocol cannot revoke certificates"))
}

// leaseTime bounds one call to the EST server (its client times out sooner),
// and busyRetry is how soon to ask again while another worker makes one.
const (
	leaseTime = time.Minute
	busyRetry = 5 * time.Second
)

// Submit enrolls req's CSR, at most once per idempotency key.
func (d *Driver) Submit(ctx context.Context, req ca.Request) (ca.Result, error) {
	var row store.CaRequest
	err := ca.InTx(ctx, d.pool, func(tx pgx.Tx) error {
		var err error
		row, _, err = d.ledger.Claim(ctx, tx, req)
		return err
	})
	if err != nil {
		return ca.Result{}, err
	}
	return d.advance(ctx, row, req.Profile.CertType)
}

// Poll repeats the enrollment of a pending request, as RFC 7030 §4.2.3 asks
// a client to do after a 202.
func (d *Driver) Poll(ctx context.Context, requestID string) (ca.Result, error) {
	q := store.New(d.pool)
	row, err := d.ledger.Find(ctx, q, requestID, false)
	if err != nil {
		return ca.Result{}, err
	}
	profile, err := q.GetProfile(ctx, row.ProfileID)
	if err != nil {
		return ca.Result{}, ca.Transient(fmt.Errorf("read profile %d: %w", row.ProfileID, err))
	}
	return d.advance(ctx, row, profile.CertType)
}

// advance answers a decided request from the ledger. A pending one is sent
// to the EST server under a lease, so that only one worker asks at a time
// while no transaction or row lock waits on the network, and the answer is
// recorded afterwards.
func (d *Driver) advance(ctx context.Context, row store.CaRequest, certType string) (ca.Result, error) {
	q := store.New(d.pool)
	if row.Status != string(ca.Pending) {
		result, err := d.ledger.Result(ctx, q, row, 0)
		return d.withChain(ctx, result, err)
	}
	leased, err := q.LeaseCARequest(ctx, store.LeaseCARequestParams{ID: row.ID, Lease: leaseTime})
	if errors.Is(err, pgx.ErrNoRows) {
		return d.answerBusy(ctx, row.ID)
	}
	if err != nil {
		return ca.Result{}, ca.Transient(fmt.Errorf("lease CA request %d: %w", row.ID, err))
	}
	csr, err := d.ledger.CSR(leased)
	if err != nil {
		return ca.Result{}, ca.Permanent(err)
	}
	certs, retryAfter, err := d.enroll(ctx, csr)
	var refusal *refusedError
	if err != nil && !errors.As(err, &refusal) {
		if releaseErr := q.ReleaseCARequest(ctx, row.ID); releaseErr != nil {
			err = errors.Join(err, ca.Transient(releaseErr))
		}
		return ca.Result{}, err
	}
	var result ca.Result
	err = ca.InTx(ctx, d.pool, func(tx pgx.Tx) error {
		var err error
		result, err = d.record(ctx, tx, leased, certType, certs, retryAfter, refusal)
		return err
	})
	return d.withChain(ctx, result, err)
}

// answerBusy is the answer while another worker asks the server, or once it
// has: the request as it now stands.
func (d *Driver) answerBusy(ctx context.Context, id int64) (ca.Result, error) {
	q := store.New(d.pool)
	current, err := q.GetCARequest(ctx, id)
	if err != nil {
		return ca.Result{}, ca.Transient(fmt.Errorf("read CA request %d: %w", id, err))
	}
	result, err := d.ledger.Result(ctx, q, current, busyRetry)
	return d.withChain(ctx, result, err)
}

// record books the EST server's answer to a leased request and releases it.
func (d *Driver) record(ctx context.Context, tx pgx.Tx, row store.CaRequest, certType string, certs []*x509.Certificate, retryAfter time.Duration, refusal *refusedError) (ca.Result, error) {
	q := store.New(tx)
	if err := q.ReleaseCARequest(ctx, row.ID); err != nil {
		return ca.Result{}, ca.Transient(fmt.Errorf("release CA request %d: %w", row.ID, err))
	}
	switch {
	case refusal != nil:
		reason := refusal.Error()
		if err := q.MarkCARequestRejected(ctx, store.MarkCARequestRejectedParams{ID: row.ID, RejectReason: reason, DecidedBy: "est"}); err != nil {
			return ca.Result{}, ca.Transient(err)
		}
		row.Status, row.RejectReason = string(ca.Rejected), reason
		return d.ledger.Result(ctx, q, row, 0)
	case certs == nil:
		return d.ledger.Result(ctx, q, row, retryAfter)
	}
	csr, err := d.ledger.CSR(row)
	if err != nil {
		return ca.Result{}, ca.Permanent(err)
	}
	leaf, err := leafFor(certs, csr)
	if err != nil {
		return ca.Result{}, err
	}
	certID, err := d.ledger.RecordIssued(ctx, tx, row, pki.Profile{CertType: certType}, leaf, "est")
	if err != nil {
		return ca.Result{}, err
	}
	return ca.Result{Status: ca.Issued, RequestID: strconv.FormatInt(row.ID, 10), Certificate: leaf, CertificateID: certID}, nil
}

func (d *Driver) withChain(ctx context.Context, result ca.Result, err error) (ca.Result, error) {
	if err != nil || result.Status != ca.Issued {
		return result, err
	}
	result.Chain, err = d.CACertificates(ctx)
	return result, err
}

// leafFor picks, from what the server returned, the certificate for the CSR's key.
func leafFor(certs []*x509.Certificate, csrDER []byte) (*x509.Certificate, error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, ca.Permanent(fmt.Errorf("stored CSR: %w", err))
	}
	for _, cert := range certs {
		if pki.SamePublicKey(cert.PublicKey, csr.PublicKey) {
			return cert, nil
		}
	}
	return nil, ca.Permanent(errors.New("the EST server returned no certificate for the CSR's key"))
}
