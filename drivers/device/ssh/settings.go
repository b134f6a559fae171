package ssh

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/certfleet/certfleet/pki"
)

// Settings are an ssh device's own settings (devices.driver_settings).
type Settings struct {
	// Recipes say, per certificate type, where the device keeps its key and
	// certificate and how its service takes a new one.
	Recipes map[string]Recipe `json:"recipes"`
}

// Recipe is how one certificate lives on a device.
type Recipe struct {
	// KeyPath and CertPath are the live files the service reads. CertPath gets
	// the leaf followed by the CA certificates, unless ChainPath is set: then
	// CertPath gets the leaf alone and ChainPath the CA certificates.
	KeyPath   string `json:"key_path"`
	CertPath  string `json:"cert_path"`
	ChainPath string `json:"chain_path,omitempty"`
	// TrustPath gets the CA certificates the profile asks the device to
	// trust (its device_trust: the RADIUS server's CA, say), when it names any.
	TrustPath string `json:"trust_path,omitempty"`
	// Reload is the command, as arguments, that makes the service take the
	// new files; it must fail when the service cannot. Empty: nothing to reload.
	Reload []string `json:"reload,omitempty"`
	// OpenSSL is the openssl command on the device; "openssl" by default.
	OpenSSL string `json:"openssl,omitempty"`
}

// remotePath: absolute, and no character a reader of the recipe could
// mistake (the values are quoted anyway).
var remotePath = regexp.MustCompile(`^/[A-Za-z0-9._/+@-]{1,255}$`)

// ParseSettings reads and checks an ssh device's settings.
func ParseSettings(raw json.RawMessage) (Settings, error) {
	var s Settings
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if len(bytes.TrimSpace(raw)) == 0 {
		return s, errors.New(`the ssh driver needs driver_settings with a recipe, e.g. {"recipes":{"tls":{"key_path":"/etc/ssl/private/device.key","cert_path":"/etc/ssl/certs/device.pem","reload":["systemctl","reload","nginx"]}}}`)
	}
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("driver_settings: %w", err)
	}
	if len(s.Recipes) == 0 {
		return s, errors.New("driver_settings.recipes: name a recipe for at least one certificate type")
	}
	for _, certType := range slices.Sorted(maps.Keys(s.Recipes)) {
		r := s.Recipes[certType]
		if certType != pki.CertTypeTLS && certType != pki.CertTypeIEEE8021X {
			return s, fmt.Errorf("driver_settings.recipes: %q is not a certificate type (want %s or %s)", certType, pki.CertTypeTLS, pki.CertTypeIEEE8021X)
		}
		if err := r.check(); err != nil {
			return s, fmt.Errorf("driver_settings.recipes.%s.%w", certType, err)
		}
		if r.OpenSSL == "" {
			r.OpenSSL = "openssl"
			s.Recipes[certType] = r
		}
	}
	return s, nil
}

func (r Recipe) check() error {
	paths := []struct{ name, value string }{{"key_path", r.KeyPath}, {"cert_path", r.CertPath}, {"chain_path", r.ChainPath}, {"trust_path", r.TrustPath}}
	seen := map[string]bool{}
	for _, p := range paths {
		if p.value == "" && (p.name == "chain_path" || p.name == "trust_path") {
			continue
		}
		if !remotePath.MatchString(p.value) || path.Clean(p.value) != p.value {
			return fmt.Errorf("%s: want a clean absolute path of A-Z a-z 0-9 . _ / + @ -, got %q", p.name, p.value)
		}
		if seen[p.value] {
			return fmt.Errorf("%s: %s is named twice; each file is a different one", p.name, p.value)
		}
		seen[p.value] = true
	}
	if r.OpenSSL != "" && !remotePath.MatchString(r.OpenSSL) && r.OpenSSL != "openssl" {
		return fmt.Errorf("openssl: want \"openssl\" or an absolute path, got %q", r.OpenSSL)
	}
	for _, arg := range r.Reload {
		if arg == "" || len(arg) > 1024 || strings.ContainsAny(arg, "\x00\n\r") {
			return errors.New("reload: each argument 1 to 1024 characters, on one line")
		}
	}
	if len(r.Reload) > 32 {
		return errors.New("reload: at most 32 arguments")
	}
	return nil
}

// ParseAddress reads an ssh device's address, ssh://host[:port], into the
// host:port to dial.
func ParseAddress(address string) (string, error) {
	u, err := url.Parse(address)
	if err != nil || u.Scheme != "ssh" || u.Hostname() == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("want ssh://host[:port] (the username comes from the credential), got %q", address)
	}
	port := u.Port()
	if port == "" {
		port = "22"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port: want 1 to 65535, got %q", port)
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}
