package kek_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/pki/kek"
)

func TestKeyFileIsCreatedPrivateAndReused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets", "certfleet.kek")
	first, err := kek.Load("", path)
	require.NoError(t, err)
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	sealed, err := first.Seal([]byte("private key"), "local-ca/default/issuing")
	require.NoError(t, err)
	assert.False(t, bytes.Contains(sealed, []byte("private key")))

	second, err := kek.Load("", path)
	require.NoError(t, err)
	opened, err := second.Open(sealed, "local-ca/default/issuing")
	require.NoError(t, err)
	assert.Equal(t, "private key", string(opened))

	_, err = second.Open(sealed, "local-ca/default/root")
	assert.Error(t, err, "the context is bound to the ciphertext")
	sealed[len(sealed)-1] ^= 1
	_, err = second.Open(sealed, "local-ca/default/issuing")
	assert.Error(t, err, "tampering is detected")

	require.NoError(t, os.Chmod(path, 0o644))
	_, err = kek.Load("", path)
	assert.ErrorContains(t, err, "chmod 600")
}

func TestKeyFromEnvironment(t *testing.T) {
	_, err := kek.Load("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "/nonexistent")
	require.NoError(t, err)
	_, err = kek.Load("c2hvcnQ=", "")
	assert.ErrorContains(t, err, "32 bytes")
	_, err = kek.Load("not base64!", "")
	assert.ErrorContains(t, err, "base64")
}
