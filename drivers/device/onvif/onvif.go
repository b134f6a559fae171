// Package onvif is the device driver of IP cameras that speak ONVIF: it finds
// the camera's Advanced Security service through the device service
// (GetServices), has the camera make a key pair and a PKCS#10 CSR for it,
// uploads the issued chain as a certification path and assigns it to the
// camera's TLS server (cert type tls) or to an EAP-TLS 802.1X configuration
// of its network interface (cert type ieee8021x), over SOAP 1.2 with a
// WS-Security UsernameToken (password digest) created on the camera's clock
// (GetSystemDateAndTime, asked unauthenticated first), answering an HTTP
// Digest challenge where the camera asks for one, on package tlspin's
// pinned, redirect-refusing client. It honours the device's use of each
// certificate type (device.Use): https and ieee8021x bindings as above, with
// an 802.1X use's Trust installed as the trust anchors of a certification
// path validation policy the 802.1X configuration names; mqtt, and bindings
// that do not fit the type, are refused permanently.
// docs/onvif.md lists the calls in order.
package onvif

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/certfleet/certfleet/credentials/secret"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/drivers/device/tlspin"
	"github.com/certfleet/certfleet/httpdigest"
	"github.com/certfleet/certfleet/onvifwire"
	"github.com/certfleet/certfleet/pki"
)

// DriverName is how device records name this driver.
const DriverName = "onvif"

// aliasPrefix marks the keys, certificates and paths certfleet created: only
// those are ever deleted; a camera's factory ones are left alone.
const aliasPrefix = "certfleet/"

// Driver speaks ONVIF Advanced Security.
type Driver struct {
	client  *tlspin.Client
	timeout time.Duration
	poll    time.Duration // between GetKeyStatus calls
	keyWait time.Duration // how long a key may stay "generating"
	now     func() time.Time
	xaddrs  *serviceCache
}

var _ device.Driver = (*Driver)(nil)

// Option tunes a driver.
type Option func(*Driver)

// WithKeyPoll sets how often the driver asks whether a new key is ready
// (default 1s), and for how long before it gives up with a transient error
// (default 30s: well inside a job step's one-minute try, so that the step
// retries a camera still generating instead of timing out).
func WithKeyPoll(interval, limit time.Duration) Option {
	return func(d *Driver) { d.poll, d.keyWait = interval, limit }
}

// WithServiceCache sets for how long the driver remembers a device's
// Advanced Security address from GetServices (default 5 minutes; 0 asks
// every operation), and for how many devices at most (default 4096).
func WithServiceCache(ttl time.Duration, max int) Option {
	return func(d *Driver) { d.xaddrs = newServiceCache(ttl, max) }
}

// New returns a driver whose calls each time out after timeout.
func New(pins tlspin.Store, timeout time.Duration, opts ...Option) *Driver {
	d := &Driver{client: tlspin.New(pins), timeout: timeout, poll: time.Second, keyWait: 30 * time.Second, now: time.Now,
		xaddrs: newServiceCache(defaultServiceTTL, defaultServiceMax)}
	for _, opt := range opts {
		opt(d)
	}
	return d
}

// caAlias is the alias of the CA certificates certfleet uploads, and of the
// public-key entries the camera makes for them.
const caAlias = aliasPrefix + "ca"

// trustAlias is the alias of the CA certificates certfleet uploads for a
// use's Trust (the RADIUS server's CA for 802.1X), and of their public-key
// entries.
const trustAlias = aliasPrefix + "trust"

// alias is the alias of what certfleet creates for certType.
func alias(certType string) string { return aliasPrefix + certType }

// session is one driver call's view of a camera: where its services are,
// how far its clock is off ours, and its HTTP Digest challenge if it asked.
type session struct {
	d        *Driver
	dev      device.Device
	username string
	password string
	security string        // the Advanced Security service's address
	cacheKey string        // of security in the driver's service cache
	cached   bool          // security came from the cache
	offset   time.Duration // the camera's clock minus ours
	digest   httpdigest.Session
	certType string
	use      device.Use                    // what the certificate is bound to, and the CAs to trust for it
	iface    string                        // the network interface of 802.1X, once looked up
	conf     *onvifwire.Dot1XConfiguration // the interface's 802.1X configuration, once looked up
}

// checkUse refuses a binding the onvif driver cannot make for certType:
// MQTT (the Advanced Security service has no MQTT client certificate), and
// any binding that does not fit the certificate type.
func checkUse(dev device.Device, certType string) (device.Use, error) {
	use := dev.UseOf(certType)
	if use.Binding == device.BindingMQTT {
		return use, device.Permanent(fmt.Errorf("device %s: %s certificate bound to %q: the %s driver cannot bind a certificate to the camera's MQTT client (ONVIF Advanced Security has no MQTT client certificate assignment); bind it to %s",
			dev.ID, certType, use.Binding, DriverName, device.DefaultBinding(certType)))
	}
	for _, b := range device.Bindings(certType) {
		if b == use.Binding {
			return use, nil
		}
	}
	return use, device.Permanent(fmt.Errorf("device %s: the %s driver cannot bind a %s certificate to %q (it binds %s certificates to %s)",
		dev.ID, DriverName, certType, use.Binding, certType, device.DefaultBinding(certType)))
}

func (d *Driver) open(ctx context.Context, dev device.Device, certType string) (*session, error) {
	if certType != pki.CertTypeTLS && certType != pki.CertTypeIEEE8021X {
		return nil, device.Permanent(fmt.Errorf("device %s: the onvif driver installs %s and %s certificates, not %q",
			dev.ID, pki.CertTypeTLS, pki.CertTypeIEEE8021X, certType))
	}
	use, err := checkUse(dev, certType)
	if err != nil {
		return nil, err
	}
	switch {
	case dev.Credential.IsZero():
		return nil, device.Permanent(fmt.Errorf("device %s has no credential; bind a password credential from the credential store", dev.ID))
	case dev.Credential.Kind != secret.Password:
		return nil, device.Permanent(fmt.Errorf("device %s: the onvif driver needs a password credential (username and password), not %s", dev.ID, dev.Credential.Kind))
	case dev.Credential.Username == "":
		return nil, device.Permanent(fmt.Errorf("device %s: the password credential has no username", dev.ID))
	}
	base, err := url.Parse(dev.Address)
	if err != nil || base.Scheme != "https" || base.Host == "" || base.User != nil {
		return nil, device.Permanent(fmt.Errorf("device %s: address %q is not an https URL of the device service", dev.ID, dev.Address))
	}
	s := &session{d: d, dev: dev, certType: certType, use: use, username: dev.Credential.Username, password: dev.Credential.Value,
		cacheKey: dev.ID + "\x00" + dev.Address}
	if s.offset, err = s.clockOffset(ctx); err != nil {
		return nil, err
	}
	if xaddr, ok := d.xaddrs.get(s.cacheKey, d.now()); ok {
		s.security, s.cached = xaddr, true
		return s, nil
	}
	if s.security, err = s.securityService(ctx, base); err != nil {
		return nil, err
	}
	d.xaddrs.put(s.cacheKey, s.security, d.now())
	return s, nil
}

// securityService asks GetServices for the Advanced Security service's
// address, which must be on the device's own scheme, host and port.
func (s *session) securityService(ctx context.Context, base *url.URL) (string, error) {
	var services onvifwire.GetServicesResponse
	if err := s.call(ctx, s.dev.Address, onvifwire.NSTds, "GetServices", &onvifwire.GetServices{}, &services); err != nil {
		return "", err
	}
	for _, svc := range services.Service {
		if strings.TrimSpace(svc.Namespace) != onvifwire.NSTas {
			continue
		}
		addr, err := url.Parse(strings.TrimSpace(svc.XAddr))
		if err != nil || addr.Scheme != base.Scheme || addr.Host != base.Host || addr.User != nil {
			return "", device.Permanent(fmt.Errorf("device %s: GetServices: the Advanced Security service is at %q, not on %s://%s; certfleet sends the credential only to the device's own address",
				s.dev.ID, svc.XAddr, base.Scheme, base.Host))
		}
		return addr.String(), nil
	}
	return "", device.Permanent(fmt.Errorf("device %s: GetServices: the device offers no Advanced Security service (%s)", s.dev.ID, onvifwire.NSTas))
}

// GenerateCSR has the camera make a key pair and a CSR for it.
func (d *Driver) GenerateCSR(ctx context.Context, dev device.Device, req pki.CSRRequest) ([]byte, error) {
	s, err := d.open(ctx, dev, req.CertType)
	if err != nil {
		return nil, err
	}
	var create, sigAlg string
	var body any
	switch {
	case req.Key.Algorithm == "rsa" && req.Key.Supported():
		create, sigAlg = "CreateRSAKeyPair", onvifwire.OIDSHA256WithRSA
		body = &onvifwire.CreateRSAKeyPair{KeyLength: req.Key.Size, Alias: alias(req.CertType)}
	case req.Key.Algorithm == "ecdsa" && req.Key.Supported():
		create, sigAlg = "CreateECCKeyPair", onvifwire.OIDECDSAWithSHA256
		curve := "secp256r1"
		if req.Key.Size == 384 {
			curve, sigAlg = "secp384r1", onvifwire.OIDECDSAWithSHA384
		}
		body = &onvifwire.CreateECCKeyPair{EllipticCurve: curve, Alias: alias(req.CertType)}
	default:
		return nil, device.Permanent(fmt.Errorf("device %s: the onvif driver makes RSA 2048/3072/4096 and ECDSA P-256/P-384 keys, not %s", dev.ID, req.Key))
	}
	// Refuse bad names before the camera spends a key on them.
	csrReq, err := csrRequest(req, "", sigAlg)
	if err != nil {
		return nil, device.Permanent(fmt.Errorf("device %s: %w", dev.ID, err))
	}
	// Keys of earlier CSRs that never got a certificate would pile up with
	// every retry: delete them first.
	if err := s.deletePendingKeys(ctx, req.CertType); err != nil {
		return nil, err
	}
	keyID, err := s.createKey(ctx, create, body)
	if err != nil {
		return nil, err
	}
	if keyID == "" {
		return nil, device.Permanent(fmt.Errorf("device %s: %s returned no KeyID", dev.ID, create))
	}
	if err := s.waitKey(ctx, keyID); err != nil {
		return nil, err
	}
	csrReq.KeyID = keyID
	var resp onvifwire.CreatePKCS10CSRResponse
	if err := s.call(ctx, s.security, onvifwire.NSTas, "CreatePKCS10CSR", csrReq, &resp); err != nil {
		return nil, err
	}
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(resp.PKCS10CSR))
	if err != nil {
		return nil, device.Permanent(fmt.Errorf("device %s: CreatePKCS10CSR: the CSR is not base64: %w", dev.ID, err))
	}
	csr, err := pki.ParseCSR(der)
	if err != nil {
		return nil, device.Permanent(fmt.Errorf("device %s: CreatePKCS10CSR returned a bad CSR: %w", dev.ID, err))
	}
	if spec, err := pki.SpecOf(csr.PublicKey); err != nil || spec != req.Key {
		return nil, device.Permanent(fmt.Errorf("device %s: CreatePKCS10CSR returned a CSR for a %v key, not for the %s key %s", dev.ID, spec, req.Key, keyID))
	}
	return csr.Raw, nil
}

// createKey sends CreateRSAKeyPair or CreateECCKeyPair and returns the KeyID.
func (s *session) createKey(ctx context.Context, op string, body any) (string, error) {
	if op == "CreateECCKeyPair" {
		var resp onvifwire.CreateECCKeyPairResponse
		err := s.call(ctx, s.security, onvifwire.NSTas, op, body, &resp)
		return strings.TrimSpace(resp.KeyID), err
	}
	var resp onvifwire.CreateRSAKeyPairResponse
	err := s.call(ctx, s.security, onvifwire.NSTas, op, body, &resp)
	return strings.TrimSpace(resp.KeyID), err
}

// waitKey polls GetKeyStatus until the key is ready, for at most keyWait.
func (s *session) waitKey(ctx context.Context, keyID string) error {
	deadline := time.NewTimer(s.d.keyWait)
	defer deadline.Stop()
	for {
		var st onvifwire.GetKeyStatusResponse
		if err := s.call(ctx, s.security, onvifwire.NSTas, "GetKeyStatus", &onvifwire.GetKeyStatus{KeyID: keyID}, &st); err != nil {
			return err
		}
		switch strings.TrimSpace(st.KeyStatus) {
		case onvifwire.KeyOK:
			return nil
		case onvifwire.KeyCorrupt:
			s.bestEffortDeleteKey(ctx, keyID)
			return device.Permanent(fmt.Errorf("device %s: GetKeyStatus: key %s is corrupt; the camera failed to make it", s.dev.ID, keyID))
		case onvifwire.KeyGenerating:
		default:
			return device.Permanent(fmt.Errorf("device %s: GetKeyStatus: unknown status %q of key %s", s.dev.ID, st.KeyStatus, keyID))
		}
		wait := time.NewTimer(s.d.poll)
		select {
		case <-ctx.Done():
			wait.Stop()
			return device.Transient(fmt.Errorf("device %s: GetKeyStatus: %w", s.dev.ID, ctx.Err()))
		case <-deadline.C:
			wait.Stop()
			// The next GenerateCSR deletes it too, should this fail.
			s.bestEffortDeleteKey(ctx, keyID)
			return device.Transient(fmt.Errorf("device %s: GetKeyStatus: key %s still generating after %s", s.dev.ID, keyID, s.d.keyWait))
		case <-wait.C:
		}
	}
}

func (s *session) bestEffortDeleteKey(ctx context.Context, keyID string) {
	_ = s.call(ctx, s.security, onvifwire.NSTas, "DeleteKey", &onvifwire.DeleteKey{KeyID: keyID}, &onvifwire.DeleteKeyResponse{})
}

// deletePendingKeys deletes certfleet's keys of certType that no certificate certifies.
func (s *session) deletePendingKeys(ctx context.Context, certType string) error {
	ks, err := s.keystore(ctx)
	if err != nil {
		return err
	}
	for _, k := range ks.keys {
		if k.Alias == alias(certType) && !ks.certified(k.KeyID) {
			if err := s.call(ctx, s.security, onvifwire.NSTas, "DeleteKey", &onvifwire.DeleteKey{KeyID: k.KeyID}, &onvifwire.DeleteKeyResponse{}); err != nil {
				return err
			}
		}
	}
	return nil
}

// keystore is what the camera holds.
type keystore struct {
	keys  []onvifwire.KeyAttribute
	certs []onvifwire.X509Certificate
	paths map[string]onvifwire.CertificationPath
	order []string // path IDs as listed
}

func (k *keystore) certified(keyID string) bool {
	for _, c := range k.certs {
		if c.KeyID == keyID {
			return true
		}
	}
	return false
}

func (s *session) keystore(ctx context.Context) (*keystore, error) {
	var keys onvifwire.GetAllKeysResponse
	if err := s.call(ctx, s.security, onvifwire.NSTas, "GetAllKeys", &onvifwire.GetAllKeys{}, &keys); err != nil {
		return nil, err
	}
	var certs onvifwire.GetAllCertificatesResponse
	if err := s.call(ctx, s.security, onvifwire.NSTas, "GetAllCertificates", &onvifwire.GetAllCertificates{}, &certs); err != nil {
		return nil, err
	}
	return &keystore{keys: keys.KeyAttribute, certs: certs.Certificate}, nil
}

// loadPaths reads every certification path.
func (s *session) loadPaths(ctx context.Context, ks *keystore) error {
	var all onvifwire.GetAllCertificationPathsResponse
	if err := s.call(ctx, s.security, onvifwire.NSTas, "GetAllCertificationPaths", &onvifwire.GetAllCertificationPaths{}, &all); err != nil {
		return err
	}
	ks.paths = map[string]onvifwire.CertificationPath{}
	ks.order = nil
	for _, id := range all.CertificationPathID {
		p, err := s.path(ctx, id)
		if err != nil {
			return err
		}
		ks.paths[id] = p
		ks.order = append(ks.order, id)
	}
	return nil
}

func (s *session) path(ctx context.Context, id string) (onvifwire.CertificationPath, error) {
	var resp onvifwire.GetCertificationPathResponse
	err := s.call(ctx, s.security, onvifwire.NSTas, "GetCertificationPath", &onvifwire.GetCertificationPath{CertificationPathID: id}, &resp)
	return resp.CertificationPath, err
}

func (s *session) certificate(ctx context.Context, id string) (*x509.Certificate, error) {
	var resp onvifwire.GetCertificateResponse
	if err := s.call(ctx, s.security, onvifwire.NSTas, "GetCertificate", &onvifwire.GetCertificate{CertificateID: id}, &resp); err != nil {
		return nil, err
	}
	cert, err := parseCertificate(resp.Certificate.CertificateContent)
	if err != nil {
		return nil, device.Permanent(fmt.Errorf("device %s: GetCertificate %s: %w", s.dev.ID, id, err))
	}
	return cert, nil
}

func parseCertificate(content string) (*x509.Certificate, error) {
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(content))
	if err != nil {
		return nil, fmt.Errorf("certificate content is not base64: %w", err)
	}
	return x509.ParseCertificate(der)
}

// assignedLeaves returns the TLS server's assigned paths and the leaf of each.
func (s *session) assignedLeaves(ctx context.Context) ([]string, []*x509.Certificate, error) {
	var assigned onvifwire.GetAssignedServerCertificatesResponse
	if err := s.call(ctx, s.security, onvifwire.NSTas, "GetAssignedServerCertificates", &onvifwire.GetAssignedServerCertificates{}, &assigned); err != nil {
		return nil, nil, err
	}
	var leaves []*x509.Certificate
	for _, id := range assigned.CertificationPathID {
		leaf, err := s.pathLeaf(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		leaves = append(leaves, leaf)
	}
	return assigned.CertificationPathID, leaves, nil
}

// pathLeaf is the first certificate of certification path id.
func (s *session) pathLeaf(ctx context.Context, id string) (*x509.Certificate, error) {
	p, err := s.path(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(p.CertificateID) == 0 {
		return nil, device.Permanent(fmt.Errorf("device %s: GetCertificationPath %s: the path holds no certificate", s.dev.ID, id))
	}
	return s.certificate(ctx, p.CertificateID[0])
}

// Current returns the leaf of the path assigned to the camera's TLS server.
func (d *Driver) Current(ctx context.Context, dev device.Device, certType string) (*x509.Certificate, error) {
	s, err := d.open(ctx, dev, certType)
	if err != nil {
		return nil, err
	}
	_, leaves, err := s.boundLeaves(ctx)
	if err != nil || len(leaves) == 0 {
		return nil, err
	}
	return leaves[0], nil
}

// boundLeaves returns the paths in use for the session's certificate type
// (assigned to the TLS server, or in the 802.1X configuration of the network
// interface) and their leaves.
func (s *session) boundLeaves(ctx context.Context) ([]string, []*x509.Certificate, error) {
	if s.use.Binding == device.BindingHTTPS {
		return s.assignedLeaves(ctx)
	}
	conf, err := s.dot1xOnInterface(ctx)
	if err != nil || conf == nil || conf.Outer.CertificationPathID == "" {
		return nil, nil, err
	}
	s.conf = conf
	id := conf.Outer.CertificationPathID
	leaf, err := s.pathLeaf(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return []string{id}, []*x509.Certificate{leaf}, nil
}

// networkInterface returns the token of the interface whose 802.1X
// configuration certfleet manages: the first enabled one.
func (s *session) networkInterface(ctx context.Context) (string, error) {
	if s.iface != "" {
		return s.iface, nil
	}
	var resp onvifwire.GetNetworkInterfacesResponse
	if err := s.call(ctx, s.dev.Address, onvifwire.NSTds, "GetNetworkInterfaces", &onvifwire.GetNetworkInterfaces{}, &resp); err != nil {
		return "", err
	}
	for _, n := range resp.NetworkInterfaces {
		if n.Enabled && n.Token != "" {
			s.iface = n.Token
			return s.iface, nil
		}
	}
	return "", device.Permanent(fmt.Errorf("device %s: GetNetworkInterfaces: no enabled network interface for 802.1X", s.dev.ID))
}

// dot1xOnInterface returns the 802.1X configuration set on the interface, or nil.
func (s *session) dot1xOnInterface(ctx context.Context) (*onvifwire.Dot1XConfiguration, error) {
	token, err := s.networkInterface(ctx)
	if err != nil {
		return nil, err
	}
	var set onvifwire.GetNetworkInterfaceDot1XConfigurationResponse
	if err := s.call(ctx, s.security, onvifwire.NSTas, "GetNetworkInterfaceDot1XConfiguration", &onvifwire.GetNetworkInterfaceDot1XConfiguration{Token: token}, &set); err != nil {
		return nil, err
	}
	if strings.TrimSpace(set.Dot1XID) == "" {
		return nil, nil
	}
	var conf onvifwire.GetDot1XConfigurationResponse
	if err := s.call(ctx, s.security, onvifwire.NSTas, "GetDot1XConfiguration", &onvifwire.GetDot1XConfiguration{Dot1XID: strings.TrimSpace(set.Dot1XID)}, &conf); err != nil {
		return nil, err
	}
	c := conf.Dot1XConfiguration
	if c.Dot1XID == "" {
		c.Dot1XID = strings.TrimSpace(set.Dot1XID)
	}
	return &c, nil
}

// bind puts path pathID in use for the session's certificate type.
func (s *session) bind(ctx context.Context, bound []string, pathID, policyID string, leaf *x509.Certificate) error {
	if s.use.Binding == device.BindingHTTPS {
		if len(bound) > 0 {
			req := &onvifwire.ReplaceServerCertificateAssignment{OldCertificationPathID: bound[0], NewCertificationPathID: pathID}
			return s.call(ctx, s.security, onvifwire.NSTas, "ReplaceServerCertificateAssignment", req, &onvifwire.ReplaceServerCertificateAssignmentResponse{})
		}
		req := &onvifwire.AddServerCertificateAssignment{CertificationPathID: pathID}
		return s.call(ctx, s.security, onvifwire.NSTas, "AddServerCertificateAssignment", req, &onvifwire.AddServerCertificateAssignmentResponse{})
	}
	token, err := s.networkInterface(ctx)
	if err != nil {
		return err
	}
	identity := leaf.Subject.CommonName
	if identity == "" {
		identity = s.dev.ID
	}
	var added onvifwire.AddDot1XConfigurationResponse
	req := &onvifwire.AddDot1XConfiguration{Dot1XConfiguration: onvifwire.Dot1XConfiguration{
		Alias: alias(s.certType),
		Outer: onvifwire.Dot1XStage{Method: onvifwire.EAPTLS, CertPathValidationPolicyID: policyID, Identity: identity, CertificationPathID: pathID},
	}}
	if err := s.call(ctx, s.security, onvifwire.NSTas, "AddDot1XConfiguration", req, &added); err != nil {
		return err
	}
	if added.Dot1XID == "" {
		return device.Permanent(fmt.Errorf("device %s: AddDot1XConfiguration returned no Dot1XID", s.dev.ID))
	}
	var set onvifwire.SetNetworkInterfaceDot1XConfigurationResponse
	return s.call(ctx, s.security, onvifwire.NSTas, "SetNetworkInterfaceDot1XConfiguration",
		&onvifwire.SetNetworkInterfaceDot1XConfiguration{Token: token, Dot1XID: added.Dot1XID}, &set)
}

// pathsInUse returns the paths the camera uses for the session's type, and
// (for 802.1X) the certification path validation policies its remaining
// 802.1X configurations name. For 802.1X it first deletes certfleet's
// configurations the interface does not use.
func (s *session) pathsInUse(ctx context.Context) (map[string]bool, map[string]bool, error) {
	inUse, policies := map[string]bool{}, map[string]bool{}
	if s.use.Binding == device.BindingHTTPS {
		var assigned onvifwire.GetAssignedServerCertificatesResponse
		if err := s.call(ctx, s.security, onvifwire.NSTas, "GetAssignedServerCertificates", &onvifwire.GetAssignedServerCertificates{}, &assigned); err != nil {
			return nil, nil, err
		}
		for _, id := range assigned.CertificationPathID {
			inUse[id] = true
		}
		return inUse, policies, nil
	}
	current, err := s.dot1xOnInterface(ctx)
	if err != nil {
		return nil, nil, err
	}
	var all onvifwire.GetAllDot1XConfigurationsResponse
	if err := s.call(ctx, s.security, onvifwire.NSTas, "GetAllDot1XConfigurations", &onvifwire.GetAllDot1XConfigurations{}, &all); err != nil {
		return nil, nil, err
	}
	for _, c := range all.Configuration {
		if c.Alias == alias(s.certType) && (current == nil || c.Dot1XID != current.Dot1XID) {
			if err := s.call(ctx, s.security, onvifwire.NSTas, "DeleteDot1XConfiguration", &onvifwire.DeleteDot1XConfiguration{Dot1XID: c.Dot1XID}, &onvifwire.DeleteDot1XConfigurationResponse{}); err != nil {
				return nil, nil, err
			}
			continue
		}
		for stage := &c.Outer; stage != nil; stage = stage.Inner {
			if stage.CertificationPathID != "" {
				inUse[stage.CertificationPathID] = true
			}
			if stage.CertPathValidationPolicyID != "" {
				policies[stage.CertPathValidationPolicyID] = true
			}
		}
	}
	return inUse, policies, nil
}

// Install uploads chain (leaf first), makes it a certification path and puts
// it in place of the TLS server's (binding https) or in a new 802.1X
// configuration of the network interface (binding ieee8021x), then deletes
// what certfleet had installed before. For 802.1X, the use's Trust
// certificates and the chain's CA certificates become the trust anchors of a
// certification path validation policy that the configuration validates the
// authentication server with. Run again, it finds the leaf (and its trust)
// in place and only tidies up.
func (d *Driver) Install(ctx context.Context, dev device.Device, certType string, chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return device.Permanent(fmt.Errorf("device %s: install: empty chain", dev.ID))
	}
	s, err := d.open(ctx, dev, certType)
	if err != nil {
		return err
	}
	bound, leaves, err := s.boundLeaves(ctx)
	if err != nil {
		return err
	}
	inPlace := false
	for _, leaf := range leaves {
		if leaf.Equal(chain[0]) {
			inPlace = true
		}
	}
	trust := s.trust()
	if inPlace && len(trust) == 0 {
		return s.tidy(ctx)
	}
	ks, err := s.keystore(ctx)
	if err != nil {
		return err
	}
	if inPlace {
		ok, err := s.trustInPlace(ctx, ks, chain, trust)
		if err != nil {
			return err
		}
		if ok {
			return s.tidy(ctx)
		}
	}
	// Upload what the camera does not hold yet; a retried Install finds
	// what the first attempt uploaded.
	ids := make([]string, len(chain))
	for i, cert := range chain {
		var err error
		if i == 0 {
			ids[i], err = s.upload(ctx, ks, cert, alias(certType), true)
		} else {
			// A CA certificate's public key becomes a key entry of its own.
			ids[i], err = s.upload(ctx, ks, cert, caAlias, false)
		}
		if err != nil {
			return err
		}
	}
	var policyID string
	if len(trust) > 0 {
		if policyID, err = s.trustPolicy(ctx, ks, ids[1:], trust); err != nil {
			return err
		}
	}
	if err := s.loadPaths(ctx, ks); err != nil {
		return err
	}
	pathID := ks.pathOf(ids)
	if pathID == "" {
		var resp onvifwire.CreateCertificationPathResponse
		req := &onvifwire.CreateCertificationPath{CertificateIDs: onvifwire.CertificateIDs{CertificateID: ids}, Alias: alias(certType)}
		if err := s.call(ctx, s.security, onvifwire.NSTas, "CreateCertificationPath", req, &resp); err != nil {
			return err
		}
		if resp.CertificationPathID == "" {
			return device.Permanent(fmt.Errorf("device %s: CreateCertificationPath returned no CertificationPathID", dev.ID))
		}
		pathID = resp.CertificationPathID
	}
	if err := s.bind(ctx, bound, pathID, policyID, chain[0]); err != nil {
		return err
	}
	return s.tidy(ctx)
}

// trust returns the CA certificates the use asks the camera to trust, where
// the driver installs them: for 802.1X (the authentication server's CAs).
// For https they are ignored: certfleet does not manage the TLS server's
// client authentication.
func (s *session) trust() []*x509.Certificate {
	if s.use.Binding != device.BindingIEEE8021X {
		return nil
	}
	var out []*x509.Certificate
	for _, c := range s.use.Trust {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}

// upload returns the ID of the camera's copy of cert, uploading it (with
// alias for the certificate and its key entry) when the camera holds none.
func (s *session) upload(ctx context.Context, ks *keystore, cert *x509.Certificate, certAlias string, leaf bool) (string, error) {
	if id := ks.find(cert); id != "" {
		return id, nil
	}
	req := &onvifwire.UploadCertificate{Certificate: base64.StdEncoding.EncodeToString(cert.Raw), Alias: certAlias, KeyAlias: certAlias}
	if leaf {
		yes := true
		req.PrivateKeyRequired = &yes
	}
	var resp onvifwire.UploadCertificateResponse
	if err := s.call(ctx, s.security, onvifwire.NSTas, "UploadCertificate", req, &resp); err != nil {
		return "", err
	}
	if resp.CertificateID == "" {
		return "", device.Permanent(fmt.Errorf("device %s: UploadCertificate returned no CertificateID", s.dev.ID))
	}
	ks.certs = append(ks.certs, onvifwire.X509Certificate{CertificateID: resp.CertificateID, KeyID: resp.KeyID, Alias: certAlias,
		CertificateContent: base64.StdEncoding.EncodeToString(cert.Raw)})
	return resp.CertificateID, nil
}

// trustAnchors returns the IDs of the camera's copies of trust and of the
// issuing chain's CA certificates (caIDs), uploading the trust certificates
// it does not hold (alias certfleet/trust), without repeats.
func (s *session) trustAnchors(ctx context.Context, ks *keystore, caIDs []string, trust []*x509.Certificate, upload bool) ([]string, error) {
	var anchors []string
	seen := map[string]bool{}
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			anchors = append(anchors, id)
		}
	}
	for _, cert := range trust {
		id := ks.find(cert)
		if id == "" && upload {
			var err error
			if id, err = s.upload(ctx, ks, cert, trustAlias, false); err != nil {
				return nil, err
			}
		}
		if id == "" {
			return nil, nil
		}
		add(id)
	}
	for _, id := range caIDs {
		add(id)
	}
	return anchors, nil
}

// trustPolicy returns a certfleet certification path validation policy
// whose trust anchors are exactly trust and the chain's CA certificates,
// making one when the camera has none.
func (s *session) trustPolicy(ctx context.Context, ks *keystore, caIDs []string, trust []*x509.Certificate) (string, error) {
	anchors, err := s.trustAnchors(ctx, ks, caIDs, trust, true)
	if err != nil {
		return "", err
	}
	policies, err := s.policies(ctx, false)
	if err != nil {
		return "", err
	}
	for _, p := range policies {
		if p.Alias == alias(s.certType) && sameSet(anchorIDs(p), anchors) {
			return p.CertPathValidationPolicyID, nil
		}
	}
	req := &onvifwire.CreateCertPathValidationPolicy{Alias: alias(s.certType)}
	for _, id := range anchors {
		req.TrustAnchor = append(req.TrustAnchor, onvifwire.TrustAnchor{CertificateID: id})
	}
	var resp onvifwire.CreateCertPathValidationPolicyResponse
	if err := s.call(ctx, s.security, onvifwire.NSTas, "CreateCertPathValidationPolicy", req, &resp); err != nil {
		return "", err
	}
	if resp.CertPathValidationPolicyID == "" {
		return "", device.Permanent(fmt.Errorf("device %s: CreateCertPathValidationPolicy returned no CertPathValidationPolicyID", s.dev.ID))
	}
	return resp.CertPathValidationPolicyID, nil
}

// trustInPlace reports whether the interface's 802.1X configuration already
// validates the authentication server with exactly trust and chain's CA
// certificates.
func (s *session) trustInPlace(ctx context.Context, ks *keystore, chain, trust []*x509.Certificate) (bool, error) {
	if s.conf == nil || s.conf.Outer.CertPathValidationPolicyID == "" {
		return false, nil
	}
	var caIDs []string
	for _, ca := range chain[1:] {
		id := ks.find(ca)
		if id == "" {
			return false, nil
		}
		caIDs = append(caIDs, id)
	}
	want, err := s.trustAnchors(ctx, ks, caIDs, trust, false)
	if err != nil || want == nil {
		return false, err
	}
	policies, err := s.policies(ctx, false)
	if err != nil {
		return false, err
	}
	for _, p := range policies {
		if p.CertPathValidationPolicyID == s.conf.Outer.CertPathValidationPolicyID {
			return sameSet(anchorIDs(p), want), nil
		}
	}
	return false, nil
}

// policies lists the camera's certification path validation policies. When
// optional, a camera without them (ActionNotSupported) has none.
func (s *session) policies(ctx context.Context, optional bool) ([]onvifwire.CertPathValidationPolicy, error) {
	var resp onvifwire.GetAllCertPathValidationPoliciesResponse
	req := &onvifwire.GetAllCertPathValidationPolicies{}
	if optional {
		err := s.exchange(ctx, s.security, onvifwire.NSTas, "GetAllCertPathValidationPolicies", req, &resp)
		var f *onvifwire.Fault
		if err != nil && errors.As(err, &f) && f.Has("ActionNotSupported") {
			return nil, nil
		}
		if err != nil && s.cached {
			s.d.xaddrs.drop(s.cacheKey)
		}
		return resp.CertPathValidationPolicy, err
	}
	err := s.call(ctx, s.security, onvifwire.NSTas, "GetAllCertPathValidationPolicies", req, &resp)
	return resp.CertPathValidationPolicy, err
}

func anchorIDs(p onvifwire.CertPathValidationPolicy) []string {
	out := make([]string, 0, len(p.TrustAnchor))
	for _, a := range p.TrustAnchor {
		out = append(out, strings.TrimSpace(a.CertificateID))
	}
	return out
}

func sameSet(a, b []string) bool {
	in := map[string]bool{}
	for _, x := range a {
		in[x] = true
	}
	other := map[string]bool{}
	for _, x := range b {
		if !in[x] {
			return false
		}
		other[x] = true
	}
	return len(in) == len(other)
}

// find returns the ID of the camera's copy of cert.
func (k *keystore) find(cert *x509.Certificate) string {
	for _, c := range k.certs {
		if held, err := parseCertificate(c.CertificateContent); err == nil && held.Equal(cert) {
			return c.CertificateID
		}
	}
	return ""
}

// pathOf returns the ID of a path of exactly ids.
func (k *keystore) pathOf(ids []string) string {
	for _, id := range k.order {
		if p := k.paths[id]; slicesEqual(p.CertificateID, ids) {
			return id
		}
	}
	return ""
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// tidy deletes what certfleet created for the session's certificate type
// and nothing uses any more: for 802.1X its configurations not on the
// interface and its certification path validation policies no remaining
// configuration names, then its paths not in use, then its certificates (and
// CA certificates, and for 802.1X trust certificates) in no remaining path
// and no remaining policy's trust anchors, then its keys of certType and the
// public-key entries of its CA (and trust) certificates that no certificate
// certifies any more. A camera's own (factory) objects are kept.
func (s *session) tidy(ctx context.Context) error {
	certType := s.certType
	dot1x := s.use.Binding == device.BindingIEEE8021X
	inUse, policiesInUse, err := s.pathsInUse(ctx)
	if err != nil {
		return err
	}
	ks, err := s.keystore(ctx)
	if err != nil {
		return err
	}
	if err := s.loadPaths(ctx, ks); err != nil {
		return err
	}
	policies, err := s.policies(ctx, true)
	if err != nil {
		return err
	}
	usedCerts := map[string]bool{}
	for _, p := range policies {
		if dot1x && p.Alias == alias(certType) && !policiesInUse[p.CertPathValidationPolicyID] {
			req := &onvifwire.DeleteCertPathValidationPolicy{CertPathValidationPolicyID: p.CertPathValidationPolicyID}
			if err := s.call(ctx, s.security, onvifwire.NSTas, "DeleteCertPathValidationPolicy", req, &onvifwire.DeleteCertPathValidationPolicyResponse{}); err != nil {
				return err
			}
			continue
		}
		for _, id := range anchorIDs(p) {
			usedCerts[id] = true
		}
	}
	for _, id := range ks.order {
		p := ks.paths[id]
		if !inUse[id] && p.Alias == alias(certType) {
			if err := s.call(ctx, s.security, onvifwire.NSTas, "DeleteCertificationPath", &onvifwire.DeleteCertificationPath{CertificationPathID: id}, &onvifwire.DeleteCertificationPathResponse{}); err != nil {
				return err
			}
			continue
		}
		for _, c := range p.CertificateID {
			usedCerts[c] = true
		}
	}
	caMine := func(a string) bool { return a == caAlias || (dot1x && a == trustAlias) }
	certifiedKeys := map[string]bool{}
	for _, c := range ks.certs {
		if !usedCerts[c.CertificateID] && (c.Alias == alias(certType) || caMine(c.Alias)) {
			if err := s.call(ctx, s.security, onvifwire.NSTas, "DeleteCertificate", &onvifwire.DeleteCertificate{CertificateID: c.CertificateID}, &onvifwire.DeleteCertificateResponse{}); err != nil {
				return err
			}
			continue
		}
		certifiedKeys[c.KeyID] = true
	}
	for _, k := range ks.keys {
		mine := k.Alias == alias(certType) || (caMine(k.Alias) && (k.HasPrivateKey == nil || !*k.HasPrivateKey))
		if mine && !certifiedKeys[k.KeyID] {
			if err := s.call(ctx, s.security, onvifwire.NSTas, "DeleteKey", &onvifwire.DeleteKey{KeyID: k.KeyID}, &onvifwire.DeleteKeyResponse{}); err != nil {
				return err
			}
		}
	}
	return nil
}

// call sends one SOAP request with a UsernameToken to addr and decodes the
// answer into into; its errors are classified and name the device and the
// operation.
// A failed call to a remembered Advanced Security address forgets it: the
// next operation asks GetServices again.
func (s *session) call(ctx context.Context, addr, ns, op string, body, into any) error {
	err := s.exchange(ctx, addr, ns, op, body, into)
	if err != nil && s.cached && addr == s.security {
		s.d.xaddrs.drop(s.cacheKey)
	}
	return err
}

func (s *session) exchange(ctx context.Context, addr, ns, op string, body, into any) error {
	ctx, cancel := context.WithTimeout(ctx, s.d.timeout)
	defer cancel()
	resp, err := s.send(ctx, addr, ns, op, true, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decodeAnswer(s.dev.ID, op, resp, into)
}

// clockOffset asks the camera's clock with GetSystemDateAndTime, which
// cameras answer without authentication, and returns how far it is ahead
// of ours: UsernameTokens are created on the camera's clock, which a camera
// with a drifted clock would otherwise refuse as stale. A camera that does
// not tell its UTC time (a fault, a malformed answer, no UTCDateTime) is
// taken to keep ours; the calls that follow show whether it does. Only
// failing to reach it stops the operation.
func (s *session) clockOffset(ctx context.Context) (time.Duration, error) {
	const op = "GetSystemDateAndTime"
	ctx, cancel := context.WithTimeout(ctx, s.d.timeout)
	defer cancel()
	sent := s.d.now()
	resp, err := s.send(ctx, s.dev.Address, onvifwire.NSTds, op, false, &onvifwire.GetSystemDateAndTime{})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	received := s.d.now()
	var answer onvifwire.GetSystemDateAndTimeResponse
	if err := decodeAnswer(s.dev.ID, op, resp, &answer); err != nil {
		if !device.IsPermanent(err) {
			return 0, err // busy: the step retries
		}
		return 0, nil
	}
	camera, err := answer.SystemDateAndTime.UTCDateTime.UTC()
	if err != nil {
		return 0, nil
	}
	// The camera tells whole seconds: take the middle of its second, and
	// of our round trip.
	return camera.Add(500 * time.Millisecond).Sub(sent.Add(received.Sub(sent) / 2)), nil
}

// send POSTs one SOAP request to addr, with a UsernameToken when sign, and
// returns the answer. A 401 with an HTTP Digest challenge is answered with
// the same credential (never Basic); a 401 to that answer is a refused
// credential (permanent), unless the camera only says the nonce went stale.
// A 401 without a Digest challenge is returned for decodeAnswer to refuse.
func (s *session) send(ctx context.Context, addr, ns, op string, sign bool, body any) (*http.Response, error) {
	for round := 0; ; round++ {
		req, err := s.request(ctx, addr, ns, op, sign, body)
		if err != nil {
			return nil, err
		}
		resp, err := s.d.client.Do(ctx, s.dev, req)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err) // classified by tlspin; it names the device
		}
		if resp.StatusCode != http.StatusUnauthorized {
			return resp, nil
		}
		err = s.digest.Challenged(resp.Header, round)
		if err != nil && !errors.Is(err, httpdigest.ErrRefused) && !errors.Is(err, httpdigest.ErrStaleLoop) {
			return resp, nil // no Digest challenge: decodeAnswer refuses the credential
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, onvifwire.MaxMessage))
		resp.Body.Close()
		if err != nil {
			return nil, device.Permanent(fmt.Errorf("device %s: %s: %w", s.dev.ID, op, err))
		}
	}
}

// request builds one POST of a SOAP envelope: a fresh UsernameToken on the
// camera's clock when sign, and an HTTP Digest answer once the camera
// challenged the session.
func (s *session) request(ctx context.Context, addr, ns, op string, sign bool, body any) (*http.Request, error) {
	var security *onvifwire.Security
	if sign {
		var err error
		if security, err = onvifwire.NewSecurity(s.username, s.password, s.d.now().Add(s.offset)); err != nil {
			return nil, device.Transient(fmt.Errorf("device %s: %s: nonce: %w", s.dev.ID, op, err))
		}
	}
	payload, err := onvifwire.Marshal(security, body)
	if err != nil {
		return nil, device.Permanent(fmt.Errorf("device %s: %s: encode: %w", s.dev.ID, op, err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, addr, bytes.NewReader(payload))
	if err != nil {
		return nil, device.Permanent(fmt.Errorf("device %s: %s: address %q: %w", s.dev.ID, op, addr, err))
	}
	req.Header.Set("Content-Type", onvifwire.ContentTypeFor(onvifwire.Action(ns, op)))
	if err := s.digest.Authorize(req, s.username, s.password); err != nil {
		return nil, device.Permanent(fmt.Errorf("device %s: %s: HTTP Digest: %w", s.dev.ID, op, err))
	}
	return req, nil
}

// decodeAnswer reads a SOAP answer: into on success, a classified error otherwise.
func decodeAnswer(deviceID, op string, resp *http.Response, into any) error {
	data, err := io.ReadAll(io.LimitReader(resp.Body, onvifwire.MaxMessage+1))
	if err != nil {
		return device.Transient(fmt.Errorf("device %s: %s: read answer: %w", deviceID, op, err))
	}
	if len(data) > onvifwire.MaxMessage {
		return device.Permanent(fmt.Errorf("device %s: %s: answer larger than %d bytes", deviceID, op, onvifwire.MaxMessage))
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return device.Permanent(fmt.Errorf("device %s: %s: redirected (%d) to %q; certfleet does not follow redirects",
			deviceID, op, resp.StatusCode, resp.Header.Get("Location")))
	}
	env, perr := ParseAnswer(data, into)
	if perr == nil && env.Fault != nil {
		return classifyFault(deviceID, op, resp.StatusCode, env.Fault)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return device.Permanent(fmt.Errorf("device %s: %s: credential refused (HTTP %d)", deviceID, op, resp.StatusCode))
	case transientStatus(resp.StatusCode):
		return device.Transient(fmt.Errorf("device %s: %s: HTTP %d", deviceID, op, resp.StatusCode))
	case resp.StatusCode != http.StatusOK:
		return device.Permanent(fmt.Errorf("device %s: %s: HTTP %d", deviceID, op, resp.StatusCode))
	case perr != nil:
		return device.Permanent(fmt.Errorf("device %s: %s: malformed answer: %w", deviceID, op, perr))
	}
	return nil
}

func transientStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusBadGateway,
		http.StatusGatewayTimeout, http.StatusInternalServerError, http.StatusRequestTimeout:
		return true
	}
	return false
}

// ParseAnswer reads an answer envelope: a fault, or the element into names
// (its XMLName). It is the parser of everything a camera sends back.
func ParseAnswer(data []byte, into any) (*onvifwire.Envelope, error) {
	want := elementName(into)
	return onvifwire.Unmarshal(data, func(op xml.Name) (any, error) {
		if op != want {
			return nil, fmt.Errorf("answer is {%s}%s, want %s", op.Space, op.Local, want.Local)
		}
		return into, nil
	})
}

// elementName reads the XMLName tag of a wire struct.
func elementName(v any) xml.Name {
	data, err := xml.Marshal(v)
	if err != nil {
		return xml.Name{}
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			return xml.Name{}
		}
		if start, ok := tok.(xml.StartElement); ok {
			return start.Name
		}
	}
}

// classifyFault: a refused credential, a bad request or an operation the
// camera does not support will not change on a retry; a Receiver fault
// otherwise is the camera's trouble and may pass.
func classifyFault(deviceID, op string, status int, f *onvifwire.Fault) error {
	err := fmt.Errorf("device %s: %s: %w", deviceID, op, f)
	switch {
	case f.Has("NotAuthorized"):
		return device.Permanent(fmt.Errorf("device %s: %s: credential refused: %w", deviceID, op, f))
	case f.Code == onvifwire.Sender, f.Has("ActionNotSupported"), f.Has("Action"):
		return device.Permanent(err)
	case f.Code == onvifwire.Receiver:
		return device.Transient(err)
	}
	if transientStatus(status) {
		return device.Transient(err)
	}
	return device.Permanent(err)
}

// csrRequest builds CreatePKCS10CSR: the subject, and the requested subject
// alternative names as an X.509v3 extension attribute.
func csrRequest(req pki.CSRRequest, keyID, sigAlg string) (*onvifwire.CreatePKCS10CSR, error) {
	out := &onvifwire.CreatePKCS10CSR{KeyID: keyID, SignatureAlgorithm: onvifwire.AlgorithmIdentifier{Algorithm: sigAlg}}
	subj := req.Subject
	one := func(v string) []string {
		if v == "" {
			return nil
		}
		return []string{v}
	}
	out.Subject = onvifwire.DistinguishedName{
		Country: one(subj.Country), Organization: one(subj.Organization), OrganizationalUnit: one(subj.OrganizationalUnit),
		CommonName: one(subj.CommonName), SerialNumber: one(subj.SerialNumber),
	}
	ext, err := onvifwire.MarshalSANs(req.SANs.DNS, req.SANs.IP, req.SANs.Email, req.SANs.URI)
	if err != nil {
		return nil, err
	}
	if ext != nil {
		out.CSRAttribute = append(out.CSRAttribute, onvifwire.CSRAttribute{X509v3Extension: &onvifwire.X509v3Extension{
			ExtnOID: onvifwire.OIDSubjectAltName, ExtnValue: base64.StdEncoding.EncodeToString(ext),
		}})
	}
	return out, nil
}
