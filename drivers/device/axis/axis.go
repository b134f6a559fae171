// Package axis is the device driver of Axis cameras: it renews their
// certificates through VAPIX (package vapixwire; docs/vapix.md lists the
// calls in order). The camera makes the key and the CSR itself
// (create_certificate, get_csr), certfleet replaces the self-signed
// certificate with the issued one, uploads the chain's CA certificates, and
// binds the alias to the use the device's profile gives the type
// (device.Device.UseOf): HTTPS, IEEE 802.1X or the MQTT client, with the
// use's trust CA certificates uploaded and referenced where the service
// validates its peer. It authenticates with HTTP Digest (never Basic) over
// package tlspin's pinned, redirect-refusing client.
//
// Everything certfleet creates on a camera is named certfleet-<certType>-<n>
// (keys with certificates), certfleet-ca-<fingerprint> (CA certificates of
// issuing chains) or certfleet-trust-<fingerprint> (trust CA certificates);
// the driver deletes only unbound certificates of the first kind and
// unreferenced ones of the last, never the camera's own.
package axis

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certfleet/certfleet/credentials/secret"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/drivers/device/tlspin"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/vapixwire"
)

// DriverName is how device records name this driver.
const DriverName = "axis"

// AliasPrefix starts the alias of everything certfleet creates on a camera.
const AliasPrefix = "certfleet-"

// Driver speaks VAPIX to Axis cameras.
//
// A camera serves HTTPS with the certificate bound to HTTPS, so after a TLS
// install it presents another certificate than its pin; the pinned client
// (package tlspin) moves the pin to it, as the inventory holds it as the
// camera's.
type Driver struct {
	client  *tlspin.Client
	timeout time.Duration
}

var _ device.Driver = (*Driver)(nil)

// New returns a driver whose operations time out after timeout each.
func New(pins tlspin.Store, timeout time.Duration) *Driver {
	return &Driver{client: tlspin.New(pins), timeout: timeout}
}

// binding is a service of the camera a certificate can be bound to.
type binding struct {
	key  string // device.Binding…
	name string // for messages
	// read returns the alias bound to the service ("" for none) and the CA
	// certificates its configuration references.
	read func(ctx context.Context, s *session) (bindState, error)
	// bind makes alias the service's certificate, with the issuing chain's
	// CA aliases and, when trust is not nil, the trust CA aliases as the CA
	// certificates that authenticate the peer (nil: the camera's stay). It
	// changes nothing when the camera already has that.
	bind func(ctx context.Context, s *session, alias string, chainCAs, trust []string) error
	// trusts: the service validates a peer, so the use's Trust is uploaded
	// and referenced. maxTrust bounds how many it can reference (0: any).
	trusts   bool
	maxTrust int
}

type bindState struct {
	alias string
	cas   []string
}

var bindings = map[string]binding{
	device.BindingHTTPS:     {key: device.BindingHTTPS, name: "HTTPS", read: readHTTPS, bind: bindHTTPS},
	device.BindingIEEE8021X: {key: device.BindingIEEE8021X, name: "IEEE 802.1X", read: readDot1X, bind: bindDot1X, trusts: true},
	device.BindingMQTT:      {key: device.BindingMQTT, name: "MQTT client", read: readMQTT, bind: bindMQTT, trusts: true, maxTrust: 1},
}

// bindingOrder is the order bindings are read in.
var bindingOrder = []string{device.BindingHTTPS, device.BindingIEEE8021X, device.BindingMQTT}

// useOf is the binding and use of certType on dev; a type or binding the
// driver does not offer, or a binding that does not fit the type, is a
// permanent error.
func useOf(dev device.Device, certType string) (binding, device.Use, error) {
	if certType != pki.CertTypeTLS && certType != pki.CertTypeIEEE8021X {
		return binding{}, device.Use{}, device.Permanent(fmt.Errorf("camera %s: the axis driver binds certificates of type %s (HTTPS or MQTT client) and %s (IEEE 802.1X), not %q",
			dev.ID, pki.CertTypeTLS, pki.CertTypeIEEE8021X, certType))
	}
	u := dev.UseOf(certType)
	b, ok := bindings[u.Binding]
	if !ok || !slices.Contains(device.Bindings(certType), u.Binding) {
		return binding{}, device.Use{}, device.Permanent(fmt.Errorf("camera %s: a certificate of type %s cannot be bound to %q; its bindings are %s",
			dev.ID, certType, u.Binding, strings.Join(device.Bindings(certType), ", ")))
	}
	for _, c := range u.Trust {
		if c == nil {
			return binding{}, device.Use{}, device.Permanent(fmt.Errorf("camera %s: the %s use of %s has an empty trust certificate", dev.ID, u.Binding, certType))
		}
	}
	if b.trusts && b.maxTrust > 0 && len(distinct(u.Trust)) > b.maxTrust {
		return binding{}, device.Use{}, device.Permanent(fmt.Errorf("camera %s: the Axis %s validates its peer with %d CA certificate (ssl.CACertID), the profile's %s use trusts %d",
			dev.ID, b.name, b.maxTrust, u.Binding, len(distinct(u.Trust))))
	}
	return b, u, nil
}

// distinct drops repeated certificates.
func distinct(certs []*x509.Certificate) []*x509.Certificate {
	seen := map[string]bool{}
	var out []*x509.Certificate
	for _, c := range certs {
		if fp := fingerprint(c); !seen[fp] {
			seen[fp] = true
			out = append(out, c)
		}
	}
	return out
}

// open starts an operation: it checks the credential and sets the timeout.
func (d *Driver) open(ctx context.Context, dev device.Device) (*session, context.Context, context.CancelFunc, error) {
	switch {
	case dev.Credential.IsZero():
		return nil, nil, nil, device.Permanent(fmt.Errorf("camera %s has no credential; bind a password credential from the credential store", dev.ID))
	case dev.Credential.Kind != secret.Password:
		return nil, nil, nil, device.Permanent(fmt.Errorf("camera %s: the axis driver needs a %s credential (username and password for HTTP Digest), not %s",
			dev.ID, secret.Password, dev.Credential.Kind))
	case dev.Credential.Username == "" || dev.Credential.Value == "":
		return nil, nil, nil, device.Permanent(fmt.Errorf("camera %s: the password credential needs a username and a password", dev.ID))
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	return &session{d: d, dev: dev, user: dev.Credential.Username, pass: dev.Credential.Value}, ctx, cancel, nil
}

// GenerateCSR has the camera make a key of req.Key with a self-signed
// certificate named certfleet-<certType>-<n>, and returns the CSR of that key.
// Unbound certfleet certificates of the type, left by earlier attempts, are
// deleted first.
func (d *Driver) GenerateCSR(ctx context.Context, dev device.Device, req pki.CSRRequest) ([]byte, error) {
	b, _, err := useOf(dev, req.CertType)
	if err != nil {
		return nil, err
	}
	keyType, ok := vapixwire.KeyType(req.Key)
	if !ok {
		return nil, device.Permanent(fmt.Errorf("camera %s: Axis cameras make RSA 2048/3072/4096 and ECDSA P-256/P-384 keys, not %s", dev.ID, req.Key))
	}
	sans, err := vapixwire.FormatSANs(req.SANs)
	if err != nil {
		return nil, device.Permanent(fmt.Errorf("camera %s: %w", dev.ID, err))
	}
	subject := vapixwire.FormatSubject(req.Subject)
	if subject == "" {
		return nil, device.Permanent(fmt.Errorf("camera %s: Axis cameras need a subject for a new key; the request has none", dev.ID))
	}
	s, ctx, cancel, err := d.open(ctx, dev)
	if err != nil {
		return nil, err
	}
	defer cancel()

	certs, err := s.certificates(ctx)
	if err != nil {
		return nil, err
	}
	inUse, _, err := s.inUse(ctx, b.key)
	if err != nil {
		return nil, err
	}
	prefix := aliasPrefix(req.CertType)
	n := 0
	for _, c := range certs {
		k, ours := serialOf(prefix, c.Alias)
		if !ours {
			continue
		}
		n = max(n, k)
		if !inUse[c.Alias] {
			if err := s.deleteCertificate(ctx, c.Alias); err != nil {
				return nil, err
			}
		}
	}
	alias := prefix + strconv.Itoa(n+1)
	now := time.Now()
	created, _, err := rest[json.RawMessage](ctx, s, "create key "+alias, http.MethodPost, vapixwire.PathCreateCertificate, vapixwire.CreateCertificate{
		Alias: alias, KeyType: keyType, Subject: subject, SubjectAltNames: sans,
		ValidFrom: now.Add(-5 * time.Minute).Unix(), ValidTo: now.AddDate(0, 0, 30).Unix(),
	})
	if err != nil {
		return nil, err
	}
	csrPEM, _, err := rest[string](ctx, s, "get CSR of "+alias, http.MethodPost, vapixwire.PathGetCSR(alias), vapixwire.GetCSR{})
	if err != nil {
		return nil, err
	}
	csr, err := pki.ParseCSR([]byte(csrPEM))
	if err != nil {
		return nil, device.Permanent(fmt.Errorf("camera %s returned a bad CSR for %s: %w", dev.ID, alias, err))
	}
	// When the camera answered create_certificate with the self-signed
	// certificate, the CSR must be for its key.
	var made vapixwire.Certificate
	if json.Unmarshal(created, &made) == nil && made.Certificate != "" {
		if certs, err := pki.ParseCertificatesPEM([]byte(made.Certificate)); err == nil && len(certs) > 0 &&
			!pki.SamePublicKey(certs[0].PublicKey, csr.PublicKey) {
			return nil, device.Permanent(fmt.Errorf("camera %s returned a CSR for another key than %s's", dev.ID, alias))
		}
	}
	return csr.Raw, nil
}

// Install replaces the self-signed certificate of the key the leaf is for
// with the leaf, adds the chain's other certificates as CA certificates, adds
// the use's trust CA certificates, binds the key (and the trust) to the use of
// certType, and deletes the certfleet certificate bound before and the
// certfleet trust CA certificates nothing references any more. A leaf already
// bound is a success: Install may be retried.
func (d *Driver) Install(ctx context.Context, dev device.Device, certType string, chain []*x509.Certificate) error {
	b, u, err := useOf(dev, certType)
	if err != nil {
		return err
	}
	if len(chain) == 0 {
		return device.Permanent(fmt.Errorf("camera %s: install of an empty chain", dev.ID))
	}
	leaf := chain[0]
	s, ctx, cancel, err := d.open(ctx, dev)
	if err != nil {
		return err
	}
	defer cancel()

	certs, err := s.certificates(ctx)
	if err != nil {
		return err
	}
	prefix := aliasPrefix(certType)
	alias := ""
	var onCamera *x509.Certificate
	for _, c := range certs {
		if _, ours := serialOf(prefix, c.Alias); !ours || c.cert == nil {
			continue
		}
		if pki.SamePublicKey(c.cert.PublicKey, leaf.PublicKey) {
			alias, onCamera = c.Alias, c.cert
			break
		}
	}
	if alias == "" {
		return device.Permanent(fmt.Errorf("camera %s holds no %s* key for this certificate; generate a new CSR", dev.ID, prefix))
	}

	caAliases, err := s.addCAs(ctx, chain[1:], "ca")
	if err != nil {
		return err
	}
	var trust []string // nil: the binding's CA certificates stay as the camera has them
	if b.trusts && len(u.Trust) > 0 {
		if trust, err = s.addCAs(ctx, distinct(u.Trust), "trust"); err != nil {
			return err
		}
	}
	if !onCamera.Equal(leaf) {
		_, _, err := rest[json.RawMessage](ctx, s, "replace certificate of "+alias, http.MethodPatch, vapixwire.PathCertificate(alias),
			vapixwire.ReplaceCertificate{Certificate: string(pki.EncodeCertificatesPEM(leaf))})
		if err != nil {
			return err
		}
	}
	before, err := b.read(ctx, s)
	if err != nil {
		return err
	}
	previous := before.alias
	if err := b.bind(ctx, s, alias, caAliases, trust); err != nil {
		return err
	}
	// Delete what certfleet installed before: the previous binding, any
	// issued certfleet certificate of the type left unbound, and the
	// certfleet trust CA certificates no binding references.
	inUse, referenced, err := s.inUse(ctx, b.key)
	if err != nil {
		return err
	}
	inUse[alias] = true
	for _, c := range certs {
		if _, ours := serialOf(prefix, c.Alias); !ours || inUse[c.Alias] {
			continue
		}
		if c.Alias == previous || (c.cert != nil && !selfSigned(c.cert)) {
			if err := s.deleteCertificate(ctx, c.Alias); err != nil {
				return err
			}
		}
	}
	return s.deleteUnreferencedTrust(ctx, referenced)
}

// Current returns the certificate bound to the use of certType, or nil.
func (d *Driver) Current(ctx context.Context, dev device.Device, certType string) (*x509.Certificate, error) {
	b, _, err := useOf(dev, certType)
	if err != nil {
		return nil, err
	}
	s, ctx, cancel, err := d.open(ctx, dev)
	if err != nil {
		return nil, err
	}
	defer cancel()
	st, err := b.read(ctx, s)
	if err != nil || st.alias == "" {
		return nil, err
	}
	alias := st.alias
	c, status, err := rest[vapixwire.Certificate](ctx, s, "read certificate "+alias, http.MethodGet, vapixwire.PathCertificate(alias), nil)
	if status == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	parsed, err := pki.ParseCertificatesPEM([]byte(c.Certificate))
	if err != nil || len(parsed) == 0 {
		return nil, device.Permanent(fmt.Errorf("camera %s: certificate %s is not PEM: %v", dev.ID, alias, err))
	}
	return parsed[0], nil
}

func aliasPrefix(certType string) string { return AliasPrefix + certType + "-" }

// serialOf reads n from prefix+n.
func serialOf(prefix, alias string) (int, bool) {
	rest, ok := strings.CutPrefix(alias, prefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 1 || strconv.Itoa(n) != rest {
		return 0, false
	}
	return n, true
}

func selfSigned(cert *x509.Certificate) bool {
	return string(cert.RawIssuer) == string(cert.RawSubject) && cert.CheckSignatureFrom(cert) == nil
}

// cameraCert is a listed certificate with its parsed leaf (nil if unparsable).
type cameraCert struct {
	Alias string
	cert  *x509.Certificate
}

func (s *session) certificates(ctx context.Context) ([]cameraCert, error) {
	list, _, err := rest[[]vapixwire.Certificate](ctx, s, "list certificates", http.MethodGet, vapixwire.PathCertificates, nil)
	if err != nil {
		return nil, err
	}
	out := make([]cameraCert, 0, len(list))
	for _, c := range list {
		cc := cameraCert{Alias: c.Alias}
		if parsed, err := pki.ParseCertificatesPEM([]byte(c.Certificate)); err == nil && len(parsed) > 0 {
			cc.cert = parsed[0]
		}
		out = append(out, cc)
	}
	return out, nil
}

func (s *session) deleteCertificate(ctx context.Context, alias string) error {
	_, status, err := rest[json.RawMessage](ctx, s, "delete certificate "+alias, http.MethodDelete, vapixwire.PathCertificate(alias), nil)
	if status == http.StatusNotFound {
		return nil // already gone
	}
	return err
}

// addCAs uploads the CA certificates the camera does not hold yet, as
// certfleet-<kind>-<fingerprint>, and returns the aliases of all of them (a
// certificate the camera holds already, under any alias, keeps its alias).
func (s *session) addCAs(ctx context.Context, cas []*x509.Certificate, kind string) ([]string, error) {
	if len(cas) == 0 {
		return nil, nil
	}
	list, _, err := rest[[]vapixwire.CACertificate](ctx, s, "list CA certificates", http.MethodGet, vapixwire.PathCACertificates, nil)
	if err != nil {
		return nil, err
	}
	held := map[string]string{} // SHA-256 of DER → alias
	for _, c := range list {
		if parsed, err := pki.ParseCertificatesPEM([]byte(c.Certificate)); err == nil && len(parsed) > 0 {
			held[fingerprint(parsed[0])] = c.Alias
		}
	}
	var aliases []string
	for _, ca := range cas {
		fp := fingerprint(ca)
		if alias, ok := held[fp]; ok {
			aliases = append(aliases, alias)
			continue
		}
		alias := AliasPrefix + kind + "-" + fp[:16]
		_, _, err := rest[json.RawMessage](ctx, s, "add CA certificate "+alias, http.MethodPost, vapixwire.PathCACertificates,
			vapixwire.CACertificate{Alias: alias, Certificate: string(pki.EncodeCertificatesPEM(ca))})
		if err != nil {
			return nil, err
		}
		held[fp] = alias
		aliases = append(aliases, alias)
	}
	return aliases, nil
}

func fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// inUse reads every binding: the aliases bound and the CA certificates
// referenced. The binding required must be readable; another one the camera
// does not offer (a permanent error: a SOAP fault, no MQTT client API)
// counts as binding and referencing nothing. cas is nil when a binding other
// than one the camera lacks (HTTP 404) could not be read: what it references
// is unknown.
func (s *session) inUse(ctx context.Context, required string) (certs, cas map[string]bool, err error) {
	certs, cas = map[string]bool{}, map[string]bool{}
	partial := false
	for _, key := range bindingOrder {
		st, err := bindings[key].read(ctx, s)
		if err != nil {
			if key != required && device.IsPermanent(err) {
				var status *errStatus
				if !errors.As(err, &status) || status.status != http.StatusNotFound {
					partial = true
				}
				continue
			}
			return nil, nil, err
		}
		if st.alias != "" {
			certs[st.alias] = true
		}
		for _, ca := range st.cas {
			cas[ca] = true
		}
	}
	if partial {
		cas = nil
	}
	return certs, cas, nil
}

// trustPrefix starts the alias of the trust CA certificates certfleet uploads.
const trustPrefix = AliasPrefix + "trust-"

// deleteUnreferencedTrust deletes the certfleet trust CA certificates that no
// binding references. A camera that refuses because something else uses one
// (409) keeps it. Without the references of every binding (nil) nothing is
// deleted: a later install cleans up.
func (s *session) deleteUnreferencedTrust(ctx context.Context, referenced map[string]bool) error {
	if referenced == nil {
		return nil
	}
	list, _, err := rest[[]vapixwire.CACertificate](ctx, s, "list CA certificates", http.MethodGet, vapixwire.PathCACertificates, nil)
	if err != nil {
		return err
	}
	for _, c := range list {
		if !strings.HasPrefix(c.Alias, trustPrefix) || referenced[c.Alias] {
			continue
		}
		_, status, err := rest[json.RawMessage](ctx, s, "delete CA certificate "+c.Alias, http.MethodDelete, vapixwire.PathCACertificate(c.Alias), nil)
		if err != nil && status != http.StatusNotFound && status != http.StatusConflict {
			return err
		}
	}
	return nil
}

func webServerTLS(ctx context.Context, s *session) (*vapixwire.WebServerTlsConfiguration, error) {
	body, err := s.soap(ctx, "read HTTPS configuration", vapixwire.Body{GetWebServerTlsConfiguration: &vapixwire.GetWebServerTlsConfiguration{}})
	if err != nil {
		return nil, err
	}
	if body.GetWebServerTlsConfigurationResponse == nil {
		return nil, device.Permanent(fmt.Errorf("camera %s: read HTTPS configuration: unexpected answer", s.dev.ID))
	}
	return &body.GetWebServerTlsConfigurationResponse.Configuration, nil
}

func readHTTPS(ctx context.Context, s *session) (bindState, error) {
	cfg, err := webServerTLS(ctx, s)
	if err != nil {
		return bindState{}, err
	}
	st := bindState{cas: slices.Concat(cfg.CertificateSet.CACertificates.ID, cfg.CertificateSet.TrustedCertificates.ID)}
	if ids := cfg.CertificateSet.Certificates.ID; len(ids) > 0 {
		st.alias = ids[0]
	}
	return st, nil
}

// bindHTTPS changes the web server's certificate, with the chain's CA
// certificates, and keeps the rest of its TLS configuration (ciphers,
// connection policies). HTTPS validates no peer: there is no trust to bind.
func bindHTTPS(ctx context.Context, s *session, alias string, caAliases, _ []string) error {
	cfg, err := webServerTLS(ctx, s)
	if err != nil {
		return err
	}
	if ids := cfg.CertificateSet.Certificates.ID; len(ids) > 0 && ids[0] == alias {
		return nil
	}
	cfg.CertificateSet.Certificates.ID = []string{alias}
	cfg.CertificateSet.CACertificates.ID = caAliases
	_, err = s.soap(ctx, "bind "+alias+" to HTTPS", vapixwire.Body{SetWebServerTlsConfiguration: &vapixwire.SetWebServerTlsConfiguration{Configuration: *cfg}})
	return err
}

func dot1X(ctx context.Context, s *session) (*vapixwire.Dot1XConfiguration, error) {
	body, err := s.soap(ctx, "read IEEE 802.1X configuration", vapixwire.Body{GetDot1XConfiguration: &vapixwire.GetDot1XConfiguration{Dot1XConfigurationToken: vapixwire.Dot1XWiredToken}})
	if err != nil {
		return nil, err
	}
	if body.GetDot1XConfigurationResponse == nil {
		return nil, device.Permanent(fmt.Errorf("camera %s: read IEEE 802.1X configuration: unexpected answer", s.dev.ID))
	}
	return &body.GetDot1XConfigurationResponse.Dot1XConfiguration, nil
}

func readDot1X(ctx context.Context, s *session) (bindState, error) {
	cfg, err := dot1X(ctx, s)
	if err != nil {
		return bindState{}, err
	}
	return bindState{alias: dot1XCertificate(cfg), cas: cfg.CACertificateID}, nil
}

func dot1XCertificate(cfg *vapixwire.Dot1XConfiguration) string {
	if m := cfg.EAPMethodConfiguration; m != nil && m.TLSConfiguration != nil {
		return m.TLSConfiguration.CertificateID
	}
	return ""
}

// bindDot1X makes the wired 802.1X configuration EAP-TLS with the alias as
// client certificate, keeping its identity. The CA certificates that
// authenticate the network (the RADIUS server's, not the issuing chain) become
// the trust aliases when the use has trust, and stay as they are otherwise.
func bindDot1X(ctx context.Context, s *session, alias string, _, trust []string) error {
	cfg, err := dot1X(ctx, s)
	if err != nil {
		return err
	}
	if cfg.EAPMethod == vapixwire.EAPMethodTLS && dot1XCertificate(cfg) == alias && (trust == nil || sameSet(cfg.CACertificateID, trust)) {
		return nil
	}
	cfg.EAPMethod = vapixwire.EAPMethodTLS
	cfg.EAPMethodConfiguration = &vapixwire.EAPMethodConfiguration{TLSConfiguration: &vapixwire.TLSConfiguration{CertificateID: alias}}
	if trust != nil {
		cfg.CACertificateID = trust
	}
	_, err = s.soap(ctx, "bind "+alias+" to IEEE 802.1X", vapixwire.Body{SetDot1XConfiguration: &vapixwire.SetDot1XConfiguration{Dot1XConfiguration: *cfg}})
	return err
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Compact(slices.Sorted(slices.Values(a))), slices.Compact(slices.Sorted(slices.Values(b))))
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
