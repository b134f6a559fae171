package config

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTLSIsOffByDefault(t *testing.T) {
	cfg, err := Load("all", nil, env(nil), io.Discard)
	require.NoError(t, err)
	assert.False(t, cfg.APITLS.Set())
	assert.Equal(t, TemporalTLS{}, cfg.TemporalTLS)
}

func TestAPITLSFromEnvironment(t *testing.T) {
	cfg, err := Load("serve", nil, env(map[string]string{
		"CERTFLEET_API_TLS_CERT": "/etc/certfleet/api.pem", "CERTFLEET_API_TLS_KEY": "/etc/certfleet/api.key",
	}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, TLSFiles{Cert: "/etc/certfleet/api.pem", Key: "/etc/certfleet/api.key"}, cfg.APITLS)
	assert.True(t, cfg.APITLS.Set())
}

// TestTemporalTLSModes: mTLS with a client certificate, TLS verified by a CA
// bundle alone, and TLS against the system's roots from TEMPORAL_TLS=true.
// Any TLS setting turns TLS on: a CA or a server name over plaintext would do
// nothing, silently.
func TestTemporalTLSModes(t *testing.T) {
	cases := map[string]struct {
		vars map[string]string
		args []string
		want TemporalTLS
	}{
		"mTLS": {
			vars: map[string]string{"TEMPORAL_TLS_CERT": "c.pem", "TEMPORAL_TLS_KEY": "c.key", "TEMPORAL_TLS_CA": "ca.pem", "TEMPORAL_TLS_SERVER_NAME": "temporal.internal"},
			want: TemporalTLS{Enabled: true, Client: TLSFiles{Cert: "c.pem", Key: "c.key"}, CA: "ca.pem", ServerName: "temporal.internal"},
		},
		"CA only": {
			vars: map[string]string{"TEMPORAL_TLS_CA": "ca.pem"},
			want: TemporalTLS{Enabled: true, CA: "ca.pem"},
		},
		"server name only": {
			vars: map[string]string{"TEMPORAL_TLS_SERVER_NAME": "ns.tmprl.cloud"},
			want: TemporalTLS{Enabled: true, ServerName: "ns.tmprl.cloud"},
		},
		"flag only, system roots": {
			args: []string{"-temporal-tls=true"},
			want: TemporalTLS{Enabled: true},
		},
		"environment only": {
			vars: map[string]string{"TEMPORAL_TLS": "true"},
			want: TemporalTLS{Enabled: true},
		},
		"explicitly off": {
			vars: map[string]string{"TEMPORAL_TLS": "false"},
			want: TemporalTLS{},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cfg, err := Load("worker", c.args, env(c.vars), io.Discard)
			require.NoError(t, err)
			assert.Equal(t, c.want, cfg.TemporalTLS)
		})
	}
}

// TestTLSPairsAreChecked: a certificate without its key, or a key without
// its certificate, is a configuration error that names both settings.
func TestTLSPairsAreChecked(t *testing.T) {
	cases := []struct {
		vars map[string]string
		want []string
	}{
		{map[string]string{"CERTFLEET_API_TLS_CERT": "api.pem"}, []string{"api-tls-cert is set but api-tls-key is not", "CERTFLEET_API_TLS_KEY"}},
		{map[string]string{"CERTFLEET_API_TLS_KEY": "api.key"}, []string{"api-tls-key is set but api-tls-cert is not", "CERTFLEET_API_TLS_CERT"}},
		{map[string]string{"TEMPORAL_TLS_CERT": "c.pem", "TEMPORAL_TLS_CA": "ca.pem"}, []string{"temporal-tls-cert is set but temporal-tls-key is not", "TEMPORAL_TLS_KEY"}},
		{map[string]string{"TEMPORAL_TLS_KEY": "c.key"}, []string{"temporal-tls-key is set but temporal-tls-cert is not", "TEMPORAL_TLS_CERT"}},
		{map[string]string{"TEMPORAL_TLS": "yes please"}, []string{`temporal-tls: want true or false, got "yes please"`}},
	}
	for _, c := range cases {
		_, err := Load("all", nil, env(c.vars), io.Discard)
		require.Error(t, err, "%v", c.vars)
		for _, want := range c.want {
			assert.Contains(t, err.Error(), want)
		}
	}
}
