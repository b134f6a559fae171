package device_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/drivers/device"
)

func TestResolveCredentialReferences(t *testing.T) {
	env := func(k string) (string, bool) {
		v, ok := map[string]string{"CAM_SECRET": "s3cret", "FLEET": "master"}[k]
		return v, ok
	}
	file := filepath.Join(t.TempDir(), "cred")
	require.NoError(t, os.WriteFile(file, []byte("from-file\nignored\n"), 0o600))

	got, err := device.Resolve("env:CAM_SECRET", "cam-1", env)
	require.NoError(t, err)
	assert.Equal(t, "s3cret", got)
	got, err = device.Resolve("file:"+file, "cam-1", env)
	require.NoError(t, err)
	assert.Equal(t, "from-file", got)

	a, err := device.Resolve("derived:env:FLEET", "cam-1", env)
	require.NoError(t, err)
	b, err := device.Resolve("derived:env:FLEET", "cam-2", env)
	require.NoError(t, err)
	assert.Len(t, a, 32)
	assert.NotEqual(t, a, b, "each device gets its own credential")
	assert.Equal(t, device.DeriveCredential("master", "cam-1"), a)

	for _, ref := range []string{"env:MISSING", "file:/nonexistent", "derived:env:MISSING", "plain-secret", ""} {
		_, err := device.Resolve(ref, "cam-1", env)
		assert.Error(t, err, ref)
	}
}
