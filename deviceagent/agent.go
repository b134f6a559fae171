// Package deviceagent is `certfleet agent`: the agent for Linux devices and
// gateways. It keeps keys and certificates in a directory, one folder per
// certificate type, and installs atomically:
//
//	<dir>/<type>/pending.key   the key of the last CSR, until it is installed
//	<dir>/<type>/gen-<n>/      one installed generation: cert.pem, chain.pem,
//	                           fullchain.pem, key.pem (all 0600)
//	<dir>/<type>/current       symlink to the generation in use
//	<dir>/<type>/previous      symlink to the one before, kept for rollback
//
// Services read <dir>/<type>/current/fullchain.pem and key.pem. An install
// swaps the current link in one rename, runs the reload command, and swaps
// back if the command fails. No private key ever leaves the directory.
package deviceagent

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/certfleet/certfleet/agentproto"
	"github.com/certfleet/certfleet/pki"
)

// Agent is one device's certificate store.
type Agent struct {
	dir           string
	reloadCommand string
	reloadTimeout time.Duration
	logger        *slog.Logger
	mu            sync.Mutex // one CSR or install at a time
}

var _ agentproto.Backend = (*Agent)(nil)

// New opens (creating, mode 0700) the agent's directory. reloadCommand, if
// set, runs with /bin/sh after each install, with CERTFLEET_CERT_TYPE and
// CERTFLEET_CERT_DIR in its environment; a non-zero exit rolls the install back.
func New(dir, reloadCommand string, logger *slog.Logger) (*Agent, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent directory: %w", err)
	}
	return &Agent{dir: dir, reloadCommand: reloadCommand, reloadTimeout: time.Minute, logger: logger}, nil
}

// GenerateCSR makes a new key pair for the certificate type, keeps the key as
// pending and returns the CSR. A second CSR replaces the pending key.
func (a *Agent) GenerateCSR(_ context.Context, _ string, req pki.CSRRequest) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	key, der, err := agentproto.NewKeyAndCSR(req)
	if err != nil {
		return nil, err
	}
	keyDER, err := pki.MarshalPrivateKey(key)
	if err != nil {
		return nil, err
	}
	typeDir := filepath.Join(a.dir, req.CertType)
	if err := os.MkdirAll(typeDir, 0o700); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(typeDir, "pending.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})); err != nil {
		return nil, err
	}
	a.logger.Info("generated key and CSR", "cert_type", req.CertType, "key", req.Key.String())
	return der, nil
}

// Install puts chain in place with the pending key, or changes nothing.
func (a *Agent) Install(ctx context.Context, _ string, certType string, chain, trust []*x509.Certificate) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	typeDir := filepath.Join(a.dir, certType)
	pending, err := readKey(filepath.Join(typeDir, "pending.key"))
	if err != nil {
		return false, err
	}
	if err := agentproto.CheckInstall(chain, pending, time.Now()); err != nil {
		return false, err
	}
	gen, err := a.writeGeneration(typeDir, chain, trust, pending)
	if err != nil {
		return false, err
	}
	previous, _ := os.Readlink(filepath.Join(typeDir, "current"))
	if err := swapLink(typeDir, "current", gen); err != nil {
		_ = os.RemoveAll(filepath.Join(typeDir, gen))
		return false, err
	}
	if err := a.reload(ctx, certType, typeDir); err != nil {
		a.rollBack(typeDir, gen, previous)
		return false, agentproto.Refuse(http.StatusUnprocessableEntity, agentproto.CodeInstallRejected,
			"the reload command failed, the previous certificate is back in place: %v", err)
	}
	if previous != "" {
		_ = swapLink(typeDir, "previous", previous)
	}
	a.prune(typeDir, gen, previous)
	_ = os.Remove(filepath.Join(typeDir, "pending.key"))
	a.logger.Info("installed certificate", "cert_type", certType, "subject", chain[0].Subject.String(),
		"serial", chain[0].SerialNumber.Text(16), "not_after", chain[0].NotAfter)
	return a.reloadCommand != "", nil
}

// Current returns the installed chain of certType, or nil.
func (a *Agent) Current(_ context.Context, _ string, certType string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(filepath.Join(a.dir, certType, "current", "fullchain.pem"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return pki.ParseCertificatesPEM(data)
}

// writeGeneration writes a generation's files; trust.pem, the CA
// certificates the device must trust for this certificate's use, only when
// there are any.
func (a *Agent) writeGeneration(typeDir string, chain, trust []*x509.Certificate, key crypto.Signer) (string, error) {
	gen := fmt.Sprintf("gen-%d", time.Now().UnixNano())
	genDir := filepath.Join(typeDir, gen)
	if err := os.Mkdir(genDir, 0o700); err != nil {
		return "", err
	}
	keyDER, err := pki.MarshalPrivateKey(key)
	if err != nil {
		return "", err
	}
	files := map[string][]byte{
		"cert.pem":      pki.EncodeCertificatesPEM(chain[0]),
		"chain.pem":     pki.EncodeCertificatesPEM(chain[1:]...),
		"fullchain.pem": pki.EncodeCertificatesPEM(chain...),
		"key.pem":       pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	if len(trust) > 0 {
		files["trust.pem"] = pki.EncodeCertificatesPEM(trust...)
	}
	for name, data := range files {
		if err := writeFileAtomic(filepath.Join(genDir, name), data); err != nil {
			_ = os.RemoveAll(genDir)
			return "", err
		}
	}
	return gen, nil
}

func (a *Agent) reload(ctx context.Context, certType, typeDir string) error {
	if a.reloadCommand == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.reloadTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", a.reloadCommand)
	cmd.Env = append(os.Environ(), "CERTFLEET_CERT_TYPE="+certType, "CERTFLEET_CERT_DIR="+filepath.Join(typeDir, "current"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (a *Agent) rollBack(typeDir, gen, previous string) {
	if previous != "" {
		_ = swapLink(typeDir, "current", previous)
	} else {
		_ = os.Remove(filepath.Join(typeDir, "current"))
	}
	_ = os.RemoveAll(filepath.Join(typeDir, gen))
	a.logger.Warn("install rolled back", "type_dir", typeDir, "restored", previous)
}

// prune removes generations other than the current and previous ones.
func (a *Agent) prune(typeDir string, keep ...string) {
	entries, _ := os.ReadDir(typeDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "gen-") && e.Name() != keep[0] && e.Name() != keep[1] {
			_ = os.RemoveAll(filepath.Join(typeDir, e.Name()))
		}
	}
}

// swapLink points dir/name at target in one rename, so that readers see the
// old or the new generation and never a mix.
func swapLink(dir, name, target string) error {
	tmp := filepath.Join(dir, "."+name+".tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

// writeFileAtomic writes data with mode 0600 under a temporary name, syncs it
// and renames it into place.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func readKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s is not PEM", path)
	}
	return pki.ParsePrivateKey(block.Bytes)
}
