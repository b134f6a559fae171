// Command certfleetctl is the operators' command line for the daily tasks:
// devices, certificates, jobs, approvals and SCEP challenges. It goes through the operations
// API with CERTFLEET_URL and CERTFLEET_TOKEN, never to the database, so it
// has exactly the rights of its token and every change is audited.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/certfleet/certfleet/apiclient"
)

const usage = `Usage: certfleetctl [-o table|json] <command> [flags] [arguments]

Commands:
  devices list [-type T] [-mode M] [-driver D] [-limit N]
  devices import FILE.csv                 (- reads standard input)
  devices assign -profile ID DEVICE…
  devices inventory DEVICE                (what the device holds now, recorded)
  certs list [-device D] [-status S] [-expiring-before TIME] [-limit N]
  certs expiring [-days 30]
  certs pem ID
  certs revoke ID [-reason 4]
  jobs list [-state active|closed|all]
  jobs create -name NAME [-cert-type tls] (-devices ID,ID,… | -devices-file FILE)
  jobs watch ID                           (a live progress bar until the job ends)
  jobs items ID [-state S]
  jobs halt ID
  jobs retry ID
  approvals list [-status pending|issued|rejected|all]
  approvals approve ID
  approvals reject ID -reason TEXT
  scep challenge [-device ID] [-label L] [-lifetime 1h]   (a one-time SCEP challenge password, shown once)

Environment: CERTFLEET_URL (default http://127.0.0.1:8080), CERTFLEET_TOKEN (required).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// errUsage is a command line that does not parse; usage has been printed.
var errUsage = errors.New("usage")

// cli is one invocation: the client, where output goes, and how.
type cli struct {
	api   *apiclient.Client
	stdin io.Reader
	out   io.Writer
	json  bool
}

// command runs one noun-verb pair with its own arguments.
type command func(ctx context.Context, c *cli, args []string) error

var commands = map[string]command{
	"devices list": devicesList, "devices import": devicesImport, "devices assign": devicesAssign,
	"devices inventory": devicesInventory,
	"certs list":        certsList, "certs expiring": certsExpiring, "certs pem": certsPEM, "certs revoke": certsRevoke,
	"jobs list": jobsList, "jobs create": jobsCreate, "jobs watch": jobsWatch, "jobs items": jobsItems,
	"jobs halt": jobsHalt, "jobs retry": jobsRetry,
	"approvals list": approvalsList, "approvals approve": approvalsDecide(true), "approvals reject": approvalsDecide(false),
	"scep challenge": scepChallenge,
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	global := flag.NewFlagSet("certfleetctl", flag.ContinueOnError)
	global.SetOutput(stderr)
	global.Usage = func() { fmt.Fprint(stderr, usage) }
	format := global.String("o", "table", "output: table or json")
	if err := global.Parse(args); err != nil {
		return 2
	}
	rest := global.Args()
	if len(rest) < 2 || (*format != "table" && *format != "json") {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, ok := commands[rest[0]+" "+rest[1]]
	if !ok {
		fmt.Fprintf(stderr, "certfleetctl: unknown command %q\n\n%s", strings.Join(rest[:2], " "), usage)
		return 2
	}
	base := getenv("CERTFLEET_URL")
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	api, err := apiclient.New(base, getenv("CERTFLEET_TOKEN"))
	if err != nil {
		fmt.Fprintln(stderr, "certfleetctl:", err)
		return 1
	}
	err = cmd(ctx, &cli{api: api, stdin: stdin, out: stdout, json: *format == "json"}, rest[2:])
	switch {
	case errors.Is(err, errUsage):
		fmt.Fprint(stderr, usage)
		return 2
	case err != nil:
		fmt.Fprintln(stderr, "certfleetctl:", err)
		return 1
	}
	return 0
}

// flags parses a command's flags; the first positional arguments must number want.
func flags(name string, args []string, want int, define func(*flag.FlagSet)) ([]string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if define != nil {
		define(fs)
	}
	// Positional arguments may come before the flags: `jobs items 7 -state failed`.
	var positional []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		positional, args = append(positional, args[0]), args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	positional = append(positional, fs.Args()...)
	if want >= 0 && len(positional) != want {
		return nil, errUsage
	}
	return positional, nil
}
