// Package config reads certfleet's settings from flags and environment variables.
//
// Precedence is flag, then environment variable, then a default that works on a
// developer machine, so `certfleet all` with no arguments runs against a local
// Postgres and a local Temporal dev server.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certfleet/certfleet/pki"
)

// Config is the process configuration shared by every subcommand.
type Config struct {
	DatabaseURL       string
	TemporalAddress   string
	TemporalNamespace string
	TaskQueue         string
	APIAddr           string
	PublicURL         string
	// TemporalUIURL is where the console links workflow runs.
	TemporalUIURL   string
	KEK             string
	KEKFile         string
	CAKey           pki.KeySpec
	LogLevel        slog.Level
	LogFormat       string
	ShutdownTimeout time.Duration
	EST             EST
	// GrafanaURL is the dashboard the console links to, if any.
	GrafanaURL string
	// PprofAddr serves Go's profiles (net/http/pprof) when set.
	PprofAddr string
	// MetricsAddr serves Prometheus metrics at /metrics when set.
	MetricsAddr string
	// WebhookAttempts and WebhookBackoff say how hard a webhook delivery is
	// tried: at most that many POSTs, the first retry after WebhookBackoff,
	// each next one twice as late, up to an hour.
	WebhookAttempts int32
	WebhookBackoff  time.Duration
	// OTLPEndpoint receives traces over OTLP/HTTP when set.
	OTLPEndpoint string
	// Worker bounds what the Temporal worker runs at once.
	Worker Worker
	// SMTP sends the events of mailto: webhooks.
	SMTP SMTP
	// FleetMetricsEvery is how often the fleet's state is read from Postgres
	// for the metrics.
	FleetMetricsEvery time.Duration
	// APITLS, when set, makes the operations API serve HTTPS only.
	APITLS TLSFiles
	// TemporalTLS secures the connection to the Temporal frontend.
	TemporalTLS TemporalTLS
	// JobHorizon is how far ahead a job may be scheduled to start.
	JobHorizon time.Duration
	// OCSPValidity is how long an OCSP answer holds.
	OCSPValidity time.Duration
	// CARenewBefore and CAOverlap time the built-in CAs' rollovers.
	CARenewBefore, CAOverlap time.Duration
}

// TLSFiles is a certificate chain and its private key, in PEM files.
type TLSFiles struct {
	Cert, Key string
}

// Set reports whether a certificate is configured.
func (f TLSFiles) Set() bool { return f.Cert != "" }

// TemporalTLS is how certfleet reaches Temporal over TLS. Production clusters,
// Temporal Cloud among them, accept nothing else, and most want a client
// certificate (mTLS).
type TemporalTLS struct {
	// Enabled is set by TEMPORAL_TLS=true or by any other Temporal TLS setting.
	Enabled bool
	// Client is the client certificate for mTLS; empty: none is presented.
	Client TLSFiles
	// CA is a PEM bundle that verifies the frontend; empty: the system's roots.
	CA string
	// ServerName is the name the frontend's certificate must carry; empty: the
	// host of the Temporal address.
	ServerName string
}

// EST configures the EST server.
type EST struct {
	// Addr is where it listens; empty turns it off.
	Addr string
	// Hosts are the SANs of its TLS certificate, issued by the servers CA.
	Hosts []string
	// Wait is how long a request waits for the CA before it gets 202.
	Wait time.Duration
	// RateLimit is requests per second per client address; 0 turns it off.
	RateLimit float64
	// SCEPAddr is where SCEP is served over plain HTTP, beside /scep on the
	// EST listener; empty turns it off. SCEP protects its messages itself,
	// and many SCEP clients cannot check a TLS certificate before they have
	// the CA.
	SCEPAddr string
}

// Setting describes one configuration value: its flag, its environment variable,
// its default and what it means. The README's configuration table lists the same.
type Setting struct {
	Flag    string
	Env     string
	Default string
	Usage   string
}

// Settings is every setting certfleet reads, in the order the README shows them.
var Settings = []Setting{
	{"database-url", "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/certfleet?sslmode=disable", "Postgres connection URL"},
	{"temporal-address", "TEMPORAL_ADDRESS", "127.0.0.1:7233", "Temporal frontend host:port"},
	{"temporal-namespace", "TEMPORAL_NAMESPACE", "default", "Temporal namespace"},
	{"temporal-tls", "TEMPORAL_TLS", "false", "connect to Temporal over TLS; implied by any other temporal-tls-* setting"},
	{"temporal-tls-cert", "TEMPORAL_TLS_CERT", "", "client certificate (PEM, with its chain) for mTLS to Temporal; needs temporal-tls-key"},
	{"temporal-tls-key", "TEMPORAL_TLS_KEY", "", "private key (PEM) of temporal-tls-cert"},
	{"temporal-tls-ca", "TEMPORAL_TLS_CA", "", "CA bundle (PEM) that verifies the Temporal frontend; empty: the system's roots"},
	{"temporal-tls-server-name", "TEMPORAL_TLS_SERVER_NAME", "", "name the Temporal frontend's certificate must carry; empty: the host of temporal-address"},
	{"task-queue", "CERTFLEET_TASK_QUEUE", "certfleet", "Temporal task queue of the certfleet worker"},
	{"api-addr", "CERTFLEET_API_ADDR", ":8080", "listen address of the operations API"},
	{"api-tls-cert", "CERTFLEET_API_TLS_CERT", "", "certificate (PEM, with its chain) of the operations API; when set the API serves HTTPS only, TLS 1.2 or later"},
	{"api-tls-key", "CERTFLEET_API_TLS_KEY", "", "private key (PEM) of api-tls-cert"},
	{"public-url", "CERTFLEET_PUBLIC_URL", "http://localhost:8080", "base URL of the API as devices reach it; CRL distribution points use it"},
	{"temporal-ui-url", "CERTFLEET_TEMPORAL_UI_URL", "http://localhost:8233", "base URL of the Temporal UI, where the console links each job's and device's run"},
	{"grafana-url", "CERTFLEET_GRAFANA_URL", "", "address of certfleet's Grafana dashboard (deploy/grafana/certfleet.json as imported), which the console's dashboard links to; empty: no link"},
	{"kek", "CERTFLEET_KEK", "", "key-encryption key for CA private keys: 32 bytes, base64; overrides the key file"},
	{"kek-file", "CERTFLEET_KEK_FILE", ".data/certfleet.kek", "key-encryption key file, created (mode 0600) on first start when CERTFLEET_KEK is unset"},
	{"ca-key", "CERTFLEET_CA_KEY", "ecdsa-p256", "key type of the built-in CA when first created: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072 or rsa-4096"},
	{"log-level", "CERTFLEET_LOG_LEVEL", "info", "log level: debug, info, warn or error"},
	{"log-format", "CERTFLEET_LOG_FORMAT", "text", "log format: text or json"},
	{"shutdown-timeout", "CERTFLEET_SHUTDOWN_TIMEOUT", "20s", "how long to drain requests and activities on shutdown"},
	{"est-addr", "CERTFLEET_EST_ADDR", ":8443", "listen address of the EST server (HTTPS); empty turns it off"},
	{"est-hosts", "CERTFLEET_EST_HOSTS", "localhost,127.0.0.1", "comma-separated names and IP addresses in the EST server's TLS certificate, which the built-in servers CA issues at start"},
	{"est-wait", "CERTFLEET_EST_WAIT", "5s", "how long an EST request waits for the CA before it is answered 202 with Retry-After"},
	{"est-rate-limit", "CERTFLEET_EST_RATE_LIMIT", "20", "EST requests per second per client address, with bursts of twice that; 0 turns the limit off"},
	{"scep-addr", "CERTFLEET_SCEP_ADDR", ":8081", "listen address of the SCEP server over plain HTTP (SCEP is also served over HTTPS under /scep on the EST listener, with the same limits); empty turns it off"},
	{"metrics-addr", "CERTFLEET_METRICS_ADDR", "127.0.0.1:9464", "listen address of the Prometheus metrics (/metrics), apart from the API and EST ports; empty turns them off"},
	{"fleet-metrics-interval", "CERTFLEET_FLEET_METRICS_INTERVAL", "60s", "how often the fleet's state (certificates, expiries, jobs, CA requests) is read from Postgres for the metrics"},
	{"webhook-attempts", "CERTFLEET_WEBHOOK_ATTEMPTS", "12", "how many times a webhook delivery is tried before it is logged as failed"},
	{"webhook-backoff", "CERTFLEET_WEBHOOK_BACKOFF", "10s", "how long before a webhook delivery's first retry; each next one waits twice as long, up to an hour (12 attempts at 10s span about 3.5 hours)"},
	{"smtp-addr", "CERTFLEET_SMTP_ADDR", "", "host:port of the SMTP server that mails the events of mailto: webhooks (STARTTLS when offered); empty: nothing is mailed"},
	{"smtp-from", "CERTFLEET_SMTP_FROM", "certfleet@localhost", "From address of certfleet's mail"},
	{"smtp-credential", "CERTFLEET_SMTP_CREDENTIAL", "", "password credential (of the credential store) to log in to the SMTP server with (AUTH PLAIN, over TLS or to localhost); empty: no login"},
	{"otlp-endpoint", "CERTFLEET_OTLP_ENDPOINT", "", "OTLP/HTTP endpoint that receives certfleet's traces, e.g. http://otel-collector:4318; empty: no traces"},
	{"worker-activities", "CERTFLEET_WORKER_ACTIVITIES", "0", "activities (and local activities) a worker runs at once; 0: the Temporal SDK's default (1000)"},
	{"worker-workflow-tasks", "CERTFLEET_WORKER_WORKFLOW_TASKS", "0", "workflow tasks a worker runs at once; 0: the SDK's default (1000)"},
	{"worker-pollers", "CERTFLEET_WORKER_POLLERS", "0", "long polls a worker keeps open for each kind of task; 0: the SDK's default (2)"},
	{"worker-activities-per-second", "CERTFLEET_WORKER_ACTIVITIES_PER_SECOND", "0", "activity starts per second of one worker; 0: no limit"},
	{"task-queue-activities-per-second", "CERTFLEET_TASK_QUEUE_ACTIVITIES_PER_SECOND", "0", "activity starts per second of all workers of the task queue together, enforced by the Temporal server; 0: no limit"},
	{"pprof-addr", "CERTFLEET_PPROF_ADDR", "", "listen address of Go's profiling endpoints (/debug/pprof/), e.g. 127.0.0.1:6060; empty turns them off. Never expose it"},
	{"job-horizon", "CERTFLEET_JOB_HORIZON", "8760h", "how far ahead a job's start_at may be (a Go duration); a later one is refused"},
	{"ca-renew-before", "CERTFLEET_CA_RENEW_BEFORE", "8760h", "how long before a built-in issuing CA expires its next CA is made (by a daily Temporal Schedule)"},
	{"ca-overlap", "CERTFLEET_CA_OVERLAP", "168h", "how long a renewed CA's next issuing CA is published before it issues"},
	{"ocsp-validity", "CERTFLEET_OCSP_VALIDITY", "1h", "how long an OCSP answer holds (its nextUpdate); a signed answer is reused for half of it unless the status changes"},
}

// Load parses args (without the subcommand name) with lookupEnv supplying
// environment variables (os.LookupEnv in production); help and flag errors go
// to output.
func Load(name string, args []string, lookupEnv func(string) (string, bool), output io.Writer) (Config, error) {
	cfg, _, err := LoadWith(name, nil, args, lookupEnv, output)
	return cfg, err
}

// LoadWith is Load for a command with settings of its own besides certfleet's;
// their values come back by flag name.
func LoadWith(name string, extra []Setting, args []string, lookupEnv func(string) (string, bool), output io.Writer) (Config, map[string]string, error) {
	values, err := Parse(name, append(slices.Clone(Settings), extra...), args, lookupEnv, output)
	if err != nil {
		return Config{}, nil, err
	}
	cfg, err := fromValues(func(flag string) string { return values[flag] })
	return cfg, values, err
}

// Parse resolves settings from args, then the environment, then defaults,
// and returns each value by flag name. Other commands (the agent, the device
// simulator) parse their own settings with it.
func Parse(name string, settings []Setting, args []string, lookupEnv func(string) (string, bool), output io.Writer) (map[string]string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(output)
	values := make(map[string]*string, len(settings))
	for _, s := range settings {
		// Help shows the static default, never the environment's value, which
		// may be a secret such as CERTFLEET_KEK.
		values[s.Flag] = fs.String(s.Flag, s.Default, fmt.Sprintf("%s (env %s)", s.Usage, s.Env))
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	resolved := make(map[string]string, len(settings))
	for _, s := range settings {
		resolved[s.Flag] = *values[s.Flag]
		if v, ok := lookupEnv(s.Env); ok && v != "" && !given[s.Flag] {
			resolved[s.Flag] = v
		}
	}
	return resolved, nil
}

func fromValues(get func(flag string) string) (Config, error) {
	cfg := Config{
		DatabaseURL:       get("database-url"),
		TemporalAddress:   get("temporal-address"),
		TemporalNamespace: get("temporal-namespace"),
		TaskQueue:         get("task-queue"),
		APIAddr:           get("api-addr"),
		PublicURL:         strings.TrimSuffix(get("public-url"), "/"),
		TemporalUIURL:     strings.TrimSuffix(get("temporal-ui-url"), "/"),
		GrafanaURL:        get("grafana-url"),
		KEK:               get("kek"),
		KEKFile:           get("kek-file"),
		LogFormat:         get("log-format"),
		PprofAddr:         get("pprof-addr"),
		MetricsAddr:       get("metrics-addr"),
		OTLPEndpoint:      get("otlp-endpoint"),
		SMTP:              SMTP{Addr: get("smtp-addr"), From: get("smtp-from"), Credential: get("smtp-credential")},
	}
	var errs []error
	if u, err := url.Parse(cfg.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("public-url: want http(s)://host[:port], got %q", cfg.PublicURL))
	}
	if u, err := url.Parse(cfg.GrafanaURL); cfg.GrafanaURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		errs = append(errs, fmt.Errorf("grafana-url: want http(s)://host/…, got %q", cfg.GrafanaURL))
	}
	if u, err := url.Parse(cfg.OTLPEndpoint); cfg.OTLPEndpoint != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		errs = append(errs, fmt.Errorf("otlp-endpoint: want http(s)://host:port, got %q", cfg.OTLPEndpoint))
	}
	if _, _, err := net.SplitHostPort(cfg.SMTP.Addr); cfg.SMTP.Addr != "" && err != nil {
		errs = append(errs, fmt.Errorf("smtp-addr: want host:port, got %q", cfg.SMTP.Addr))
	}
	if _, err := mail.ParseAddress(cfg.SMTP.From); err != nil {
		errs = append(errs, fmt.Errorf("smtp-from: want an email address, got %q", cfg.SMTP.From))
	}
	if cfg.KEK == "" && cfg.KEKFile == "" {
		errs = append(errs, errors.New("kek-file: must be set when kek is not"))
	}
	caKey, err := pki.ParseKeySpec(get("ca-key"))
	if err != nil {
		errs = append(errs, fmt.Errorf("ca-key: %w", err))
	}
	cfg.CAKey = caKey
	if u, err := url.Parse(cfg.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		errs = append(errs, fmt.Errorf("database-url: want postgres://user@host:port/db, got %q", cfg.DatabaseURL))
	}
	if _, _, err := net.SplitHostPort(cfg.TemporalAddress); err != nil {
		errs = append(errs, fmt.Errorf("temporal-address: %w", err))
	}
	if _, _, err := net.SplitHostPort(cfg.APIAddr); err != nil {
		errs = append(errs, fmt.Errorf("api-addr: %w", err))
	}
	if cfg.TemporalNamespace == "" || cfg.TaskQueue == "" {
		errs = append(errs, errors.New("temporal-namespace and task-queue must not be empty"))
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(get("log-level"))); err != nil {
		errs = append(errs, fmt.Errorf("log-level: %w", err))
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log-format: want text or json, got %q", cfg.LogFormat))
	}
	timeout, err := time.ParseDuration(get("shutdown-timeout"))
	if err != nil || timeout <= 0 {
		errs = append(errs, fmt.Errorf("shutdown-timeout: want a positive duration, got %q", get("shutdown-timeout")))
	}
	cfg.ShutdownTimeout = timeout
	horizon, err := time.ParseDuration(get("job-horizon"))
	if err != nil || horizon <= 0 {
		errs = append(errs, fmt.Errorf("job-horizon: want a positive duration such as 8760h, got %q", get("job-horizon")))
	}
	cfg.JobHorizon = horizon
	var workerErr error
	cfg.Worker, workerErr = workerFromValues(get)
	errs = append(errs, workerErr)
	if attempts, err := strconv.ParseInt(get("webhook-attempts"), 10, 32); err != nil || attempts < 1 || attempts > 100 {
		errs = append(errs, fmt.Errorf("webhook-attempts: want 1 to 100, got %q", get("webhook-attempts")))
	} else {
		cfg.WebhookAttempts = int32(attempts)
	}
	if cfg.WebhookBackoff, err = time.ParseDuration(get("webhook-backoff")); err != nil || cfg.WebhookBackoff < 10*time.Millisecond || cfg.WebhookBackoff > time.Hour {
		errs = append(errs, fmt.Errorf("webhook-backoff: want 10ms to 1h, got %q", get("webhook-backoff")))
	}
	if cfg.FleetMetricsEvery, err = time.ParseDuration(get("fleet-metrics-interval")); err != nil || cfg.FleetMetricsEvery < time.Second {
		errs = append(errs, fmt.Errorf("fleet-metrics-interval: want a duration of a second or more, got %q", get("fleet-metrics-interval")))
	}
	if cfg.CARenewBefore, err = time.ParseDuration(get("ca-renew-before")); err != nil || cfg.CARenewBefore < 0 {
		errs = append(errs, fmt.Errorf("ca-renew-before: want a duration such as 8760h, got %q", get("ca-renew-before")))
	}
	if cfg.CAOverlap, err = time.ParseDuration(get("ca-overlap")); err != nil || cfg.CAOverlap < 0 || cfg.CAOverlap >= cfg.CARenewBefore && cfg.CARenewBefore > 0 {
		errs = append(errs, fmt.Errorf("ca-overlap: want a duration shorter than ca-renew-before, got %q", get("ca-overlap")))
	}
	if cfg.OCSPValidity, err = time.ParseDuration(get("ocsp-validity")); err != nil || cfg.OCSPValidity < time.Minute {
		errs = append(errs, fmt.Errorf("ocsp-validity: want a duration of a minute or more, got %q", get("ocsp-validity")))
	}
	cfg.EST, err = estFromValues(get)
	errs = append(errs, err)
	cfg.APITLS, err = tlsFiles(get, "api-tls-cert", "api-tls-key")
	errs = append(errs, err)
	cfg.TemporalTLS, err = temporalTLSFromValues(get)
	errs = append(errs, err)
	return cfg, errors.Join(errs...)
}

// Worker bounds what the Temporal worker runs at once; zeros leave the
// SDK's defaults.
type Worker struct {
	Activities, WorkflowTasks, Pollers                int
	ActivitiesPerSecond, TaskQueueActivitiesPerSecond float64
}

func workerFromValues(get func(flag string) string) (Worker, error) {
	var w Worker
	var errs []error
	for flag, into := range map[string]*int{"worker-activities": &w.Activities, "worker-workflow-tasks": &w.WorkflowTasks, "worker-pollers": &w.Pollers} {
		n, err := strconv.Atoi(get(flag))
		if err != nil || n < 0 || n > 100000 {
			errs = append(errs, fmt.Errorf("%s: want 0 to 100000, got %q", flag, get(flag)))
		}
		*into = n
	}
	for flag, into := range map[string]*float64{"worker-activities-per-second": &w.ActivitiesPerSecond, "task-queue-activities-per-second": &w.TaskQueueActivitiesPerSecond} {
		r, err := strconv.ParseFloat(get(flag), 64)
		if err != nil || r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
			errs = append(errs, fmt.Errorf("%s: want a rate of 0 or more, got %q", flag, get(flag)))
		}
		*into = r
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return w, errors.Join(errs...)
}

// SMTP is the mail server certfleet sends through.
type SMTP struct {
	Addr, From, Credential string
}

// tlsFiles reads a certificate and key pair of settings: both or neither, since
// one without the other can only be a mistake.
func tlsFiles(get func(flag string) string, certFlag, keyFlag string) (TLSFiles, error) {
	f := TLSFiles{Cert: get(certFlag), Key: get(keyFlag)}
	switch {
	case f.Cert != "" && f.Key == "":
		return TLSFiles{}, fmt.Errorf("%s is set but %s is not: give the certificate's private key too (env %s)", certFlag, keyFlag, envOf(keyFlag))
	case f.Cert == "" && f.Key != "":
		return TLSFiles{}, fmt.Errorf("%s is set but %s is not: give the key's certificate too (env %s)", keyFlag, certFlag, envOf(certFlag))
	}
	return f, nil
}

// envOf is the environment variable of a setting, for error messages.
func envOf(flag string) string {
	for _, s := range Settings {
		if s.Flag == flag {
			return s.Env
		}
	}
	return ""
}

func temporalTLSFromValues(get func(flag string) string) (TemporalTLS, error) {
	on, err := strconv.ParseBool(get("temporal-tls"))
	if err != nil {
		return TemporalTLS{}, fmt.Errorf("temporal-tls: want true or false, got %q", get("temporal-tls"))
	}
	client, err := tlsFiles(get, "temporal-tls-cert", "temporal-tls-key")
	if err != nil {
		return TemporalTLS{}, err
	}
	t := TemporalTLS{Client: client, CA: get("temporal-tls-ca"), ServerName: get("temporal-tls-server-name")}
	// Any TLS setting means TLS: a CA or client certificate sent over a
	// plaintext connection would silently do nothing.
	t.Enabled = on || client.Set() || t.CA != "" || t.ServerName != ""
	return t, nil
}

func estFromValues(get func(flag string) string) (EST, error) {
	est := EST{Addr: get("est-addr"), SCEPAddr: get("scep-addr")}
	var errs []error
	if _, _, err := net.SplitHostPort(est.Addr); est.Addr != "" && err != nil {
		errs = append(errs, fmt.Errorf("est-addr: %w", err))
	}
	if _, _, err := net.SplitHostPort(est.SCEPAddr); est.SCEPAddr != "" && err != nil {
		errs = append(errs, fmt.Errorf("scep-addr: %w", err))
	}
	for _, h := range strings.Split(get("est-hosts"), ",") {
		if h = strings.TrimSpace(h); h != "" {
			est.Hosts = append(est.Hosts, h)
		}
	}
	if len(est.Hosts) == 0 {
		errs = append(errs, errors.New("est-hosts: name at least one host"))
	}
	var err error
	if est.Wait, err = time.ParseDuration(get("est-wait")); err != nil || est.Wait <= 0 {
		errs = append(errs, fmt.Errorf("est-wait: want a positive duration, got %q", get("est-wait")))
	}
	if est.RateLimit, err = strconv.ParseFloat(get("est-rate-limit"), 64); err != nil || est.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("est-rate-limit: want a number of requests per second, 0 or more, got %q", get("est-rate-limit")))
	}
	return est, errors.Join(errs...)
}
