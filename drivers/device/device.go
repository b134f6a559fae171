// Package device is the contract between certfleet and devices: ask a device
// for a CSR (its private key is generated on the device and never leaves it),
// install a certificate chain on it, and read back what it holds.
package device

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/url"
	"regexp"

	"github.com/certfleet/certfleet/credentials/secret"
	"github.com/certfleet/certfleet/drivers"
	"github.com/certfleet/certfleet/pki"
)

// Driver reaches one kind of device.
type Driver interface {
	// GenerateCSR has the device make a new key pair for req.CertType and return
	// a DER CSR for it. The key waits on the device until Install.
	GenerateCSR(ctx context.Context, dev Device, req pki.CSRRequest) ([]byte, error)
	// Install puts chain (leaf first) in place of the device's certificate of
	// certType, paired with the key of the last CSR for that type.
	Install(ctx context.Context, dev Device, certType string, chain []*x509.Certificate) error
	// Current returns the certificate the device holds for certType, or nil.
	Current(ctx context.Context, dev Device, certType string) (*x509.Certificate, error)
}

// Device is what a driver needs to reach one device.
type Device struct {
	ID string
	// Address is the device's base URL, e.g. https://10.0.4.17:9443, or
	// https://sim:9443/devices/cam-00042 on the simulated fleet.
	Address string
	// Credential is opened from the credential store for this call only; it
	// never enters workflow history.
	Credential secret.Secret
	// TLSPin is the SHA-256 of the device's TLS certificate (for the ssh
	// driver, of its host key); nil until the first contact pins it.
	TLSPin []byte
	// Settings are the driver's own per-device settings (JSON), checked by
	// the driver's SettingsChecker when the device is saved.
	Settings json.RawMessage
	// Uses say, by certificate type, what the device uses the certificate
	// for and which CA certificates it must trust for that use, as the
	// profiles assigned to it say. A type without an entry has its default
	// use (DefaultBinding) and no extra trust.
	Uses map[string]Use
}

// Use is what a device uses a certificate for.
type Use struct {
	// Binding is the service the certificate is bound to: BindingHTTPS,
	// BindingIEEE8021X or BindingMQTT.
	Binding string
	// Trust are CA certificates the device must trust for this use, beyond
	// the issuing chain: the RADIUS server's CA for 802.1X, the broker's for
	// MQTT. Drivers that can install CA certificates install them.
	Trust []*x509.Certificate
}

// Bindings of a certificate on a device.
const (
	BindingHTTPS     = "https"     // the device's web server (TLS server)
	BindingIEEE8021X = "ieee8021x" // network access (EAP-TLS supplicant)
	BindingMQTT      = "mqtt"      // the device's MQTT client
)

// UseOf is how dev uses its certificate of certType: its profile's use, or
// the type's default binding with no extra trust.
func (dev Device) UseOf(certType string) Use {
	if u, ok := dev.Uses[certType]; ok && u.Binding != "" {
		return u
	}
	return Use{Binding: DefaultBinding(certType), Trust: dev.Uses[certType].Trust}
}

// DefaultBinding is the binding of a certificate type when its profile names
// none: HTTPS for TLS certificates, 802.1X for 802.1X ones.
func DefaultBinding(certType string) string {
	if certType == pki.CertTypeIEEE8021X {
		return BindingIEEE8021X
	}
	return BindingHTTPS
}

// Bindings lists the bindings a certificate of certType may have.
func Bindings(certType string) []string {
	if certType == pki.CertTypeIEEE8021X {
		return []string{BindingIEEE8021X}
	}
	return []string{BindingHTTPS, BindingMQTT}
}

// SettingsChecker is a driver with per-device settings: it checks them
// before a device record holds them, so that a job never meets bad ones.
type SettingsChecker interface {
	CheckSettings(settings json.RawMessage) error
}

// AddressChecker is a driver whose device addresses are not https URLs.
type AddressChecker interface {
	CheckAddress(address string) error
}

// HTTPSAddress checks the address of a device reached over HTTPS: its base URL.
type HTTPSAddress struct{}

// CheckAddress wants https://host[:port][/path].
func (HTTPSAddress) CheckAddress(address string) error {
	if u, err := url.Parse(address); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return errors.New("want https://host[:port][/path]")
	}
	return nil
}

// Device errors are classified as all driver errors are (see package drivers).
var (
	Transient   = drivers.Transient
	Permanent   = drivers.Permanent
	IsPermanent = drivers.IsPermanent
)

// idPattern is the devices table's rule for device IDs: safe in workflow IDs and URLs.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// ValidID reports whether id may name a device.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// SelfEnrolling is the driver of devices that fetch their own certificates
// over EST: certfleet cannot reach them, so certificate jobs refuse them.
const SelfEnrolling = "est"
