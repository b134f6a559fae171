// Package ssh is the device driver for Linux gateways, routers and embedded
// hosts reached over SSH. The device makes its own key and CSR with its
// openssl, so the key never leaves it; certfleet uploads the chain beside the
// live files, checks it against the pending key, swaps the files, runs the
// recipe's reload command and puts the previous files back if the reload
// fails. Device values reach the device as quoted arguments, never as shell
// text. The host key is pinned on first contact, before the credential is
// sent, and a changed one is refused.
package ssh

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/certfleet/certfleet/credentials/secret"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/drivers/device/tlspin"
	"github.com/certfleet/certfleet/pki"
)

// DriverName is how device records name this driver.
const DriverName = "ssh"

// Driver reaches devices over SSH.
type Driver struct {
	pins    tlspin.Store
	timeout time.Duration
}

var (
	_ device.Driver          = (*Driver)(nil)
	_ device.SettingsChecker = (*Driver)(nil)
)

// New returns a driver that records first host-key pins in pins and gives
// each device call timeout.
func New(pins tlspin.Store, timeout time.Duration) *Driver {
	return &Driver{pins: pins, timeout: timeout}
}

// CheckSettings checks a device's recipes.
func (d *Driver) CheckSettings(raw json.RawMessage) error {
	_, err := ParseSettings(raw)
	return err
}

// CheckAddress checks a device's ssh://host[:port] address.
func (d *Driver) CheckAddress(address string) error {
	_, err := ParseAddress(address)
	return err
}

// errHostKeyChanged is a device presenting another host key than its pin.
var errHostKeyChanged = errors.New("the device's SSH host key does not match its pin; if the device was replaced, re-pin it (DELETE /api/v1/devices/{id}/tls-pin)")

// exitWrite is the install script's status for a file it could not write
// (disk full, permissions) or another install holding the device: worth
// another try. Its other statuses (10: no
// pending key or upload, 11: certificate not for the pending key, 13: reload
// failed and the previous files are back, 14: reload failed and the restored
// files do not match) are refusals.
const exitWrite = 12

// GenerateCSR has the device's openssl make a key beside the live one and
// print a CSR for it.
func (d *Driver) GenerateCSR(ctx context.Context, dev device.Device, req pki.CSRRequest) ([]byte, error) {
	recipe, err := recipeFor(dev, req.CertType)
	if err != nil {
		return nil, err
	}
	args, err := csrArgs(recipe, req)
	if err != nil {
		return nil, device.Permanent(fmt.Errorf("device %s: %w", dev.ID, err))
	}
	conn, err := d.connect(ctx, dev)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	out, err := conn.run(ctx, command("umask 077 && ", args...), nil)
	if err != nil {
		return nil, classify(dev, "make key and CSR", err)
	}
	csr, err := pki.ParseCSR(out)
	if err != nil {
		return nil, device.Permanent(fmt.Errorf("device %s: its openssl printed no CSR: %w", dev.ID, err))
	}
	return csr.Raw, nil
}

func csrArgs(r Recipe, req pki.CSRRequest) ([]string, error) {
	keyArgs, err := newKeyArgs(req.Key)
	if err != nil {
		return nil, err
	}
	subject, err := subjectArg(req.Subject)
	if err != nil {
		return nil, err
	}
	san, err := sanArg(req.SANs)
	if err != nil {
		return nil, err
	}
	args := append([]string{r.OpenSSL, "req", "-new", "-utf8"}, keyArgs...)
	args = append(args, "-nodes", "-keyout", pendingKey(r), "-subj", subject, "-outform", "PEM")
	if san != "" {
		args = append(args, "-addext", san)
	}
	return args, nil
}

func pendingKey(r Recipe) string { return r.KeyPath + ".certfleet-pending" }

// installScript swaps in the uploaded files. Its text is constant; paths and
// the reload command come as arguments ($1…), so nothing a device record
// holds is read as shell. Files are replaced by rename, keeping the owner and
// mode of the file they replace. A lock beside the key keeps a retry from
// overlapping a try still running (a lock older than five minutes is
// stale). Backups left by a try that died mid-swap are put back first,
// unless the live pair they would replace is consistent.
const installScript = `set -u
cert=$1 key=$2 chain=$3 trust=$4 openssl=$5
shift 5
pending="$key.certfleet-pending"
fail() { code=$1; shift; echo "$*" >&2; exit "$code"; }
pub() { "$openssl" x509 -noout -pubkey -in "$1" 2>/dev/null; }
keypub() { "$openssl" pkey -pubout -in "$1" 2>/dev/null; }
consistent() { [ -f "$cert" ] && [ -f "$key" ] && a=$(pub "$cert") && b=$(keypub "$key") && [ "$a" = "$b" ]; }
restore() {
	for f in "$cert" "$key" ${chain:+"$chain"} ${trust:+"$trust"}; do
		if [ -f "$f.certfleet-prev" ]; then mv -f "$f.certfleet-prev" "$f"; else rm -f "$f"; fi
	done
}
# replace LIVE NEW MODE: NEW's content in place of LIVE, with LIVE's owner
# and mode, or MODE for a file that did not exist.
replace() {
	if [ -f "$1" ]; then cp -p "$1" "$1.certfleet-tmp" || return 1
	else : > "$1.certfleet-tmp" && chmod "$3" "$1.certfleet-tmp" || return 1; fi
	cat "$2" > "$1.certfleet-tmp" && mv -f "$1.certfleet-tmp" "$1"
}
# One install at a time: a try that outlived its step may still be running.
lock="$key.certfleet-lock"
if ! mkdir "$lock" 2>/dev/null; then
	since=$(cat "$lock/since" 2>/dev/null || echo 0)
	[ $(( $(date +%s) - since )) -ge 300 ] || fail 12 "another install is running on this device"
fi
date +%s > "$lock/since"
trap 'rm -rf "$lock"' EXIT
if [ -f "$cert.certfleet-prev" ] || [ -f "$key.certfleet-prev" ]; then
	if consistent; then rm -f "$cert.certfleet-prev" "$key.certfleet-prev" ${chain:+"$chain.certfleet-prev"} ${trust:+"$trust.certfleet-prev"}; else restore; fi
fi
[ -f "$cert.certfleet-new" ] && [ -f "$pending" ] || fail 10 "no pending key or no uploaded certificate; a new CSR is needed"
if [ -n "$chain" ]; then [ -f "$chain.certfleet-new" ] || fail 10 "no uploaded chain"; fi
if [ -n "$trust" ]; then [ -f "$trust.certfleet-new" ] || fail 10 "no uploaded trust"; fi
a=$(pub "$cert.certfleet-new") || fail 11 "openssl cannot read the uploaded certificate"
b=$(keypub "$pending") || fail 11 "openssl cannot read the pending key"
[ "$a" = "$b" ] || fail 11 "the uploaded certificate is not for the pending key"
umask 077
backup() {
	if [ -f "$1" ]; then cp -p "$1" "$1.certfleet-prev" || fail 12 "cannot back up $1"
	else rm -f "$1.certfleet-prev"; fi
}
backup "$cert"; backup "$key"; [ -z "$chain" ] || backup "$chain"; [ -z "$trust" ] || backup "$trust"
if ! { replace "$key" "$pending" 600 && replace "$cert" "$cert.certfleet-new" 644 &&
	{ [ -z "$chain" ] || replace "$chain" "$chain.certfleet-new" 644; } &&
	{ [ -z "$trust" ] || replace "$trust" "$trust.certfleet-new" 644; }; }; then
	restore; fail 12 "cannot put the new files in place; the previous ones are back"
fi
rm -f "$cert.certfleet-new" ${chain:+"$chain.certfleet-new"} ${trust:+"$trust.certfleet-new"}
# The reload is bounded so that it ends within the step's one-minute try.
bounded() { if command -v timeout >/dev/null 2>&1; then timeout 30 "$@"; else "$@"; fi; }
if [ $# -gt 0 ] && ! out=$(bounded "$@" 2>&1); then
	had_previous=false; [ -f "$cert.certfleet-prev" ] && had_previous=true
	restore
	bounded "$@" >/dev/null 2>&1
	if $had_previous && ! consistent; then fail 14 "reload failed, and the restored certificate and key do not match: $out"; fi
	fail 13 "reload failed, previous certificate and key restored: $out"
fi
rm -f "$pending" "$cert.certfleet-prev" "$key.certfleet-prev" ${chain:+"$chain.certfleet-prev"} ${trust:+"$trust.certfleet-prev"}
`

// Install uploads chain beside the live files and swaps it in.
func (d *Driver) Install(ctx context.Context, dev device.Device, certType string, chain []*x509.Certificate) error {
	recipe, err := recipeFor(dev, certType)
	if err != nil {
		return err
	}
	conn, err := d.connect(ctx, dev)
	if err != nil {
		return err
	}
	defer conn.Close()
	uploads := map[string][]byte{recipe.CertPath: pki.EncodeCertificatesPEM(chain...)}
	if recipe.ChainPath != "" {
		uploads[recipe.CertPath] = pki.EncodeCertificatesPEM(chain[0])
		uploads[recipe.ChainPath] = pki.EncodeCertificatesPEM(chain[1:]...)
	}
	trustPath := ""
	if trust := dev.UseOf(certType).Trust; len(trust) > 0 {
		if recipe.TrustPath == "" {
			return device.Permanent(fmt.Errorf("device %s: its profile asks it to trust %d CA certificates, and its %s recipe has no trust_path to write them to", dev.ID, len(trust), certType))
		}
		trustPath = recipe.TrustPath
		uploads[trustPath] = pki.EncodeCertificatesPEM(trust...)
	}
	for _, path := range []string{recipe.CertPath, recipe.ChainPath, trustPath} {
		if data, ok := uploads[path]; ok {
			if _, err := conn.run(ctx, command("umask 022 && cat > ", path+".certfleet-new"), data); err != nil {
				return classify(dev, "upload "+path, err)
			}
		}
	}
	args := append([]string{"sh", "-c", installScript, "certfleet-install", recipe.CertPath, recipe.KeyPath, recipe.ChainPath, trustPath, recipe.OpenSSL}, recipe.Reload...)
	if _, err := conn.run(ctx, command("", args...), nil); err != nil {
		return classify(dev, "install", err)
	}
	return nil
}

// Current reads the live certificate file; nil when there is none.
func (d *Driver) Current(ctx context.Context, dev device.Device, certType string) (*x509.Certificate, error) {
	recipe, err := recipeFor(dev, certType)
	if err != nil {
		return nil, err
	}
	conn, err := d.connect(ctx, dev)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	out, err := conn.run(ctx, command("", "sh", "-c", `[ ! -f "$1" ] || cat "$1"`, "certfleet-current", recipe.CertPath), nil)
	if err != nil {
		return nil, classify(dev, "read "+recipe.CertPath, err)
	}
	if len(bytes.TrimSpace(out)) == 0 {
		return nil, nil
	}
	certs, err := pki.ParseCertificatesPEM(out)
	if err != nil {
		return nil, device.Permanent(fmt.Errorf("device %s: %s holds no certificate: %w", dev.ID, recipe.CertPath, err))
	}
	return certs[0], nil
}

func recipeFor(dev device.Device, certType string) (Recipe, error) {
	settings, err := ParseSettings(dev.Settings)
	if err != nil {
		return Recipe{}, device.Permanent(fmt.Errorf("device %s: %w", dev.ID, err))
	}
	recipe, ok := settings.Recipes[certType]
	if !ok {
		return Recipe{}, device.Permanent(fmt.Errorf("device %s has no recipe for %s certificates", dev.ID, certType))
	}
	return recipe, nil
}

// classify sorts a remote command's failure: the install script's refusals
// and any other non-zero exit are permanent, except a write failure; a lost
// connection is transient.
func classify(dev device.Device, what string, err error) error {
	err = fmt.Errorf("device %s: %s: %w", dev.ID, what, err)
	var exit *gossh.ExitError
	if errors.As(err, &exit) && exit.ExitStatus() != exitWrite {
		return device.Permanent(err)
	}
	return device.Transient(err)
}

// conn is one SSH connection to a device.
type conn struct {
	client *gossh.Client
	device string
}

func (c *conn) Close() error { return c.client.Close() }

// run runs cmd with stdin and returns its output; a failure carries the
// command's standard error, cut short.
func (c *conn) run(ctx context.Context, cmd string, stdin []byte) ([]byte, error) {
	session, err := c.client.NewSession()
	if err != nil {
		return nil, err
	}
	defer session.Close()
	var stdout, stderr limitedBuffer
	stdout.limit, stderr.limit = 1<<20, 2<<10
	session.Stdout, session.Stderr = &stdout, &stderr
	if stdin != nil {
		session.Stdin = bytes.NewReader(stdin)
	}
	done := make(chan error, 1)
	go func() { done <- session.Run(cmd) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		c.client.Close()
		return nil, ctx.Err()
	}
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("%w: %s", err, msg)
		}
		return nil, err
	}
	return stdout.Bytes(), nil
}

// connect dials the device, checks its host key against the pin (pinning the
// key of a device seen the first time), and logs in with its credential.
func (d *Driver) connect(ctx context.Context, dev device.Device) (*conn, error) {
	addr, err := ParseAddress(dev.Address)
	if err != nil {
		return nil, device.Permanent(fmt.Errorf("device %s address: %w", dev.ID, err))
	}
	config, err := clientConfig(dev)
	if err != nil {
		return nil, device.Permanent(fmt.Errorf("device %s: %w", dev.ID, err))
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	config.HostKeyCallback = func(_ string, _ net.Addr, key gossh.PublicKey) error {
		sum := sha256.Sum256(key.Marshal())
		if dev.TLSPin != nil {
			if subtle.ConstantTimeCompare(sum[:], dev.TLSPin) != 1 {
				return errHostKeyChanged
			}
			return nil
		}
		// A first contact pins the key before the credential is sent, as
		// ssh's accept-new does; a device another contact pinned meanwhile
		// must show that key.
		if err := d.pins.SavePin(ctx, dev.ID, sum[:]); err != nil {
			if errors.Is(err, tlspin.ErrMismatch) {
				return errHostKeyChanged
			}
			return fmt.Errorf("pin host key: %w", err)
		}
		return nil
	}
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, device.Transient(fmt.Errorf("device %s unreachable: %w", dev.ID, err))
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(deadline)
	}
	sshConn, chans, reqs, err := gossh.NewClientConn(raw, addr, config)
	if err != nil {
		raw.Close()
		return nil, handshakeError(dev, err)
	}
	_ = raw.SetDeadline(time.Time{})
	return &conn{client: gossh.NewClient(sshConn, chans, reqs), device: dev.ID}, nil
}

func handshakeError(dev device.Device, err error) error {
	switch {
	case errors.Is(err, errHostKeyChanged):
		return device.Permanent(fmt.Errorf("device %s: %w", dev.ID, errHostKeyChanged))
	case strings.Contains(err.Error(), "unable to authenticate"):
		return device.Permanent(fmt.Errorf("device %s refused its credential: %w", dev.ID, err))
	}
	return device.Transient(fmt.Errorf("device %s: SSH handshake: %w", dev.ID, err))
}

// clientConfig logs in with the device's key or password credential; the
// username defaults to root.
func clientConfig(dev device.Device) (*gossh.ClientConfig, error) {
	cred := dev.Credential
	user := cred.Username
	if user == "" {
		user = "root"
	}
	config := &gossh.ClientConfig{User: user}
	switch cred.Kind {
	case secret.SSHKey:
		signer, err := gossh.ParsePrivateKey([]byte(cred.Value))
		if err != nil {
			return nil, errors.New("its ssh_key credential holds no usable unencrypted private key")
		}
		config.Auth = []gossh.AuthMethod{gossh.PublicKeys(signer)}
	case secret.SSHPassword:
		password := cred.Value
		config.Auth = []gossh.AuthMethod{
			gossh.Password(password),
			gossh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = password
				}
				return answers, nil
			}),
		}
	case "":
		return nil, errors.New("no credential; bind an ssh_key or ssh_password credential from the credential store")
	default:
		return nil, fmt.Errorf("the ssh driver logs in with an ssh_key or ssh_password credential, not %s", cred.Kind)
	}
	return config, nil
}

// limitedBuffer keeps the first limit bytes written to it.
type limitedBuffer struct {
	bytes.Buffer
	limit int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.limit - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
