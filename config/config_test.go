package config

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestDefaultsWorkLocally(t *testing.T) {
	cfg, err := Load("all", nil, env(nil), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "postgres://postgres@127.0.0.1:5432/certfleet?sslmode=disable", cfg.DatabaseURL)
	assert.Equal(t, "127.0.0.1:7233", cfg.TemporalAddress)
	assert.Equal(t, "default", cfg.TemporalNamespace)
	assert.Equal(t, ":8080", cfg.APIAddr)
	assert.Equal(t, slog.LevelInfo, cfg.LogLevel)
	assert.Equal(t, 20*time.Second, cfg.ShutdownTimeout)
}

func TestFlagBeatsEnvironmentBeatsDefault(t *testing.T) {
	vars := map[string]string{"TEMPORAL_ADDRESS": "temporal:7233", "CERTFLEET_API_ADDR": ":9000", "CERTFLEET_LOG_LEVEL": "debug"}
	cfg, err := Load("all", []string{"-api-addr", "127.0.0.1:9100"}, env(vars), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "temporal:7233", cfg.TemporalAddress, "environment over default")
	assert.Equal(t, "127.0.0.1:9100", cfg.APIAddr, "flag over environment")
	assert.Equal(t, slog.LevelDebug, cfg.LogLevel)
}

func TestInvalidSettingsAreNamed(t *testing.T) {
	cases := map[string][]string{
		"database-url":                     {"-database-url", "mysql://x"},
		"temporal-address":                 {"-temporal-address", "no-port"},
		"api-addr":                         {"-api-addr", "8080"},
		"log-level":                        {"-log-level", "loud"},
		"log-format":                       {"-log-format", "xml"},
		"shutdown-timeout":                 {"-shutdown-timeout", "-1s"},
		"job-horizon":                      {"-job-horizon", "a year"},
		"task-queue":                       {"-task-queue", ""},
		"unexpected":                       {"extra-arg"},
		"worker-pollers":                   {"-worker-pollers", "-1"},
		"task-queue-activities-per-second": {"-task-queue-activities-per-second", "fast"},
		"webhook-backoff":                  {"-webhook-backoff", "2h"},
		"smtp-from":                        {"-smtp-from", "not an address"},
		"otlp-endpoint":                    {"-otlp-endpoint", "collector:4318"},
		"grafana-url":                      {"-grafana-url", "grafana"},
	}
	for field, args := range cases {
		t.Run(field, func(t *testing.T) {
			_, err := Load("all", args, env(nil), io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), strings.Split(field, "-")[0])
		})
	}
}

// TestWorkerSettings: the worker's bounds are read as given; zeros leave the
// SDK's defaults.
func TestWorkerSettings(t *testing.T) {
	cfg, err := Load("worker", []string{"-worker-activities", "200", "-worker-pollers", "8", "-task-queue-activities-per-second", "50.5"}, env(nil), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, Worker{Activities: 200, Pollers: 8, TaskQueueActivitiesPerSecond: 50.5}, cfg.Worker)
}

func TestEverySettingHasAnEnvironmentVariable(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Settings {
		assert.Regexp(t, `^(DATABASE_URL|TEMPORAL_[A-Z_]+|CERTFLEET_[A-Z_]+)$`, s.Env)
		assert.False(t, seen[s.Env], "duplicate %s", s.Env)
		seen[s.Env] = true
	}
}

// TestREADMEListsEverySetting keeps the README's configuration table honest.
func TestREADMEListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	for _, s := range Settings {
		row := fmt.Sprintf("| `%s` | `-%s` | `%s` |", s.Env, s.Flag, s.Default)
		if s.Default == "" {
			row = fmt.Sprintf("| `%s` | `-%s` | (none) |", s.Env, s.Flag)
		}
		assert.True(t, strings.Contains(string(readme), row), "README.md lacks the row %s", row)
	}
}

func TestHelpNeverShowsEnvironmentValues(t *testing.T) {
	var help strings.Builder
	_, err := Load("all", []string{"-h"}, env(map[string]string{"CERTFLEET_KEK": "c2VjcmV0LWtleS1tYXRlcmlhbA=="}), &help)
	require.ErrorIs(t, err, flag.ErrHelp)
	assert.Contains(t, help.String(), "CERTFLEET_KEK")
	assert.NotContains(t, help.String(), "c2VjcmV0LWtleS1tYXRlcmlhbA==")
}
