package local_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/internal/testenv"
)

// TestServersCA: certfleet's own TLS servers get their certificates from an
// issuing CA of their own under the default root, made once, which devices
// trusting that root accept and which no profile may issue from.
func TestServersCA(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	keys := testenv.KEK(t)
	set, err := local.OpenSet(ctx, pool, keys, local.Options{})
	require.NoError(t, err)
	servers, err := set.Servers(ctx)
	require.NoError(t, err)
	defaultIssuing, root := set.Default().Certificates()
	serversIssuing, serversRoot := servers.Certificates()
	assert.True(t, serversRoot.Equal(root), "under the default root")
	assert.False(t, serversIssuing.Equal(defaultIssuing), "not the devices' issuing CA")

	tlsCert, err := servers.ServerCertificate([]string{"est.example", "127.0.0.1"}, time.Hour)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(tlsCert.Certificate[0])
	require.NoError(t, err)
	roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	intermediates.AddCert(serversIssuing)
	_, err = leaf.Verify(x509.VerifyOptions{DNSName: "est.example", Roots: roots, Intermediates: intermediates})
	assert.NoError(t, err, "devices that trust the root trust the server")

	other, err := local.OpenSet(ctx, pool, keys, local.Options{})
	require.NoError(t, err)
	again, err := other.Servers(ctx)
	require.NoError(t, err)
	again2, _ := again.Certificates()
	assert.True(t, again2.Equal(serversIssuing), "made once; another process finds it")

	_, err = set.ForSettings(ctx, json.RawMessage(`{"ca":"servers"}`))
	requireInvalid(t, err, "ca_settings")

	_, err = set.Renew(ctx, local.ServersCA, time.Hour, nil)
	assert.NoError(t, err, "the servers' CA renews like any other: its root key is sealed under its name")
}
