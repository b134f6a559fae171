// Package kek protects private keys at rest: AES-256-GCM under a 32-byte
// key-encryption key (KEK) that lives outside the database, in the
// CERTFLEET_KEK environment variable or in a key file.
package kek

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrWrongKey is a sealed secret that does not open under this KEK: it was
// sealed under another key, or it was changed.
var ErrWrongKey = errors.New("wrong key-encryption key or tampered data")

// KEK seals and opens secrets. The zero value is unusable; use Load or New.
type KEK struct{ aead cipher.AEAD }

// New returns a KEK for a 32-byte key.
func New(key []byte) (*KEK, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("key-encryption key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &KEK{aead: aead}, nil
}

// Load returns the KEK given as base64 in encoded, or else the one in the file
// at path, which it creates (mode 0600, folder 0700) with a new random key the
// first time. A key file readable by others is refused.
func Load(encoded, path string) (*KEK, error) {
	if encoded != "" {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
		if err != nil {
			return nil, errors.New("CERTFLEET_KEK is not valid base64")
		}
		return New(key)
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return create(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	if info, err := os.Stat(path); err == nil && info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %o; it must not be readable by others (chmod 600)", path, info.Mode().Perm())
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("key file %s is not valid base64", path)
	}
	return New(key)
}

func create(path string) (*KEK, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create key file folder: %w", err)
	}
	// O_EXCL: if another process created the file first, use its key instead.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return Load("", path)
	}
	if err != nil {
		return nil, fmt.Errorf("create key file: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		return nil, fmt.Errorf("write key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("write key file: %w", err)
	}
	return New(key)
}

// Seal encrypts plaintext. The context (e.g. "local-ca/default/issuing") is
// bound to the ciphertext, so a sealed blob moved to another row fails to open.
func (k *KEK) Seal(plaintext []byte, context string) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return k.aead.Seal(nonce, nonce, plaintext, []byte(context)), nil
}

// Open decrypts what Seal produced under the same context.
func (k *KEK) Open(sealed []byte, context string) ([]byte, error) {
	if len(sealed) < k.aead.NonceSize() {
		return nil, errors.New("sealed data is too short")
	}
	nonce, ciphertext := sealed[:k.aead.NonceSize()], sealed[k.aead.NonceSize():]
	plaintext, err := k.aead.Open(nil, nonce, ciphertext, []byte(context))
	if err != nil {
		return nil, fmt.Errorf("open sealed key %s: %w", context, ErrWrongKey)
	}
	return plaintext, nil
}
