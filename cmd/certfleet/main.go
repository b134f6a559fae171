// Command certfleet is the one certfleet binary: the API, the EST server and the
// Temporal worker, together or apart, plus the commands that set up a cluster.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/certfleet/certfleet/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `certfleet keeps the certificates of device fleets valid.

Usage: certfleet <command> [flags]

Commands:
  all       run the API and the Temporal worker in one process
  serve     run the API only
  worker    run the Temporal worker only
  migrate   create the database if missing, apply migrations, and prepare the
            Temporal namespace and search attributes
  job       create, halt or inspect a certificate job
  token     create (printed once), list or revoke API tokens
  agent     run the device agent of a Linux device or gateway
  devicesim run a simulated fleet of devices for demos, tests and benchmarks
  version   print the version

Run "certfleet <command> -h" for the flags of a command. Every flag can also be
set by an environment variable, shown in its help.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	command, rest := args[0], args[1:]
	var err error
	switch command {
	case "all", "serve", "worker":
		err = withConfig(command, rest, stderr, func(cfg config.Config, logger *slog.Logger) error {
			return serve(ctx, cfg, logger, roles[command])
		})
	case "migrate":
		err = withConfig(command, rest, stderr, func(cfg config.Config, logger *slog.Logger) error {
			return migrate(ctx, cfg, logger)
		})
	case "token":
		err = runToken(ctx, rest, stdout, stderr)
	case "job":
		err = runJob(ctx, rest, stdout, stderr)
	case "agent":
		err = runAgent(ctx, rest, stderr)
	case "devicesim":
		err = runDevicesim(ctx, rest, stderr)
	case "version":
		fmt.Fprintf(stdout, "certfleet %s\n", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "certfleet: unknown command %q\n\n%s", command, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "certfleet %s: %v\n", command, err)
		return 1
	}
}

var errUsage = errors.New("usage error")

func withConfig(command string, args []string, stderr io.Writer, fn func(config.Config, *slog.Logger) error) error {
	cfg, err := config.Load(command, args, os.LookupEnv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		fmt.Fprintf(stderr, "certfleet %s: %v\n", command, err)
		return errUsage
	}
	return fn(cfg, newLogger(cfg, stderr))
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
