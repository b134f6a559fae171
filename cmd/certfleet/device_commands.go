package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/certfleet/certfleet/agentproto"
	"github.com/certfleet/certfleet/config"
	"github.com/certfleet/certfleet/deviceagent"
	"github.com/certfleet/certfleet/devicesim"
	axissim "github.com/certfleet/certfleet/devicesim/axis"
	onvifsim "github.com/certfleet/certfleet/devicesim/onvif"
)

var agentSettings = []config.Setting{
	{Flag: "listen", Env: "CERTFLEET_AGENT_LISTEN", Default: ":9443", Usage: "listen address of the agent protocol (HTTPS)"},
	{Flag: "dir", Env: "CERTFLEET_AGENT_DIR", Default: "/var/lib/certfleet-agent", Usage: "directory of keys and certificates (created 0700)"},
	{Flag: "credential-file", Env: "CERTFLEET_AGENT_CREDENTIAL_FILE", Default: "", Usage: "file holding the device credential certfleet must present; or set CERTFLEET_AGENT_CREDENTIAL"},
	{Flag: "reload", Env: "CERTFLEET_AGENT_RELOAD", Default: "", Usage: "shell command run after each install; a failure rolls the install back"},
	{Flag: "log-level", Env: "CERTFLEET_LOG_LEVEL", Default: "info", Usage: "log level: debug, info, warn or error"},
}

// runAgent is `certfleet agent`: one Linux device's end of the agent protocol.
func runAgent(ctx context.Context, args []string, stderr io.Writer) error {
	values, err := config.Parse("agent", agentSettings, args, os.LookupEnv, stderr)
	if err != nil {
		return err
	}
	logger, err := commandLogger(values["log-level"], stderr)
	if err != nil {
		return err
	}
	credential, err := agentCredential(values["credential-file"])
	if err != nil {
		return err
	}
	agent, err := deviceagent.New(values["dir"], values["reload"], logger)
	if err != nil {
		return err
	}
	cert, err := agentproto.ServerCertificate(values["dir"]+"/transport", "certfleet-agent")
	if err != nil {
		return fmt.Errorf("agent TLS certificate: %w", err)
	}
	mux := http.NewServeMux()
	agentproto.Register(mux, "", agent, func(_, presented string) bool {
		return subtle.ConstantTimeCompare([]byte(presented), []byte(credential)) == 1
	})
	return serveHTTP(ctx, "agent", values["listen"], mux, serverTLS(cert), 10*time.Second, logger)
}

func agentCredential(file string) (string, error) {
	if env := os.Getenv("CERTFLEET_AGENT_CREDENTIAL"); env != "" {
		return env, nil
	}
	if file == "" {
		return "", errors.New("no device credential: set CERTFLEET_AGENT_CREDENTIAL or -credential-file")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("device credential: %w", err)
	}
	credential := strings.TrimSpace(string(data))
	if len(credential) < 16 {
		return "", errors.New("device credential: at least 16 characters are required")
	}
	return credential, nil
}

var devicesimSettings = []config.Setting{
	{Flag: "listen", Env: "CERTFLEET_DEVICESIM_LISTEN", Default: ":9444", Usage: "listen address of the simulated fleet (HTTPS)"},
	{Flag: "devices", Env: "CERTFLEET_DEVICESIM_DEVICES", Default: "1000", Usage: "number of simulated devices"},
	{Flag: "prefix", Env: "CERTFLEET_DEVICESIM_PREFIX", Default: "sim-", Usage: "device ID prefix: IDs are <prefix>00001, <prefix>00002, …"},
	{Flag: "dir", Env: "CERTFLEET_DEVICESIM_DIR", Default: ".data/devicesim", Usage: "where the fleet keeps its TLS certificate, so its pin survives restarts"},
	{Flag: "log-level", Env: "CERTFLEET_LOG_LEVEL", Default: "info", Usage: "log level: debug, info, warn or error"},
}

// runDevicesim is `certfleet devicesim`: a simulated fleet on one port. Device
// credentials derive from CERTFLEET_DEVICESIM_SECRET (see credentials/secret.Derive).
func runDevicesim(ctx context.Context, args []string, stderr io.Writer) error {
	values, err := config.Parse("devicesim", devicesimSettings, args, os.LookupEnv, stderr)
	if err != nil {
		return err
	}
	logger, err := commandLogger(values["log-level"], stderr)
	if err != nil {
		return err
	}
	count, err := strconv.Atoi(values["devices"])
	if err != nil || count < 1 || count > 1_000_000 {
		return fmt.Errorf("devices: want 1 to 1000000, got %q", values["devices"])
	}
	secret := os.Getenv("CERTFLEET_DEVICESIM_SECRET")
	if len(secret) < 16 {
		return errors.New("CERTFLEET_DEVICESIM_SECRET must hold the fleet's master secret (16 characters or more)")
	}
	cert, err := agentproto.ServerCertificate(values["dir"], "certfleet-devicesim")
	if err != nil {
		return fmt.Errorf("devicesim TLS certificate: %w", err)
	}
	fleet := devicesim.New(count, values["prefix"], secret)
	username, _ := fleet.CameraAccount()
	logger.Info("simulating devices", "count", count, "first", fleet.DeviceID(1), "last", fleet.DeviceID(count),
		"agent", "/devices/{id}", "onvif", onvifsim.DevicePath, "axis", axissim.Prefix, "camera_username", username)
	return serveHTTP(ctx, "device simulator", values["listen"], fleet.Handler(onvifsim.New(), axissim.New()), serverTLS(cert), 10*time.Second, logger)
}

func commandLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
