package scep_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/scep"
)

// TestRARenewsBeforeItExpires: the RA is made on first use, kept sealed, the
// same for every process on the database, and replaced once it is within
// RenewBefore of its end, while the old one stays usable until it expires.
func TestRARenewsBeforeItExpires(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	ca, keys := testenv.BuiltinCA(t, pool, local.Options{})
	ras := &scep.RAs{Pool: pool, KEK: keys, Issuer: ca, Validity: 48 * time.Hour, RenewBefore: 24 * time.Hour}
	first, firstKey, err := ras.Newest(ctx)
	require.NoError(t, err)
	assert.IsType(t, &rsa.PublicKey{}, first.PublicKey)
	assert.Equal(t, 2048, firstKey.N.BitLen())
	assert.Equal(t, x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment, first.KeyUsage)
	issuing, _ := ca.Certificates()
	assert.True(t, pki.IssuedBy(first, issuing), "issued by the built-in CA")
	var sealed []byte
	require.NoError(t, pool.QueryRow(ctx, `SELECT key_sealed FROM scep_ras`).Scan(&sealed))
	der, err := x509.MarshalPKCS8PrivateKey(firstKey)
	require.NoError(t, err)
	assert.NotContains(t, string(sealed), string(der[len(der)-64:]), "the key is stored sealed")

	other := &scep.RAs{Pool: pool, KEK: keys, Issuer: ca, Validity: 48 * time.Hour, RenewBefore: 24 * time.Hour}
	same, _, err := other.Newest(ctx)
	require.NoError(t, err)
	assert.Equal(t, first.Raw, same.Raw, "another process uses the same RA")

	// Within RenewBefore of its end, a new RA is made; both decrypt.
	renewing := &scep.RAs{Pool: pool, KEK: keys, Issuer: ca, Validity: 96 * time.Hour, RenewBefore: 72 * time.Hour}
	next, _, err := renewing.Newest(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, first.Raw, next.Raw)
	assert.True(t, next.NotAfter.After(first.NotAfter))
	usable, err := renewing.Usable(ctx)
	require.NoError(t, err)
	assert.Len(t, usable, 2, "the old RA still decrypts until it expires")
}
