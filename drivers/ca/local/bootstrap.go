package local

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/pki/kek"
)

const (
	rootValidity    = 20 * 365 * 24 * time.Hour
	issuingValidity = 10 * 365 * 24 * time.Hour
)

// create makes a root and an issuing intermediate and stores them, keys sealed.
// If another process stored one first, that one wins and is returned.
func create(ctx context.Context, q *store.Queries, keys *kek.KEK, opts Options) (store.LocalCa, error) {
	rootKey, root, err := newCA(opts, "Root CA", nil, nil, rootValidity)
	if err != nil {
		return store.LocalCa{}, err
	}
	issuingKey, issuing, err := newCA(opts, "Issuing CA", root, rootKey, issuingValidity)
	if err != nil {
		return store.LocalCa{}, err
	}
	rootSealed, err := seal(keys, rootKey, keyContext(opts.Name, "root"))
	if err != nil {
		return store.LocalCa{}, err
	}
	issuingSealed, err := seal(keys, issuingKey, keyContext(opts.Name, "issuing"))
	if err != nil {
		return store.LocalCa{}, err
	}
	row, err := q.CreateLocalCA(ctx, store.CreateLocalCAParams{
		Name: opts.Name, KeySpec: opts.KeySpec.String(),
		RootDer: root.Raw, RootKeySealed: rootSealed,
		IssuingDer: issuing.Raw, IssuingKeySealed: issuingSealed, IssuingSki: issuing.SubjectKeyId,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return q.GetLocalCA(ctx, opts.Name)
	}
	if err == nil {
		opts.Logger.Info("created built-in CA", "name", opts.Name, "key", opts.KeySpec.String(),
			"root", root.Subject.String(), "issuing", issuing.Subject.String())
	}
	return row, err
}

// newCA makes a CA certificate: self-signed when parent is nil (the root, which
// may sign one level of intermediates), else signed by parent (the issuing CA,
// which may sign only leaves).
func newCA(opts Options, role string, parent *x509.Certificate, parentKey crypto.Signer, validity time.Duration) (crypto.Signer, *x509.Certificate, error) {
	key, err := pki.GenerateKey(opts.KeySpec)
	if err != nil {
		return nil, nil, err
	}
	serial, err := pki.NewSerial()
	if err != nil {
		return nil, nil, err
	}
	ski, err := pki.SubjectKeyID(key.Public())
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"certfleet"}, CommonName: fmt.Sprintf("certfleet %s (%s)", role, opts.Name)},
		NotBefore:             now.Add(-pki.Backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
		SubjectKeyId:          ski,
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		tmpl.MaxPathLen, tmpl.MaxPathLenZero = 0, true
		signer, signerKey = parent, parentKey
		if tmpl.NotAfter.After(parent.NotAfter) {
			tmpl.NotAfter = parent.NotAfter
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, key.Public(), signerKey)
	if err != nil {
		return nil, nil, fmt.Errorf("sign %s certificate: %w", role, err)
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, err
}

func seal(keys *kek.KEK, key crypto.Signer, context string) ([]byte, error) {
	der, err := pki.MarshalPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return keys.Seal(der, context)
}

// ServersCA names the issuing CA of certfleet's own TLS servers (EST, and
// SCEP over HTTPS): a sibling of the default issuing CA under the default
// root, so that devices that trust the root trust the servers, while no
// profile may issue from it.
const ServersCA = "servers"

// Servers is the servers' issuing CA, made under the default CA's root the
// first time it is asked for.
func (s *Set) Servers(ctx context.Context) (*CA, error) {
	if c, err := s.Named(ctx, ServersCA); err == nil {
		return c, nil
	}
	def := s.Default()
	row, rootKey, err := s.rootKey(ctx, def.opts.Name)
	if err != nil {
		return nil, err
	}
	opts := s.opts
	opts.Name = ServersCA
	key, issuing, err := newCA(opts, "Server Issuing CA", def.root, rootKey, issuingValidity)
	if err != nil {
		return nil, err
	}
	// The root key is sealed again under this CA's name, so that renewing
	// it (Renew) opens it as it opens any CA's.
	rootSealed, err := seal(s.keys, rootKey, keyContext(ServersCA, "root"))
	if err != nil {
		return nil, err
	}
	issuingSealed, err := seal(s.keys, key, keyContext(ServersCA, "issuing"))
	if err != nil {
		return nil, err
	}
	_, err = store.New(s.pool).CreateLocalCA(ctx, store.CreateLocalCAParams{
		Name: ServersCA, KeySpec: row.KeySpec, RootDer: def.root.Raw, RootKeySealed: rootSealed,
		IssuingDer: issuing.Raw, IssuingKeySealed: issuingSealed, IssuingSki: issuing.SubjectKeyId,
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) { // no row: another process made it first
		return nil, fmt.Errorf("store the servers' CA: %w", err)
	}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	return s.Named(ctx, ServersCA)
}
