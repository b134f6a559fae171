// Package axis is the device driver of Axis cameras: it renews their
// certificates through VAPIX (package vapixwire; docs/vapix.md lists the
// calls in order). The camera makes the key and the CSR itself
// (create_certificate, get_csr), certfleet replaces the self-signed
// certificate with the issued one, uploads the chain's CA certificates, and
// binds the alias to HTTPS or IEEE 802.1X. It authenticates with HTTP Digest
// (never Basic) over package tlspin's pinned, redirect-refusing client.
//
// Everything certfleet creates on a camera is named certfleet-<certType>-<n>
// (keys with certificates) or certfleet-ca-<fingerprint> (CA certificates);
// the driver deletes only unbound certificates of the first kind, never the
// camera's own.
package axis

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
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

// use is how a certificate type is bound on a camera.
type use struct {
	name  string
	bound func(ctx context.Context, s *session) (string, error)
	bind  func(ctx context.Context, s *session, alias string, caAliases []string) error
}

var uses = map[string]use{
	pki.CertTypeTLS:       {name: "HTTPS", bound: boundHTTPS, bind: bindHTTPS},
	pki.CertTypeIEEE8021X: {name: "IEEE 802.1X", bound: boundDot1X, bind: bindDot1X},
}

func useOf(devID, certType string) (use, error) {
	u, ok := uses[certType]
	if !ok {
		return use{}, device.Permanent(fmt.Errorf("camera %s: the axis driver binds certificates of type %s (HTTPS) and %s (IEEE 802.1X), not %q",
			devID, pki.CertTypeTLS, pki.CertTypeIEEE8021X, certType))
	}
	return u, nil
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
	if _, err := useOf(dev.ID, req.CertType); err != nil {
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
	inUse, err := s.boundAliases(ctx, req.CertType)
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
// with the leaf, adds the chain's other certificates as CA certificates, binds
// the key to the use of certType, and deletes the certfleet certificate bound
// before. A leaf already bound is a success: Install may be retried.
func (d *Driver) Install(ctx context.Context, dev device.Device, certType string, chain []*x509.Certificate) error {
	u, err := useOf(dev.ID, certType)
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

	caAliases, err := s.addCAs(ctx, chain[1:])
	if err != nil {
		return err
	}
	if !onCamera.Equal(leaf) {
		_, _, err := rest[json.RawMessage](ctx, s, "replace certificate of "+alias, http.MethodPatch, vapixwire.PathCertificate(alias),
			vapixwire.ReplaceCertificate{Certificate: string(pki.EncodeCertificatesPEM(leaf))})
		if err != nil {
			return err
		}
	}
	previous, err := u.bound(ctx, s)
	if err != nil {
		return err
	}
	if previous != alias {
		if err := u.bind(ctx, s, alias, caAliases); err != nil {
			return err
		}
	}
	// Delete what certfleet installed before: the previous binding, and any
	// issued certfleet certificate of the type left unbound.
	inUse, err := s.boundAliases(ctx, certType)
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
	return nil
}

// Current returns the certificate bound to the use of certType, or nil.
func (d *Driver) Current(ctx context.Context, dev device.Device, certType string) (*x509.Certificate, error) {
	u, err := useOf(dev.ID, certType)
	if err != nil {
		return nil, err
	}
	s, ctx, cancel, err := d.open(ctx, dev)
	if err != nil {
		return nil, err
	}
	defer cancel()
	alias, err := u.bound(ctx, s)
	if err != nil || alias == "" {
		return nil, err
	}
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

// addCAs uploads the CA certificates the camera does not hold yet and returns
// the aliases of all of them.
func (s *session) addCAs(ctx context.Context, cas []*x509.Certificate) ([]string, error) {
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
		alias := AliasPrefix + "ca-" + fp[:16]
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

// boundAliases are the aliases bound to any use. The use of certType must be
// readable; another use the camera does not offer (a SOAP fault) counts as
// binding nothing.
func (s *session) boundAliases(ctx context.Context, certType string) (map[string]bool, error) {
	bound := map[string]bool{}
	for t, u := range uses {
		alias, err := u.bound(ctx, s)
		if err != nil {
			if t != certType && device.IsPermanent(err) {
				continue
			}
			return nil, err
		}
		if alias != "" {
			bound[alias] = true
		}
	}
	return bound, nil
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

func boundHTTPS(ctx context.Context, s *session) (string, error) {
	cfg, err := webServerTLS(ctx, s)
	if err != nil {
		return "", err
	}
	if ids := cfg.CertificateSet.Certificates.ID; len(ids) > 0 {
		return ids[0], nil
	}
	return "", nil
}

// bindHTTPS changes the web server's certificate and keeps the rest of its
// TLS configuration (ciphers, connection policies).
func bindHTTPS(ctx context.Context, s *session, alias string, caAliases []string) error {
	cfg, err := webServerTLS(ctx, s)
	if err != nil {
		return err
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

func boundDot1X(ctx context.Context, s *session) (string, error) {
	cfg, err := dot1X(ctx, s)
	if err != nil {
		return "", err
	}
	if m := cfg.EAPMethodConfiguration; m != nil && m.TLSConfiguration != nil {
		return m.TLSConfiguration.CertificateID, nil
	}
	return "", nil
}

// bindDot1X makes the wired 802.1X configuration EAP-TLS with the alias as
// client certificate, keeping its identity and the CA certificates that
// authenticate the network (which are the network's, not the issuing chain).
func bindDot1X(ctx context.Context, s *session, alias string, _ []string) error {
	cfg, err := dot1X(ctx, s)
	if err != nil {
		return err
	}
	cfg.EAPMethod = vapixwire.EAPMethodTLS
	cfg.EAPMethodConfiguration = &vapixwire.EAPMethodConfiguration{TLSConfiguration: &vapixwire.TLSConfiguration{CertificateID: alias}}
	_, err = s.soap(ctx, "bind "+alias+" to IEEE 802.1X", vapixwire.Body{SetDot1XConfiguration: &vapixwire.SetDot1XConfiguration{Dot1XConfiguration: *cfg}})
	return err
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
