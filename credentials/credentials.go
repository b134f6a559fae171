// Package credentials is the credential store: the secrets certfleet presents
// to devices and to outside CAs (passwords, bearer tokens, SSH keys, TLS client
// keys, and master secrets from which per-device credentials are derived),
// sealed under the key-encryption key. A secret is opened only in the activity
// or driver that sends it, never returned by the API, logged, or put in
// workflow history; only its fingerprint is shown.
package credentials

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/ssh"

	"github.com/certfleet/certfleet/credentials/secret"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/pki/kek"
)

// The kinds and the opened secret are package secret's, which drivers share.
type (
	Kind   = secret.Kind
	Secret = secret.Secret
)

const (
	Password    = secret.Password
	Bearer      = secret.Bearer
	Derived     = secret.Derived
	SSHKey      = secret.SSHKey
	SSHPassword = secret.SSHPassword
	TLSClient   = secret.TLSClient
)

// needsUsername reports whether a kind is incomplete without a username.
func needsUsername(k Kind) bool { return k == Password || k == SSHPassword }

// Spec is a credential as an admin creates it.
type Spec struct {
	Name             string
	Kind             Kind
	Username         string
	Secret           string
	AllowedAddresses []string
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// maxSecret bounds a secret; an RSA-4096 key with its chain fits many times.
const maxSecret = 64 << 10

// Check validates a spec without storing it.
func (s Spec) Check() error {
	if !namePattern.MatchString(s.Name) {
		return errkind.Invalid("name", "1 to 128 of A-Z a-z 0-9 . _ : -, starting with a letter or digit")
	}
	if !slices.Contains(secret.Kinds, s.Kind) {
		return errkind.Invalid("kind", "%q is not one of %v", s.Kind, secret.Kinds)
	}
	if needsUsername(s.Kind) != (s.Username != "") && s.Kind != SSHKey {
		if needsUsername(s.Kind) {
			return errkind.Invalid("username", "a %s credential needs a username", s.Kind)
		}
		return errkind.Invalid("username", "a %s credential has no username", s.Kind)
	}
	if len(s.Username) > 200 {
		return errkind.Invalid("username", "at most 200 characters")
	}
	if err := checkSecret(s.Kind, s.Secret); err != nil {
		return err
	}
	return CheckAddressPatterns(s.AllowedAddresses)
}

// checkSecret refuses a secret its kind cannot use, so that a typo shows
// when the credential is stored rather than at the first job.
func checkSecret(kind Kind, value string) error {
	if value == "" || len(value) > maxSecret {
		return errkind.Invalid("secret", "1 to %d bytes", maxSecret)
	}
	switch kind {
	case SSHKey:
		if _, err := ssh.ParsePrivateKey([]byte(value)); err != nil {
			return errkind.Invalid("secret", "not an unencrypted SSH private key (OpenSSH or PEM)")
		}
	case TLSClient:
		if _, err := tls.X509KeyPair([]byte(value), []byte(value)); err != nil {
			return errkind.Invalid("secret", "want the PEM certificate chain and its private key in one text")
		}
	case Derived:
		if len(value) < 16 {
			return errkind.Invalid("secret", "a master secret needs at least 16 characters")
		}
	}
	return nil
}

// CheckAddressPatterns validates glob patterns of device addresses.
func CheckAddressPatterns(patterns []string) error {
	for i, p := range patterns {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			return errkind.Invalid("allowed_addresses["+strconv.Itoa(i)+"]", "%q is not a glob pattern", p)
		}
	}
	return nil
}

// AddressAllowed reports whether a credential restricted to patterns may be
// sent to address. No patterns: the credential has no restriction of its own,
// and only an admin may bind it (see the API).
func AddressAllowed(patterns []string, address string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, address); ok {
			return true
		}
	}
	return false
}

// Store seals and opens credentials.
type Store struct {
	Pool *pgxpool.Pool
	KEK  *kek.KEK
}

// sealContext binds a sealed secret to its row, so a blob copied to another
// credential fails to open.
func sealContext(id int64) string { return "credential/" + strconv.FormatInt(id, 10) }

// Fingerprint tells secrets apart without revealing them.
func Fingerprint(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:8])
}

// Create stores a new credential through q, so the caller's transaction
// holds it and its audit row together.
func (s *Store) Create(ctx context.Context, q *store.Queries, spec Spec, createdBy string) (store.Credential, error) {
	if err := spec.Check(); err != nil {
		return store.Credential{}, err
	}
	id, err := q.NextCredentialID(ctx)
	if err != nil {
		return store.Credential{}, fmt.Errorf("new credential ID: %w", err)
	}
	sealed, err := s.KEK.Seal([]byte(spec.Secret), sealContext(id))
	if err != nil {
		return store.Credential{}, fmt.Errorf("seal credential %s: %w", spec.Name, err)
	}
	return q.InsertCredential(ctx, store.InsertCredentialParams{
		ID: id, Name: spec.Name, Kind: string(spec.Kind), Username: spec.Username, SecretSealed: sealed,
		Fingerprint: Fingerprint(spec.Secret), AllowedAddresses: nonNil(spec.AllowedAddresses), CreatedBy: createdBy,
	})
}

// Rotate replaces a credential's secret.
func (s *Store) Rotate(ctx context.Context, q *store.Queries, row store.Credential, value string) (store.Credential, error) {
	if err := checkSecret(Kind(row.Kind), value); err != nil {
		return store.Credential{}, err
	}
	sealed, err := s.KEK.Seal([]byte(value), sealContext(row.ID))
	if err != nil {
		return store.Credential{}, fmt.Errorf("seal credential %s: %w", row.Name, err)
	}
	return q.RotateCredential(ctx, store.RotateCredentialParams{ID: row.ID, SecretSealed: sealed, Fingerprint: Fingerprint(value)})
}

// ErrAddressNotAllowed is a device address outside its credential's patterns.
var ErrAddressNotAllowed = errors.New("the device's address is not one its credential may be sent to")

// ForDevice opens credential id for one call to a device at address. A
// derived credential yields the device's own secret.
func (s *Store) ForDevice(ctx context.Context, id int64, deviceID, address string) (Secret, error) {
	row, err := store.New(s.Pool).OpenCredential(ctx, id)
	if err != nil {
		return Secret{}, fmt.Errorf("read credential %d of device %s: %w", id, deviceID, err)
	}
	if !AddressAllowed(row.AllowedAddresses, address) {
		return Secret{}, fmt.Errorf("credential %s, device %s at %s: %w", row.Name, deviceID, address, ErrAddressNotAllowed)
	}
	opened, err := s.open(row.ID, row.Name, row.Kind, row.Username, row.SecretSealed)
	if err != nil || opened.Kind != Derived {
		return opened, err
	}
	return Secret{Kind: Bearer, Value: secret.Derive(opened.Value, deviceID)}, nil
}

// ByName opens a credential for a CA driver's settings.
func (s *Store) ByName(ctx context.Context, name string) (Secret, error) {
	row, err := store.New(s.Pool).GetCredentialByName(ctx, name)
	if errors.Is(err, pgx.ErrNoRows) {
		return Secret{}, fmt.Errorf("credential %q does not exist", name)
	}
	if err != nil {
		return Secret{}, fmt.Errorf("read credential %s: %w", name, err)
	}
	return s.open(row.ID, row.Name, row.Kind, row.Username, row.SecretSealed)
}

func (s *Store) open(id int64, name, kind, username string, sealed []byte) (Secret, error) {
	plain, err := s.KEK.Open(sealed, sealContext(id))
	if err != nil {
		return Secret{}, fmt.Errorf("credential %s: %w", name, err)
	}
	return Secret{Kind: Kind(kind), Username: username, Value: string(plain)}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
