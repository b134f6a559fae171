// Package secret is what a driver receives from the credential store: an
// opened secret of a known kind. It has no dependencies, so that device
// drivers, the agent protocol and the simulated fleet can share it without
// importing the store.
package secret

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
)

// Kind says what a secret is and how it is presented.
type Kind string

const (
	Password    Kind = "password"     // HTTP Basic or Digest: username and password
	Bearer      Kind = "bearer"       // a token sent as is
	Derived     Kind = "derived"      // a master secret; each device gets Derive(master, device ID)
	SSHKey      Kind = "ssh_key"      // an OpenSSH or PEM private key, with an optional username
	SSHPassword Kind = "ssh_password" // SSH password authentication
	TLSClient   Kind = "tls_client"   // PEM certificate chain and private key
)

// Kinds lists every kind, in the order the API documents them.
var Kinds = []Kind{Password, Bearer, Derived, SSHKey, SSHPassword, TLSClient}

// Secret is an opened credential, for one call to a device or CA. Its String
// and LogValue never show the value, so a stray %v or log attribute leaks
// nothing.
type Secret struct {
	Kind     Kind
	Username string
	Value    string
}

func (s Secret) String() string   { return "credential(" + string(s.Kind) + ")" }
func (s Secret) GoString() string { return s.String() }

// LogValue keeps the value out of structured logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// IsZero reports whether there is no credential at all.
func (s Secret) IsZero() bool { return s.Kind == "" }

// Derive is a device's credential under a master secret:
// hex(HMAC-SHA256(master, device ID))[:32], as a factory that provisions
// thousands of devices computes it.
func Derive(master, deviceID string) string {
	mac := hmac.New(sha256.New, []byte(master))
	mac.Write([]byte(deviceID))
	return hex.EncodeToString(mac.Sum(nil))[:32]
}
