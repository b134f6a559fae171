// Package axis is the Axis camera mode of the simulated fleet: every fleet
// device is also a virtual Axis camera below /axis/{id}, speaking the VAPIX
// calls of package vapixwire (Certificate Management REST API, the SOAP
// services that bind a certificate to HTTPS and IEEE 802.1X, and the MQTT
// client API that names the MQTT client certificate) behind HTTP
// Digest authentication with the fleet's camera account. Each camera makes
// real keys and CSRs, keeps certificates by alias, CA certificates and
// bindings in memory, and starts with a factory self-signed certificate bound
// to HTTPS and an MQTT client configured for a TLS broker without a client
// certificate. The fleet's faults apply: AuthRefused, KeyGenStuck, CSRFailure,
// InstallFailure, and the transport faults of devicesim.Fleet.WithFaults.
package axis

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/certfleet/certfleet/devicesim"
	"github.com/certfleet/certfleet/httpdigest"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/vapixwire"
)

// Prefix is where the cameras are mounted: /axis/{id} is a camera's base URL.
const Prefix = "/axis/{id}"

// FactoryAlias is the alias of the factory self-signed HTTPS certificate.
const FactoryAlias = "default"

// Realm is the Digest realm the cameras use.
const Realm = "AXIS_certfleet_sim"

// maxBody bounds request bodies.
const maxBody = 256 << 10

// Simulator is the Axis camera mode; it implements devicesim.Protocol.
type Simulator struct {
	digest *httpdigest.Server
	now    func() time.Time

	mu      sync.Mutex
	cameras map[string]*camera
}

var _ devicesim.Protocol = (*Simulator)(nil)

// New returns the Axis camera mode, to pass to devicesim.Fleet.Handler.
func New() *Simulator {
	return &Simulator{digest: httpdigest.NewServer(Realm), now: time.Now, cameras: map[string]*camera{}}
}

type camera struct {
	mu    sync.Mutex
	certs map[string]*keyCert
	cas   map[string]*x509.Certificate
	tls   vapixwire.WebServerTlsConfiguration
	dot1x vapixwire.Dot1XConfiguration
	mqtt  mqttClient
	calls map[string]int
}

type keyCert struct {
	key      crypto.Signer
	cert     *x509.Certificate
	keystore string
}

// State is what a camera holds, for tests and the admin view.
type State struct {
	Certificates   []string          `json:"certificates"`              // aliases, sorted
	CACertificates []string          `json:"ca_certificates"`           // aliases, sorted
	HTTPS          string            `json:"https"`                     // alias bound to HTTPS
	Dot1X          string            `json:"ieee8021x"`                 // alias bound to IEEE 802.1X, or ""
	Dot1XCAs       []string          `json:"ieee8021x_ca_certificates"` // CA certificates that authenticate the network
	MQTT           MQTTState         `json:"mqtt"`
	Calls          map[string]int    `json:"calls"`
	Subjects       map[string]string `json:"subjects"`    // alias → subject of its certificate
	CASubjects     map[string]string `json:"ca_subjects"` // CA alias → subject of the CA certificate
}

// MQTTState is the camera's MQTT client configuration.
type MQTTState struct {
	Protocol           string `json:"protocol"`
	Host               string `json:"host"`
	Port               int    `json:"port"`
	ClientID           string `json:"client_id"`
	Username           string `json:"username"`
	Password           string `json:"-"`                    // never shown by the admin view
	ClientCert         string `json:"client_certificate"`   // ssl.clientCertID
	CACert             string `json:"ca_certificate"`       // ssl.CACertID
	ValidateServerCert bool   `json:"validate_server_cert"` // ssl.validateServerCert
	Active             bool   `json:"active"`
}

// State returns camera id's state, creating the camera on first use.
func (s *Simulator) State(id string) (State, error) {
	c, err := s.camera(id)
	if err != nil {
		return State{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := State{HTTPS: first(c.tls.CertificateSet.Certificates.ID), Calls: map[string]int{}, Subjects: map[string]string{}, CASubjects: map[string]string{},
		Dot1XCAs: slices.Clone(c.dot1x.CACertificateID), MQTT: c.mqtt.state()}
	for alias, kc := range c.certs {
		st.Certificates = append(st.Certificates, alias)
		st.Subjects[alias] = kc.cert.Subject.String()
	}
	for alias, cert := range c.cas {
		st.CACertificates = append(st.CACertificates, alias)
		st.CASubjects[alias] = cert.Subject.String()
	}
	slices.Sort(st.Certificates)
	slices.Sort(st.CACertificates)
	if tls := c.dot1x.EAPMethodConfiguration; tls != nil && tls.TLSConfiguration != nil {
		st.Dot1X = tls.TLSConfiguration.CertificateID
	}
	for k, v := range c.calls {
		st.Calls[k] = v
	}
	return st, nil
}

func first(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// TLSCertificate is the certificate and key camera id has bound to HTTPS,
// for a server that presents what the camera would: a test or a one-camera
// simulator can serve it from tls.Config.GetCertificate.
func (s *Simulator) TLSCertificate(id string) (*tls.Certificate, error) {
	c, err := s.camera(id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	kc, ok := c.certs[first(c.tls.CertificateSet.Certificates.ID)]
	if !ok {
		return nil, fmt.Errorf("camera %s has no HTTPS certificate", id)
	}
	return &tls.Certificate{Certificate: [][]byte{kc.cert.Raw}, PrivateKey: kc.key, Leaf: kc.cert}, nil
}

// AddCACertificate puts a CA certificate on camera id under alias, as an
// operator would through the camera's web interface: a CA certificate that
// is the camera's own, not certfleet's.
func (s *Simulator) AddCACertificate(id, alias string, cert *x509.Certificate) error {
	c, err := s.camera(id)
	if err != nil {
		return err
	}
	if err := checkAlias(alias); err != nil {
		return err
	}
	if !cert.IsCA {
		return fmt.Errorf("%s is not a CA certificate", cert.Subject)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, taken := c.cas[alias]; taken {
		return fmt.Errorf("camera %s: CA alias %q is taken", id, alias)
	}
	c.cas[alias] = cert
	return nil
}

// camera returns camera id, making it with its factory certificate on first use.
func (s *Simulator) camera(id string) (*camera, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.cameras[id]; ok {
		return c, nil
	}
	key, err := pki.GenerateKey(pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	if err != nil {
		return nil, err
	}
	now := s.now()
	cert, err := selfSign(key, pkix.Name{CommonName: id, Organization: []string{"Axis Communications AB"}}, nil, nil, now.Add(-time.Hour), now.AddDate(10, 0, 0))
	if err != nil {
		return nil, err
	}
	c := &camera{
		certs: map[string]*keyCert{FactoryAlias: {key: key, cert: cert, keystore: "TEE0"}},
		cas:   map[string]*x509.Certificate{},
		tls: vapixwire.WebServerTlsConfiguration{
			Tls:                true,
			ConnectionPolicies: &vapixwire.ConnectionPolicies{Admin: "Https"},
			Ciphers:            &vapixwire.Ciphers{Cipher: []string{"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256"}},
			CertificateSet:     vapixwire.CertificateSet{Certificates: vapixwire.IDs{ID: []string{FactoryAlias}}},
		},
		dot1x: vapixwire.Dot1XConfiguration{Dot1XConfigurationToken: vapixwire.Dot1XWiredToken, Identity: id, EAPMethod: vapixwire.EAPMethodTLS},
		mqtt:  factoryMQTT(id),
		calls: map[string]int{},
	}
	s.cameras[id] = c
	return c, nil
}

func selfSign(key crypto.Signer, subject pkix.Name, dns []string, ips []net.IP, from, to time.Time) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: subject, NotBefore: from, NotAfter: to,
		DNSNames: dns, IPAddresses: ips,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// Register mounts the cameras below /axis/{id}/ on mux.
func (s *Simulator) Register(mux *http.ServeMux, fleet *devicesim.Fleet) {
	h := &handler{sim: s, fleet: fleet}
	api := http.NewServeMux()
	base := Prefix + vapixwire.CertAPI
	api.HandleFunc("GET "+base+"/certificates", h.rest(h.listCertificates))
	api.HandleFunc("GET "+base+"/certificates/{alias}", h.rest(h.getCertificate))
	api.HandleFunc("PATCH "+base+"/certificates/{alias}", h.rest(h.replaceCertificate))
	api.HandleFunc("DELETE "+base+"/certificates/{alias}", h.rest(h.deleteCertificate))
	api.HandleFunc("POST "+base+"/certificates/{alias}/get_csr", h.rest(h.getCSR))
	api.HandleFunc("POST "+base+"/create_certificate", h.rest(h.createCertificate))
	api.HandleFunc("GET "+base+"/ca_certificates", h.rest(h.listCACertificates))
	api.HandleFunc("POST "+base+"/ca_certificates", h.rest(h.addCACertificate))
	api.HandleFunc("GET "+base+"/ca_certificates/{alias}", h.rest(h.getCACertificate))
	api.HandleFunc("DELETE "+base+"/ca_certificates/{alias}", h.rest(h.deleteCACertificate))
	api.HandleFunc("POST "+Prefix+vapixwire.PathServices, h.soap)
	api.HandleFunc("POST "+Prefix+vapixwire.PathMQTTClient, h.mqtt)
	api.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, vapixwire.CodeNotFound, "no such VAPIX resource")
	})
	mux.Handle(Prefix+"/", fleet.WithFaults(h.authenticate(api)))
}

type handler struct {
	sim   *Simulator
	fleet *devicesim.Fleet
}

// authenticate checks HTTP Digest against the fleet's camera account; the
// AuthRefused fault refuses every credential.
func (h *handler) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		faults, err := h.fleet.FaultsOf(r.PathValue("id"))
		if err != nil {
			writeError(w, http.StatusNotFound, vapixwire.CodeNotFound, "no simulated camera %q", r.PathValue("id"))
			return
		}
		user, password := h.fleet.CameraAccount()
		result := h.sim.digest.Verify(r, user, password)
		if faults.AuthRefused && result != httpdigest.Missing {
			result = httpdigest.Invalid
		}
		if result != httpdigest.OK {
			h.sim.digest.Challenge(w, result == httpdigest.Stale)
			writeError(w, http.StatusUnauthorized, 401, "authentication required")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// restFunc serves one REST call on a camera, answering data or an error.
type restFunc func(c *camera, faults devicesim.Faults, r *http.Request) (status int, data any, err error)

// refusal is a REST error answer.
type refusal struct {
	status int
	code   int
	msg    string
}

func (e *refusal) Error() string { return e.msg }

func refuse(status, code int, format string, args ...any) error {
	return &refusal{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func (h *handler) rest(fn restFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		faults, err := h.fleet.FaultsOf(id)
		if err != nil {
			writeError(w, http.StatusNotFound, vapixwire.CodeNotFound, "no simulated camera %q", id)
			return
		}
		c, err := h.sim.camera(id)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, vapixwire.CodeBusy, "camera not ready")
			return
		}
		c.mu.Lock()
		status, data, err := fn(c, faults, r)
		c.mu.Unlock()
		var ref *refusal
		if errors.As(err, &ref) {
			if ref.status == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", "1")
			}
			writeError(w, ref.status, ref.code, "%s", ref.msg)
			return
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, vapixwire.CodeInvalidParameter, "%v", err)
			return
		}
		writeJSON(w, status, vapixwire.Response[any]{APIVersion: "1.0", Status: vapixwire.StatusSuccess, Data: data})
	}
}

func writeError(w http.ResponseWriter, status, code int, format string, args ...any) {
	writeJSON(w, status, vapixwire.Response[any]{APIVersion: "1.0", Status: vapixwire.StatusError, Error: &vapixwire.Error{Code: code, Message: fmt.Sprintf(format, args...)}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a strict {"data": …} body into into.
func decode[T any](r *http.Request) (T, error) {
	var req vapixwire.Request[T]
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return req.Data, refuse(http.StatusBadRequest, vapixwire.CodeInvalidParameter, "read request: %v", err)
	}
	if len(data) > maxBody {
		return req.Data, refuse(http.StatusRequestEntityTooLarge, vapixwire.CodeInvalidParameter, "request body over %d bytes", maxBody)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req.Data, refuse(http.StatusBadRequest, vapixwire.CodeInvalidParameter, "malformed JSON: %v", err)
	}
	if dec.More() {
		return req.Data, refuse(http.StatusBadRequest, vapixwire.CodeInvalidParameter, "data after the JSON object")
	}
	if !bytes.Contains(data, []byte(`"data"`)) {
		return req.Data, refuse(http.StatusBadRequest, vapixwire.CodeInvalidParameter, "the request has no data object")
	}
	return req.Data, nil
}

var aliasPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$`)

func checkAlias(alias string) error {
	if !aliasPattern.MatchString(alias) {
		return refuse(http.StatusBadRequest, vapixwire.CodeInvalidParameter, "alias %q: 1 to 64 letters, digits, space, '.', '_' or '-'", alias)
	}
	return nil
}

func pemOf(cert *x509.Certificate) string { return string(pki.EncodeCertificatesPEM(cert)) }

func (h *handler) listCertificates(c *camera, _ devicesim.Faults, _ *http.Request) (int, any, error) {
	out := []vapixwire.Certificate{}
	for alias, kc := range c.certs {
		out = append(out, vapixwire.Certificate{Alias: alias, Certificate: pemOf(kc.cert), Keystore: kc.keystore})
	}
	slices.SortFunc(out, func(a, b vapixwire.Certificate) int { return strings.Compare(a.Alias, b.Alias) })
	return http.StatusOK, out, nil
}

func (h *handler) lookup(c *camera, r *http.Request) (string, *keyCert, error) {
	alias := r.PathValue("alias")
	kc, ok := c.certs[alias]
	if !ok {
		return alias, nil, refuse(http.StatusNotFound, vapixwire.CodeNotFound, "no certificate %q", alias)
	}
	return alias, kc, nil
}

func (h *handler) getCertificate(c *camera, _ devicesim.Faults, r *http.Request) (int, any, error) {
	alias, kc, err := h.lookup(c, r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, vapixwire.Certificate{Alias: alias, Certificate: pemOf(kc.cert), Keystore: kc.keystore}, nil
}

func (h *handler) createCertificate(c *camera, faults devicesim.Faults, r *http.Request) (int, any, error) {
	req, err := decode[vapixwire.CreateCertificate](r)
	if err != nil {
		return 0, nil, err
	}
	if err := checkAlias(req.Alias); err != nil {
		return 0, nil, err
	}
	spec, ok := vapixwire.KeySpecOf(req.KeyType)
	if !ok {
		return 0, nil, refuse(http.StatusBadRequest, vapixwire.CodeInvalidParameter, "key_type %q is not supported", req.KeyType)
	}
	switch req.Keystore {
	case "", "TEE0", "SE0":
	default:
		return 0, nil, refuse(http.StatusBadRequest, vapixwire.CodeInvalidParameter, "no keystore %q", req.Keystore)
	}
	subject, err := vapixwire.ParseSubject(req.Subject)
	if err != nil {
		return 0, nil, refuse(http.StatusBadRequest, vapixwire.CodeInvalidParameter, "subject: %v", err)
	}
	var dns []string
	var ips []net.IP
	for _, san := range req.SubjectAltNames {
		kind, value, _ := strings.Cut(san, ":")
		switch {
		case kind == "DNS" && value != "" && len(value) <= 253:
			dns = append(dns, value)
		case kind == "IP" && net.ParseIP(value) != nil:
			ips = append(ips, net.ParseIP(value))
		default:
			return 0, nil, refuse(http.StatusBadRequest, vapixwire.CodeInvalidParameter, "subject_alt_names: %q is not DNS:name or IP:address", san)
		}
	}
	now := h.sim.now()
	from, to := now.Add(-5*time.Minute), now.AddDate(1, 0, 0)
	if req.ValidFrom != 0 || req.ValidTo != 0 {
		if req.ValidFrom <= 0 || req.ValidTo <= req.ValidFrom || req.ValidTo > 253402300799 {
			return 0, nil, refuse(http.StatusBadRequest, vapixwire.CodeInvalidParameter, "valid_from and valid_to: want 0 < valid_from < valid_to")
		}
		from, to = time.Unix(req.ValidFrom, 0), time.Unix(req.ValidTo, 0)
	}
	if _, taken := c.certs[req.Alias]; taken {
		return 0, nil, refuse(http.StatusConflict, vapixwire.CodeAlreadyExists, "alias %q is taken", req.Alias)
	}
	if faults.KeyGenStuck {
		return 0, nil, refuse(http.StatusServiceUnavailable, vapixwire.CodeBusy, "key generation in progress, try again later")
	}
	key, err := pki.GenerateKey(spec)
	if err != nil {
		return 0, nil, refuse(http.StatusBadRequest, vapixwire.CodeInvalidParameter, "key_type: %v", err)
	}
	cert, err := selfSign(key, subject, dns, ips, from, to)
	if err != nil {
		return 0, nil, refuse(http.StatusBadRequest, vapixwire.CodeInvalidParameter, "self-signed certificate: %v", err)
	}
	keystore := req.Keystore
	if keystore == "" {
		keystore = "TEE0"
	}
	c.certs[req.Alias] = &keyCert{key: key, cert: cert, keystore: keystore}
	c.calls["create_certificate"]++
	return http.StatusOK, vapixwire.Certificate{Alias: req.Alias, Certificate: pemOf(cert), Keystore: keystore}, nil
}

func (h *handler) getCSR(c *camera, faults devicesim.Faults, r *http.Request) (int, any, error) {
	if _, err := decode[vapixwire.GetCSR](r); err != nil {
		return 0, nil, err
	}
	_, kc, err := h.lookup(c, r)
	if err != nil {
		return 0, nil, err
	}
	if faults.CSRFailure {
		return 0, nil, refuse(http.StatusUnprocessableEntity, vapixwire.CodeRefused, "simulated CSR failure")
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: kc.cert.Subject, DNSNames: kc.cert.DNSNames, IPAddresses: kc.cert.IPAddresses,
	}, kc.key)
	if err != nil {
		return 0, nil, refuse(http.StatusUnprocessableEntity, vapixwire.CodeRefused, "CSR: %v", err)
	}
	c.calls["get_csr"]++
	return http.StatusOK, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), nil
}

func (h *handler) replaceCertificate(c *camera, faults devicesim.Faults, r *http.Request) (int, any, error) {
	req, err := decode[vapixwire.ReplaceCertificate](r)
	if err != nil {
		return 0, nil, err
	}
	alias, kc, err := h.lookup(c, r)
	if err != nil {
		return 0, nil, err
	}
	certs, err := pki.ParseCertificatesPEM([]byte(req.Certificate))
	if err != nil || len(certs) == 0 {
		return 0, nil, refuse(http.StatusBadRequest, vapixwire.CodeInvalidParameter, "certificate: not PEM certificates")
	}
	leaf := certs[0]
	if !pki.SamePublicKey(leaf.PublicKey, kc.key.Public()) {
		return 0, nil, refuse(http.StatusBadRequest, vapixwire.CodeKeyMismatch, "the certificate is not for the private key of %q", alias)
	}
	if now := h.sim.now(); now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return 0, nil, refuse(http.StatusBadRequest, vapixwire.CodeInvalidParameter, "the certificate is not valid now")
	}
	if faults.InstallFailure {
		return 0, nil, refuse(http.StatusUnprocessableEntity, vapixwire.CodeRefused, "simulated install failure")
	}
	kc.cert = leaf
	c.calls["replace"]++
	return http.StatusOK, vapixwire.Certificate{Alias: alias, Certificate: pemOf(leaf), Keystore: kc.keystore}, nil
}

func (c *camera) inUse(alias string) string {
	if slices.Contains(c.tls.CertificateSet.Certificates.ID, alias) {
		return "HTTPS"
	}
	if m := c.dot1x.EAPMethodConfiguration; m != nil && m.TLSConfiguration != nil && m.TLSConfiguration.CertificateID == alias {
		return "IEEE 802.1X"
	}
	if ssl := c.mqtt.config.SSL; ssl != nil && ssl.ClientCertID == alias {
		return "MQTT"
	}
	return ""
}

func (h *handler) deleteCertificate(c *camera, _ devicesim.Faults, r *http.Request) (int, any, error) {
	alias, _, err := h.lookup(c, r)
	if err != nil {
		return 0, nil, err
	}
	if use := c.inUse(alias); use != "" {
		return 0, nil, refuse(http.StatusConflict, vapixwire.CodeRefused, "certificate %q is in use by %s", alias, use)
	}
	delete(c.certs, alias)
	c.calls["delete"]++
	return http.StatusOK, nil, nil
}

func (h *handler) listCACertificates(c *camera, _ devicesim.Faults, _ *http.Request) (int, any, error) {
	out := []vapixwire.CACertificate{}
	for alias, cert := range c.cas {
		out = append(out, vapixwire.CACertificate{Alias: alias, Certificate: pemOf(cert)})
	}
	slices.SortFunc(out, func(a, b vapixwire.CACertificate) int { return strings.Compare(a.Alias, b.Alias) })
	return http.StatusOK, out, nil
}

func (h *handler) getCACertificate(c *camera, _ devicesim.Faults, r *http.Request) (int, any, error) {
	alias := r.PathValue("alias")
	cert, ok := c.cas[alias]
	if !ok {
		return 0, nil, refuse(http.StatusNotFound, vapixwire.CodeNotFound, "no CA certificate %q", alias)
	}
	return http.StatusOK, vapixwire.CACertificate{Alias: alias, Certificate: pemOf(cert)}, nil
}

func (h *handler) addCACertificate(c *camera, _ devicesim.Faults, r *http.Request) (int, any, error) {
	req, err := decode[vapixwire.CACertificate](r)
	if err != nil {
		return 0, nil, err
	}
	if err := checkAlias(req.Alias); err != nil {
		return 0, nil, err
	}
	certs, err := pki.ParseCertificatesPEM([]byte(req.Certificate))
	if err != nil || len(certs) != 1 {
		return 0, nil, refuse(http.StatusBadRequest, vapixwire.CodeInvalidParameter, "certificate: want one PEM certificate")
	}
	if !certs[0].IsCA {
		return 0, nil, refuse(http.StatusBadRequest, vapixwire.CodeInvalidParameter, "certificate: not a CA certificate")
	}
	if _, taken := c.cas[req.Alias]; taken {
		return 0, nil, refuse(http.StatusConflict, vapixwire.CodeAlreadyExists, "CA alias %q is taken", req.Alias)
	}
	c.cas[req.Alias] = certs[0]
	c.calls["add_ca"]++
	return http.StatusOK, nil, nil
}

func (h *handler) deleteCACertificate(c *camera, _ devicesim.Faults, r *http.Request) (int, any, error) {
	alias := r.PathValue("alias")
	if _, ok := c.cas[alias]; !ok {
		return 0, nil, refuse(http.StatusNotFound, vapixwire.CodeNotFound, "no CA certificate %q", alias)
	}
	if slices.Contains(c.tls.CertificateSet.CACertificates.ID, alias) || slices.Contains(c.dot1x.CACertificateID, alias) ||
		(c.mqtt.config.SSL != nil && c.mqtt.config.SSL.CACertID == alias) {
		return 0, nil, refuse(http.StatusConflict, vapixwire.CodeRefused, "CA certificate %q is in use", alias)
	}
	delete(c.cas, alias)
	return http.StatusOK, nil, nil
}
