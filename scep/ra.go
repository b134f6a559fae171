package scep

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/pki/kek"
)

// RAIssuer issues the RA's certificate (the built-in CA does).
type RAIssuer interface {
	IssueRA(pub crypto.PublicKey, validity time.Duration) (*x509.Certificate, error)
	// CACertificates is the chain above every RA certificate.
	CACertificates(ctx context.Context) ([]*x509.Certificate, error)
}

// RAs keeps certfleet's SCEP registration authority: an RSA key and its
// certificate from the built-in CA, which SCEP clients encrypt requests to
// (SCEP needs an RSA recipient even when the CA's key is ECDSA) and which
// signs the answers. The key is sealed under the KEK in Postgres, shared by
// every certfleet process. A new RA is made once the newest has less than
// RenewBefore left; older ones still decrypt until they expire, for clients
// holding on to the certificate they fetched.
type RAs struct {
	Pool   *pgxpool.Pool
	KEK    *kek.KEK
	Issuer RAIssuer
	// Validity of a new RA certificate (default a year) and how long before
	// its end the next is made (default 30 days).
	Validity, RenewBefore time.Duration

	mu       sync.Mutex
	cached   []ra
	loadedAt time.Time
}

// ra is one RA: its certificate and key.
type ra struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

// raKeyBits: RSA 2048, what every SCEP client can encrypt to.
const raKeyBits = 2048

// reloadEvery bounds how long a process keeps using its RAs before looking
// for one another process made.
const reloadEvery = 10 * time.Minute

// Current returns the usable RAs, the newest (the one to answer with) first,
// making a new one when none is left or the newest nears its end.
func (r *RAs) Current(ctx context.Context) ([]ra, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if len(r.cached) > 0 && now.Sub(r.loadedAt) < reloadEvery && r.fresh(r.cached[0], now) {
		return r.cached, nil
	}
	ras, err := r.load(ctx)
	if err != nil {
		return nil, err
	}
	if len(ras) == 0 || !r.fresh(ras[0], now) {
		made, err := r.create(ctx)
		if err != nil {
			return nil, err
		}
		ras = append([]ra{made}, ras...)
	}
	r.cached, r.loadedAt = ras, now
	return ras, nil
}

func (r *RAs) fresh(a ra, now time.Time) bool {
	renewBefore := r.RenewBefore
	if renewBefore == 0 {
		renewBefore = 30 * 24 * time.Hour
	}
	return now.Add(renewBefore).Before(a.cert.NotAfter)
}

// load reads and opens the unexpired RAs, the newest first.
func (r *RAs) load(ctx context.Context) ([]ra, error) {
	rows, err := store.New(r.Pool).UsableSCEPRAs(ctx)
	if err != nil {
		return nil, fmt.Errorf("read SCEP RAs: %w", err)
	}
	ras := make([]ra, 0, len(rows))
	for _, row := range rows {
		a, err := r.open(row)
		if err != nil {
			return nil, err
		}
		ras = append(ras, a)
	}
	return ras, nil
}

func (r *RAs) open(row store.ScepRa) (ra, error) {
	cert, err := x509.ParseCertificate(row.CertDer)
	if err != nil {
		return ra{}, fmt.Errorf("SCEP RA %d: certificate: %w", row.ID, err)
	}
	der, err := r.KEK.Open(row.KeySealed, sealContext(cert))
	if err != nil {
		return ra{}, fmt.Errorf("SCEP RA %d: %w", row.ID, err)
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	rsaKey, ok := key.(*rsa.PrivateKey)
	if err != nil || !ok {
		return ra{}, fmt.Errorf("SCEP RA %d: the sealed key is no RSA key (%v)", row.ID, err)
	}
	return ra{cert: cert, key: rsaKey}, nil
}

// create makes a new RA and stores it, its key sealed.
func (r *RAs) create(ctx context.Context) (ra, error) {
	key, err := pki.GenerateKey(pki.KeySpec{Algorithm: "rsa", Size: raKeyBits})
	if err != nil {
		return ra{}, err
	}
	validity := r.Validity
	if validity == 0 {
		validity = 365 * 24 * time.Hour
	}
	cert, err := r.Issuer.IssueRA(key.Public(), validity)
	if err != nil {
		return ra{}, err
	}
	der, err := pki.MarshalPrivateKey(key)
	if err != nil {
		return ra{}, err
	}
	sealed, err := r.KEK.Seal(der, sealContext(cert))
	if err != nil {
		return ra{}, err
	}
	if _, err := store.New(r.Pool).CreateSCEPRA(ctx, store.CreateSCEPRAParams{CertDer: cert.Raw, KeySealed: sealed, NotAfter: cert.NotAfter}); err != nil {
		return ra{}, fmt.Errorf("store the SCEP RA: %w", err)
	}
	return ra{cert: cert, key: key.(*rsa.PrivateKey)}, nil
}

// sealContext binds a sealed RA key to its certificate.
func sealContext(cert *x509.Certificate) string {
	return "scep-ra/" + hex.EncodeToString(cert.SubjectKeyId)
}
