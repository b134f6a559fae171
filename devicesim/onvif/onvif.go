// Package onvif is the ONVIF camera mode of the simulated fleet: every device
// of the fleet answers as an IP camera with a device service (GetServices) and
// an Advanced Security service (keystore, PKCS#10 CSRs, certification paths,
// TLS server certificate assignment) over SOAP 1.2 with WS-Security
// UsernameToken digests. Keys are real; each camera starts with a factory
// key, self-signed certificate and path assigned to its TLS server. Faults of
// the fleet apply: AuthRefused, KeyGenStuck, CSRFailure, InstallFailure, and
// the transport faults through Fleet.WithFaults. Per camera, a test can skew
// its clock (SetClockSkew; GetSystemDateAndTime is answered unauthenticated
// on that clock) and require HTTP Digest as well (RequireHTTPDigest).
package onvif

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certfleet/certfleet/devicesim"
	"github.com/certfleet/certfleet/httpdigest"
	"github.com/certfleet/certfleet/onvifwire"
	"github.com/certfleet/certfleet/pki"
)

// Paths of a camera's services on the simulator; {id} is the device ID.
const (
	DevicePath   = "/onvif/{id}/device_service"
	SecurityPath = "/onvif/{id}/advancedsecurity_service"
)

// Factory objects every camera starts with.
const (
	FactoryKeyID  = "FactoryKey"
	FactoryCertID = "FactoryCert"
	FactoryPathID = "FactoryPath"
	factoryAlias  = "factory default"
)

// maxSkew is how far a UsernameToken's Created may be from the camera's clock.
const maxSkew = 5 * time.Minute

// DigestRealm is the HTTP Digest realm of cameras that require HTTP Digest.
const DigestRealm = "ONVIF camera"

// Cameras simulates the fleet's devices as ONVIF cameras.
type Cameras struct {
	now    func() time.Time
	digest *httpdigest.Server

	mu      sync.Mutex
	cameras map[string]*camera
	skew    map[string]time.Duration  // by camera: how far its clock is off
	digests map[string]bool           // by camera: HTTP Digest required
	calls   map[string]map[string]int // by camera and operation (local name)
}

var _ devicesim.Protocol = (*Cameras)(nil)

// New returns the ONVIF camera mode; mount it with fleet.Handler(onvif.New()).
func New() *Cameras {
	return &Cameras{now: time.Now, digest: httpdigest.NewServer(DigestRealm), cameras: map[string]*camera{},
		skew: map[string]time.Duration{}, digests: map[string]bool{}, calls: map[string]map[string]int{}}
}

// SetClockSkew sets camera id's clock d ahead of the simulator's (behind
// when negative): GetSystemDateAndTime tells that time, and UsernameTokens
// are checked against it.
func (c *Cameras) SetClockSkew(id string, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d == 0 {
		delete(c.skew, id)
		return
	}
	c.skew[id] = d
}

// RequireHTTPDigest makes camera id require HTTP Digest (RFC 7616) on its
// SOAP endpoints, besides the UsernameToken, for every operation but
// GetSystemDateAndTime.
func (c *Cameras) RequireHTTPDigest(id string, on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !on {
		delete(c.digests, id)
		return
	}
	c.digests[id] = true
}

// Calls returns how many requests of each operation (by local name) camera
// id received, authenticated or not, since the last ResetCalls.
func (c *Cameras) Calls(id string) map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for op, n := range c.calls[id] {
		out[op] = n
	}
	return out
}

// ResetCalls forgets camera id's call counts.
func (c *Cameras) ResetCalls(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.calls, id)
}

func (c *Cameras) count(id, op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls[id] == nil {
		c.calls[id] = map[string]int{}
	}
	c.calls[id][op]++
}

// clock is camera id's time now.
func (c *Cameras) clock(id string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now().Add(c.skew[id])
}

func (c *Cameras) digestRequired(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.digests[id]
}

// preAuth are the operations cameras answer without authentication.
var preAuth = map[xml.Name]bool{name(onvifwire.NSTds, "GetSystemDateAndTime"): true}

// authenticate checks HTTP Digest where the camera requires it, then the
// UsernameToken against the camera's clock; it answers the refusals.
func (c *Cameras) authenticate(w http.ResponseWriter, r *http.Request, fleet *devicesim.Fleet, id string, faults devicesim.Faults, env *onvifwire.Envelope) bool {
	if preAuth[env.Op] {
		return true
	}
	username, password := fleet.CameraAccount()
	if c.digestRequired(id) {
		switch c.digest.Verify(r, username, password) {
		case httpdigest.OK:
		case httpdigest.Stale:
			c.digest.Challenge(w, true)
			writeFault(w, &fault{onvifwire.NotAuthorized(), http.StatusUnauthorized})
			return false
		default:
			c.digest.Challenge(w, false)
			writeFault(w, &fault{onvifwire.NotAuthorized(), http.StatusUnauthorized})
			return false
		}
	}
	if faults.AuthRefused || env.Security.Verify(username, password, c.clock(id), maxSkew) != nil {
		writeFault(w, &fault{onvifwire.NotAuthorized(), http.StatusBadRequest})
		return false
	}
	return true
}

// Register serves every device of fleet as a camera on mux.
func (c *Cameras) Register(mux *http.ServeMux, fleet *devicesim.Fleet) {
	mux.Handle("POST "+DevicePath, fleet.WithFaults(c.handler(fleet, deviceOps)))
	mux.Handle("POST "+SecurityPath, fleet.WithFaults(c.handler(fleet, securityOps)))
}

type camera struct {
	mu       sync.Mutex
	seq      int
	keys     map[string]*key
	certs    map[string]*cert
	paths    map[string]*path
	assigned []string
	dot1x    map[string]*dot1x
	onIface  string // the 802.1X configuration set on the interface
	policies map[string]*policy
}

// policy is a certification path validation policy: the trust anchors an
// 802.1X configuration validates the authentication server with.
type policy struct {
	id, alias string
	seq       int
	anchors   []string // certificate IDs
}

type dot1x struct {
	seq  int
	conf onvifwire.Dot1XConfiguration
}

// InterfaceToken is the token of every simulated camera's network interface.
const InterfaceToken = "eth0"

type key struct {
	id, alias string
	seq       int
	signer    crypto.Signer    // nil while generating, or for a public key only
	public    crypto.PublicKey // nil while generating
	stuck     bool
}

type cert struct {
	id, keyID, alias string
	seq              int
	c                *x509.Certificate
}

type path struct {
	id, alias string
	seq       int
	certIDs   []string
}

func (k *key) status() string {
	if k.stuck || k.public == nil {
		return onvifwire.KeyGenerating
	}
	return onvifwire.KeyOK
}

// camera returns the state of camera id, making its factory state on first use.
func (c *Cameras) camera(id string) (*camera, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cam, ok := c.cameras[id]; ok {
		return cam, nil
	}
	signer, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := c.now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: id, Organization: []string{"Simulated Camera Maker"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, DNSNames: []string{id},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	cam := &camera{
		seq:      3,
		keys:     map[string]*key{FactoryKeyID: {id: FactoryKeyID, alias: factoryAlias, seq: 1, signer: signer, public: signer.Public()}},
		certs:    map[string]*cert{FactoryCertID: {id: FactoryCertID, keyID: FactoryKeyID, alias: factoryAlias, seq: 2, c: leaf}},
		paths:    map[string]*path{FactoryPathID: {id: FactoryPathID, alias: factoryAlias, seq: 3, certIDs: []string{FactoryCertID}}},
		assigned: []string{FactoryPathID},
		dot1x:    map[string]*dot1x{},
		policies: map[string]*policy{},
	}
	c.cameras[id] = cam
	return cam, nil
}

func (cam *camera) newID(prefix string) (string, int) {
	cam.seq++
	return prefix + strconv.Itoa(cam.seq), cam.seq
}

// Inventory is what a camera holds, for tests and the admin view.
type Inventory struct {
	Keys     []KeyInfo
	Certs    []CertInfo
	Paths    []PathInfo
	Assigned []string
	// Dot1X lists the 802.1X configurations; Dot1XOnInterface is the one in use.
	Dot1X            []onvifwire.Dot1XConfiguration
	Dot1XOnInterface string
	// Policies are the certification path validation policies; an 802.1X
	// configuration names the one it validates the authentication server
	// with (Outer's CertPathValidationPolicyID).
	Policies []PolicyInfo
}

// PolicyInfo describes a certification path validation policy.
type PolicyInfo struct {
	ID, Alias string
	// TrustAnchors are the IDs of its trust anchor certificates, in order.
	TrustAnchors []string
}

// Dot1XCACertificateIDs returns the certificate IDs the 802.1X configuration
// on the interface trusts for the authentication server: the trust anchors
// of the policy its outer stage names (nil without one).
func (inv Inventory) Dot1XCACertificateIDs() []string {
	for _, d := range inv.Dot1X {
		if d.Dot1XID != inv.Dot1XOnInterface || d.Outer.CertPathValidationPolicyID == "" {
			continue
		}
		for _, p := range inv.Policies {
			if p.ID == d.Outer.CertPathValidationPolicyID {
				return append([]string(nil), p.TrustAnchors...)
			}
		}
	}
	return nil
}

// Dot1XCACertificates returns the certificates Dot1XCACertificateIDs names.
func (inv Inventory) Dot1XCACertificates() []*x509.Certificate {
	var out []*x509.Certificate
	for _, id := range inv.Dot1XCACertificateIDs() {
		for _, c := range inv.Certs {
			if c.ID == id {
				out = append(out, c.Cert)
			}
		}
	}
	return out
}

// KeyInfo describes a key.
type KeyInfo struct{ ID, Alias, Status string }

// CertInfo describes a certificate.
type CertInfo struct {
	ID, KeyID, Alias string
	Cert             *x509.Certificate
}

// PathInfo describes a certification path.
type PathInfo struct {
	ID, Alias      string
	CertificateIDs []string
}

// Inventory returns what camera id holds (its factory state if it was never called).
func (c *Cameras) Inventory(id string) (Inventory, error) {
	cam, err := c.camera(id)
	if err != nil {
		return Inventory{}, err
	}
	cam.mu.Lock()
	defer cam.mu.Unlock()
	var inv Inventory
	for _, k := range cam.sortedKeys() {
		inv.Keys = append(inv.Keys, KeyInfo{ID: k.id, Alias: k.alias, Status: k.status()})
	}
	for _, ct := range cam.sortedCerts() {
		inv.Certs = append(inv.Certs, CertInfo{ID: ct.id, KeyID: ct.keyID, Alias: ct.alias, Cert: ct.c})
	}
	for _, p := range cam.sortedPaths() {
		inv.Paths = append(inv.Paths, PathInfo{ID: p.id, Alias: p.alias, CertificateIDs: append([]string(nil), p.certIDs...)})
	}
	inv.Assigned = append([]string(nil), cam.assigned...)
	for _, d := range cam.sortedDot1X() {
		inv.Dot1X = append(inv.Dot1X, d.conf)
	}
	inv.Dot1XOnInterface = cam.onIface
	for _, p := range cam.sortedPolicies() {
		inv.Policies = append(inv.Policies, PolicyInfo{ID: p.id, Alias: p.alias, TrustAnchors: append([]string(nil), p.anchors...)})
	}
	return inv, nil
}

func (cam *camera) sortedKeys() []*key {
	out := make([]*key, 0, len(cam.keys))
	for _, k := range cam.keys {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

func (cam *camera) sortedCerts() []*cert {
	out := make([]*cert, 0, len(cam.certs))
	for _, ct := range cam.certs {
		out = append(out, ct)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

func (cam *camera) sortedDot1X() []*dot1x {
	out := make([]*dot1x, 0, len(cam.dot1x))
	for _, d := range cam.dot1x {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

func (cam *camera) sortedPolicies() []*policy {
	out := make([]*policy, 0, len(cam.policies))
	for _, p := range cam.policies {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

func (cam *camera) sortedPaths() []*path {
	out := make([]*path, 0, len(cam.paths))
	for _, p := range cam.paths {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// request is one call being served.
type request struct {
	c      *Cameras
	id     string
	cam    *camera
	faults devicesim.Faults
	r      *http.Request
}

// op is an operation: a new request element, and what to do with it.
type op struct {
	new   func() any
	serve func(rq *request, body any) (any, *fault)
}

// fault is a SOAP fault with its HTTP status.
type fault struct {
	*onvifwire.Fault
	status int
}

func sender(subcodes []string, reason string, args ...any) *fault {
	return &fault{&onvifwire.Fault{Code: onvifwire.Sender, Subcodes: subcodes, Reason: fmt.Sprintf(reason, args...)}, http.StatusBadRequest}
}

func invalidArg(detail, reason string, args ...any) *fault {
	return &fault{onvifwire.InvalidArgVal(detail, reason, args...), http.StatusBadRequest}
}

var errUnknownOp = errors.New("unknown operation")

func (c *Cameras) handler(fleet *devicesim.Fleet, ops map[xml.Name]op) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		faults, err := fleet.FaultsOf(id)
		if err != nil {
			http.Error(w, fmt.Sprintf("no simulated camera %q", id), http.StatusNotFound)
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != onvifwire.ContentType {
			writeFault(w, &fault{&onvifwire.Fault{Code: onvifwire.Sender, Subcodes: []string{"InvalidArgVal"},
				Reason: "the content type must be " + onvifwire.ContentType + " (SOAP 1.2)"}, http.StatusUnsupportedMediaType})
			return
		}
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, onvifwire.MaxMessage))
		if err != nil {
			writeFault(w, &fault{&onvifwire.Fault{Code: onvifwire.Sender, Subcodes: []string{"InvalidArgVal"}, Reason: "message too large"}, http.StatusRequestEntityTooLarge})
			return
		}
		var chosen op
		var body any
		env, err := onvifwire.Unmarshal(data, func(name xml.Name) (any, error) {
			o, ok := ops[name]
			if !ok {
				return nil, errUnknownOp
			}
			chosen, body = o, o.new()
			return body, nil
		})
		var args *onvifwire.ArgsError
		switch {
		case errors.Is(err, errUnknownOp):
			writeFault(w, &fault{&onvifwire.Fault{Code: onvifwire.Receiver, Subcodes: []string{"ActionNotSupported"},
				Reason: "the service does not support this operation"}, http.StatusBadRequest})
			return
		case errors.Is(err, onvifwire.ErrVersionMismatch):
			writeFault(w, &fault{&onvifwire.Fault{Code: "VersionMismatch", Reason: "SOAP 1.2 envelopes only"}, http.StatusBadRequest})
			return
		case errors.As(err, &args):
			writeFault(w, sender([]string{"InvalidArgs"}, "%s: the arguments do not parse", args.Op))
			return
		case err != nil:
			writeFault(w, sender([]string{"WellFormed"}, "the message is not a well-formed SOAP 1.2 envelope"))
			return
		case env.Fault != nil:
			writeFault(w, sender([]string{"InvalidArgVal"}, "a request cannot be a fault"))
			return
		}
		c.count(id, env.Op.Local)
		if !c.authenticate(w, r, fleet, id, faults, env) {
			return
		}
		cam, err := c.camera(id)
		if err != nil {
			writeFault(w, &fault{&onvifwire.Fault{Code: onvifwire.Receiver, Subcodes: []string{"Action"}, Reason: "camera failed to start"}, http.StatusInternalServerError})
			return
		}
		rq := &request{c: c, id: id, cam: cam, faults: faults, r: r}
		cam.mu.Lock()
		resp, f := chosen.serve(rq, body)
		cam.mu.Unlock()
		if f != nil {
			writeFault(w, f)
			return
		}
		out, err := onvifwire.Marshal(nil, resp)
		if err != nil {
			http.Error(w, "encode answer", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", onvifwire.ContentType+"; charset=utf-8")
		_, _ = w.Write(out)
	})
}

func writeFault(w http.ResponseWriter, f *fault) {
	out, err := onvifwire.Marshal(nil, f.Fault)
	if err != nil {
		http.Error(w, "encode fault", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", onvifwire.ContentType+"; charset=utf-8")
	w.WriteHeader(f.status)
	_, _ = w.Write(out)
}

func opOf[T any](serve func(rq *request, body *T) (any, *fault)) op {
	return op{new: func() any { return new(T) }, serve: func(rq *request, body any) (any, *fault) { return serve(rq, body.(*T)) }}
}

func name(ns, local string) xml.Name { return xml.Name{Space: ns, Local: local} }

var deviceOps = map[xml.Name]op{
	name(onvifwire.NSTds, "GetServices"): opOf(func(rq *request, _ *onvifwire.GetServices) (any, *fault) {
		scheme := "http"
		if rq.r.TLS != nil {
			scheme = "https"
		}
		base := scheme + "://" + rq.r.Host + "/onvif/" + rq.id
		return &onvifwire.GetServicesResponse{Service: []onvifwire.Service{
			{Namespace: onvifwire.NSTds, XAddr: base + "/device_service", Version: onvifwire.OnvifVersion{Major: 25, Minor: 12}},
			{Namespace: onvifwire.NSTas, XAddr: base + "/advancedsecurity_service", Version: onvifwire.OnvifVersion{Major: 25, Minor: 12}},
		}}, nil
	}),
	name(onvifwire.NSTds, "GetSystemDateAndTime"): opOf(func(rq *request, _ *onvifwire.GetSystemDateAndTime) (any, *fault) {
		return &onvifwire.GetSystemDateAndTimeResponse{SystemDateAndTime: onvifwire.SystemDateTime{
			DateTimeType: "NTP", TimeZone: &onvifwire.TimeZone{TZ: "UTC0"}, UTCDateTime: onvifwire.NewDateTime(rq.c.clock(rq.id)),
		}}, nil
	}),
	name(onvifwire.NSTds, "GetNetworkInterfaces"): opOf(func(rq *request, _ *onvifwire.GetNetworkInterfaces) (any, *fault) {
		return &onvifwire.GetNetworkInterfacesResponse{NetworkInterfaces: []onvifwire.NetworkInterface{{Token: InterfaceToken, Enabled: true}}}, nil
	}),
}

var securityOps = map[xml.Name]op{}

func init() {
	add := func(local string, o op) { securityOps[name(onvifwire.NSTas, local)] = o }
	add("CreateRSAKeyPair", opOf(createRSA))
	add("CreateECCKeyPair", opOf(createECC))
	add("GetKeyStatus", opOf(getKeyStatus))
	add("GetAllKeys", opOf(getAllKeys))
	add("DeleteKey", opOf(deleteKey))
	add("CreatePKCS10CSR", opOf(createCSR))
	add("UploadCertificate", opOf(uploadCertificate))
	add("GetCertificate", opOf(getCertificate))
	add("GetAllCertificates", opOf(getAllCertificates))
	add("DeleteCertificate", opOf(deleteCertificate))
	add("CreateCertificationPath", opOf(createPath))
	add("GetCertificationPath", opOf(getPath))
	add("GetAllCertificationPaths", opOf(getAllPaths))
	add("DeleteCertificationPath", opOf(deletePath))
	add("AddServerCertificateAssignment", opOf(addAssignment))
	add("RemoveServerCertificateAssignment", opOf(removeAssignment))
	add("ReplaceServerCertificateAssignment", opOf(replaceAssignment))
	add("GetAssignedServerCertificates", opOf(getAssigned))
	add("AddDot1XConfiguration", opOf(addDot1X))
	add("GetAllDot1XConfigurations", opOf(getAllDot1X))
	add("GetDot1XConfiguration", opOf(getDot1X))
	add("DeleteDot1XConfiguration", opOf(deleteDot1X))
	add("SetNetworkInterfaceDot1XConfiguration", opOf(setIfaceDot1X))
	add("GetNetworkInterfaceDot1XConfiguration", opOf(getIfaceDot1X))
	add("DeleteNetworkInterfaceDot1XConfiguration", opOf(deleteIfaceDot1X))
	add("CreateCertPathValidationPolicy", opOf(createPolicy))
	add("GetCertPathValidationPolicy", opOf(getPolicy))
	add("GetAllCertPathValidationPolicies", opOf(getAllPolicies))
	add("DeleteCertPathValidationPolicy", opOf(deletePolicy))
}

// maxKeys bounds a camera's keystore, as real cameras do.
const maxKeys = 32

func (rq *request) newKey(alias string, spec pki.KeySpec) (string, *fault) {
	if len(rq.cam.keys) >= maxKeys {
		return "", &fault{&onvifwire.Fault{Code: onvifwire.Receiver, Subcodes: []string{"Action", "MaximumNumberOfKeysReached"},
			Reason: "the keystore is full"}, http.StatusBadRequest}
	}
	id, seq := rq.cam.newID("Key")
	k := &key{id: id, alias: alias, seq: seq}
	if rq.faults.KeyGenStuck {
		k.stuck = true
	} else {
		signer, err := pki.GenerateKey(spec)
		if err != nil {
			return "", invalidArg("KeyLength", "%v", err)
		}
		k.signer, k.public = signer, signer.Public()
	}
	rq.cam.keys[id] = k
	return id, nil
}

func createRSA(rq *request, b *onvifwire.CreateRSAKeyPair) (any, *fault) {
	spec := pki.KeySpec{Algorithm: "rsa", Size: b.KeyLength}
	if !spec.Supported() {
		return nil, invalidArg("KeyLength", "RSA key length %d is not supported (2048, 3072, 4096)", b.KeyLength)
	}
	id, f := rq.newKey(b.Alias, spec)
	if f != nil {
		return nil, f
	}
	return &onvifwire.CreateRSAKeyPairResponse{KeyID: id, EstimatedCreationTime: "PT1S"}, nil
}

func createECC(rq *request, b *onvifwire.CreateECCKeyPair) (any, *fault) {
	var spec pki.KeySpec
	switch strings.TrimSpace(b.EllipticCurve) {
	case "secp256r1":
		spec = pki.KeySpec{Algorithm: "ecdsa", Size: 256}
	case "secp384r1":
		spec = pki.KeySpec{Algorithm: "ecdsa", Size: 384}
	default:
		return nil, invalidArg("EllipticCurve", "elliptic curve %q is not supported (secp256r1, secp384r1)", b.EllipticCurve)
	}
	id, f := rq.newKey(b.Alias, spec)
	if f != nil {
		return nil, f
	}
	return &onvifwire.CreateECCKeyPairResponse{KeyID: id, EstimatedCreationTime: "PT0S"}, nil
}

func (rq *request) key(id string) (*key, *fault) {
	k, ok := rq.cam.keys[strings.TrimSpace(id)]
	if !ok {
		return nil, invalidArg("KeyID", "no key %q", id)
	}
	return k, nil
}

func getKeyStatus(rq *request, b *onvifwire.GetKeyStatus) (any, *fault) {
	k, f := rq.key(b.KeyID)
	if f != nil {
		return nil, f
	}
	return &onvifwire.GetKeyStatusResponse{KeyStatus: k.status()}, nil
}

func getAllKeys(rq *request, _ *onvifwire.GetAllKeys) (any, *fault) {
	resp := &onvifwire.GetAllKeysResponse{}
	for _, k := range rq.cam.sortedKeys() {
		has := k.signer != nil
		resp.KeyAttribute = append(resp.KeyAttribute, onvifwire.KeyAttribute{KeyID: k.id, Alias: k.alias, HasPrivateKey: &has, KeyStatus: k.status()})
	}
	return resp, nil
}

func deleteKey(rq *request, b *onvifwire.DeleteKey) (any, *fault) {
	k, f := rq.key(b.KeyID)
	if f != nil {
		return nil, f
	}
	for _, ct := range rq.cam.certs {
		if ct.keyID == k.id {
			return nil, invalidArg("ReferenceExists", "key %s is certified by certificate %s", k.id, ct.id)
		}
	}
	delete(rq.cam.keys, k.id)
	return &onvifwire.DeleteKeyResponse{}, nil
}

var signatureAlgorithms = map[string]x509.SignatureAlgorithm{
	onvifwire.OIDSHA256WithRSA:   x509.SHA256WithRSA,
	onvifwire.OIDECDSAWithSHA256: x509.ECDSAWithSHA256,
	onvifwire.OIDECDSAWithSHA384: x509.ECDSAWithSHA384,
}

func createCSR(rq *request, b *onvifwire.CreatePKCS10CSR) (any, *fault) {
	k, f := rq.key(b.KeyID)
	if f != nil {
		return nil, f
	}
	if k.status() != onvifwire.KeyOK {
		return nil, invalidArg("KeyStatus", "key %s is %s", k.id, k.status())
	}
	if k.signer == nil {
		return nil, invalidArg("NoPrivateKey", "key %s has no private key", k.id)
	}
	alg, ok := signatureAlgorithms[strings.TrimSpace(b.SignatureAlgorithm.Algorithm)]
	if !ok {
		return nil, invalidArg("SignatureAlgorithm", "signature algorithm %q is not supported", b.SignatureAlgorithm.Algorithm)
	}
	_, isRSA := k.public.(*rsa.PublicKey)
	if isRSA != (alg == x509.SHA256WithRSA) {
		return nil, invalidArg("SignatureAlgorithm", "signature algorithm %s does not fit key %s", b.SignatureAlgorithm.Algorithm, k.id)
	}
	if rq.faults.CSRFailure {
		return nil, &fault{&onvifwire.Fault{Code: onvifwire.Receiver, Subcodes: []string{"Action", "CSRFailed"}, Reason: "simulated CSR failure"}, http.StatusInternalServerError}
	}
	dn := b.Subject
	tmpl := &x509.CertificateRequest{SignatureAlgorithm: alg, Subject: pkix.Name{
		Country: dn.Country, Organization: dn.Organization, OrganizationalUnit: dn.OrganizationalUnit,
	}}
	if len(dn.CommonName) > 0 {
		tmpl.Subject.CommonName = dn.CommonName[0]
	}
	if len(dn.SerialNumber) > 0 {
		tmpl.Subject.SerialNumber = dn.SerialNumber[0]
	}
	for _, attr := range b.CSRAttribute {
		ext := attr.X509v3Extension
		if ext == nil {
			return nil, invalidArg("CSRAttribute", "only X509v3Extension attributes are supported")
		}
		if strings.TrimSpace(ext.ExtnOID) != onvifwire.OIDSubjectAltName {
			return nil, invalidArg("CSRAttribute", "extension %q is not supported", ext.ExtnOID)
		}
		value, err := base64.StdEncoding.DecodeString(strings.TrimSpace(ext.ExtnValue))
		if err != nil || onvifwire.CheckSANs(value) != nil {
			return nil, invalidArg("CSRAttribute", "the subjectAltName extension is malformed")
		}
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Critical: ext.Critical, Value: value})
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, k.signer)
	if err != nil {
		return nil, invalidArg("Subject", "cannot make the CSR: %v", err)
	}
	return &onvifwire.CreatePKCS10CSRResponse{PKCS10CSR: base64.StdEncoding.EncodeToString(der)}, nil
}

func uploadCertificate(rq *request, b *onvifwire.UploadCertificate) (any, *fault) {
	if rq.faults.InstallFailure {
		return nil, sender([]string{"OperationProhibited", "InstallRejected"}, "simulated install failure")
	}
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b.Certificate))
	if err != nil {
		return nil, invalidArg("BadCertificate", "the certificate is not base64")
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, invalidArg("BadCertificate", "the certificate does not parse")
	}
	var match *key
	for _, k := range rq.cam.sortedKeys() {
		if k.public != nil && pki.SamePublicKey(k.public, c.PublicKey) {
			match = k
			break
		}
	}
	privateRequired := b.PrivateKeyRequired != nil && *b.PrivateKeyRequired
	if privateRequired && (match == nil || match.signer == nil) {
		return nil, invalidArg("NoMatchingPrivateKey", "the keystore holds no private key for this certificate")
	}
	if match == nil {
		if len(rq.cam.keys) >= maxKeys {
			return nil, &fault{&onvifwire.Fault{Code: onvifwire.Receiver, Subcodes: []string{"Action", "MaximumNumberOfKeysReached"}, Reason: "the keystore is full"}, http.StatusBadRequest}
		}
		id, seq := rq.cam.newID("Key")
		match = &key{id: id, alias: b.KeyAlias, seq: seq, public: c.PublicKey}
		rq.cam.keys[id] = match
	}
	if len(rq.cam.certs) >= maxKeys {
		return nil, &fault{&onvifwire.Fault{Code: onvifwire.Receiver, Subcodes: []string{"Action", "MaximumNumberOfCertificatesReached"}, Reason: "the keystore is full"}, http.StatusBadRequest}
	}
	id, seq := rq.cam.newID("Cert")
	rq.cam.certs[id] = &cert{id: id, keyID: match.id, alias: b.Alias, seq: seq, c: c}
	return &onvifwire.UploadCertificateResponse{CertificateID: id, KeyID: match.id}, nil
}

func (rq *request) cert(id string) (*cert, *fault) {
	ct, ok := rq.cam.certs[strings.TrimSpace(id)]
	if !ok {
		return nil, invalidArg("CertificateID", "no certificate %q", id)
	}
	return ct, nil
}

func x509Certificate(ct *cert, cam *camera) onvifwire.X509Certificate {
	has := false
	if k, ok := cam.keys[ct.keyID]; ok && k.signer != nil {
		has = true
	}
	return onvifwire.X509Certificate{CertificateID: ct.id, KeyID: ct.keyID, Alias: ct.alias,
		CertificateContent: base64.StdEncoding.EncodeToString(ct.c.Raw), HasPrivateKey: &has}
}

func getCertificate(rq *request, b *onvifwire.GetCertificate) (any, *fault) {
	ct, f := rq.cert(b.CertificateID)
	if f != nil {
		return nil, f
	}
	return &onvifwire.GetCertificateResponse{Certificate: x509Certificate(ct, rq.cam)}, nil
}

func getAllCertificates(rq *request, _ *onvifwire.GetAllCertificates) (any, *fault) {
	resp := &onvifwire.GetAllCertificatesResponse{}
	for _, ct := range rq.cam.sortedCerts() {
		resp.Certificate = append(resp.Certificate, x509Certificate(ct, rq.cam))
	}
	return resp, nil
}

func deleteCertificate(rq *request, b *onvifwire.DeleteCertificate) (any, *fault) {
	ct, f := rq.cert(b.CertificateID)
	if f != nil {
		return nil, f
	}
	for _, p := range rq.cam.paths {
		for _, id := range p.certIDs {
			if id == ct.id {
				return nil, invalidArg("ReferenceExists", "certificate %s is in certification path %s", ct.id, p.id)
			}
		}
	}
	for _, p := range rq.cam.policies {
		for _, id := range p.anchors {
			if id == ct.id {
				return nil, invalidArg("ReferenceExists", "certificate %s is a trust anchor of certification path validation policy %s", ct.id, p.id)
			}
		}
	}
	delete(rq.cam.certs, ct.id)
	return &onvifwire.DeleteCertificateResponse{}, nil
}

func createPath(rq *request, b *onvifwire.CreateCertificationPath) (any, *fault) {
	ids := b.CertificateIDs.CertificateID
	if len(ids) == 0 || len(ids) > 8 {
		return nil, invalidArg("CertificateIDs", "a certification path holds 1 to 8 certificates")
	}
	certs := make([]*x509.Certificate, len(ids))
	for i, id := range ids {
		ct, f := rq.cert(id)
		if f != nil {
			return nil, f
		}
		certs[i] = ct.c
		ids[i] = ct.id
	}
	for i := 0; i+1 < len(certs); i++ {
		if err := certs[i].CheckSignatureFrom(certs[i+1]); err != nil {
			return nil, invalidArg("InvalidCertificateChain", "certificate %d is not signed by certificate %d", i+1, i+2)
		}
	}
	if len(rq.cam.paths) >= maxKeys {
		return nil, &fault{&onvifwire.Fault{Code: onvifwire.Receiver, Subcodes: []string{"Action", "MaximumNumberOfCertificationPathsReached"}, Reason: "the keystore is full"}, http.StatusBadRequest}
	}
	id, seq := rq.cam.newID("CertPath")
	rq.cam.paths[id] = &path{id: id, alias: b.Alias, seq: seq, certIDs: append([]string(nil), ids...)}
	return &onvifwire.CreateCertificationPathResponse{CertificationPathID: id}, nil
}

func (rq *request) path(id string) (*path, *fault) {
	p, ok := rq.cam.paths[strings.TrimSpace(id)]
	if !ok {
		return nil, invalidArg("CertificationPathID", "no certification path %q", id)
	}
	return p, nil
}

func getPath(rq *request, b *onvifwire.GetCertificationPath) (any, *fault) {
	p, f := rq.path(b.CertificationPathID)
	if f != nil {
		return nil, f
	}
	return &onvifwire.GetCertificationPathResponse{CertificationPath: onvifwire.CertificationPath{CertificateID: append([]string(nil), p.certIDs...), Alias: p.alias}}, nil
}

func getAllPaths(rq *request, _ *onvifwire.GetAllCertificationPaths) (any, *fault) {
	resp := &onvifwire.GetAllCertificationPathsResponse{}
	for _, p := range rq.cam.sortedPaths() {
		resp.CertificationPathID = append(resp.CertificationPathID, p.id)
	}
	return resp, nil
}

func (cam *camera) isAssigned(id string) bool {
	for _, a := range cam.assigned {
		if a == id {
			return true
		}
	}
	return false
}

func deletePath(rq *request, b *onvifwire.DeleteCertificationPath) (any, *fault) {
	p, f := rq.path(b.CertificationPathID)
	if f != nil {
		return nil, f
	}
	if rq.cam.isAssigned(p.id) {
		return nil, invalidArg("ReferenceExists", "certification path %s is assigned to the TLS server", p.id)
	}
	for _, d := range rq.cam.dot1x {
		for st := &d.conf.Outer; st != nil; st = st.Inner {
			if st.CertificationPathID == p.id {
				return nil, invalidArg("ReferenceExists", "certification path %s is in 802.1X configuration %s", p.id, d.conf.Dot1XID)
			}
		}
	}
	delete(rq.cam.paths, p.id)
	return &onvifwire.DeleteCertificationPathResponse{}, nil
}

// checkServable refuses a path the TLS server could not serve: its leaf's
// private key must be in the keystore, its certificates valid now, and the
// path must chain.
func (rq *request) checkServable(p *path) *fault {
	now := rq.c.now()
	var certs []*x509.Certificate
	for _, id := range p.certIDs {
		ct, ok := rq.cam.certs[id]
		if !ok {
			return invalidArg("CertificationPathID", "certification path %s refers to a deleted certificate", p.id)
		}
		certs = append(certs, ct.c)
	}
	leaf := rq.cam.certs[p.certIDs[0]]
	k, ok := rq.cam.keys[leaf.keyID]
	if !ok || k.signer == nil || !pki.SamePublicKey(k.public, leaf.c.PublicKey) {
		return invalidArg("NoMatchingPrivateKey", "the keystore holds no private key for the leaf of certification path %s", p.id)
	}
	for i, c := range certs {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return invalidArg("InvalidCertificate", "certificate %d of path %s is not valid now", i+1, p.id)
		}
		if i+1 < len(certs) && c.CheckSignatureFrom(certs[i+1]) != nil {
			return invalidArg("InvalidCertificateChain", "certificate %d of path %s is not signed by the next", i+1, p.id)
		}
	}
	return nil
}

// maxTLSPaths is how many paths the simulated TLS server takes at once.
const maxTLSPaths = 1

func addAssignment(rq *request, b *onvifwire.AddServerCertificateAssignment) (any, *fault) {
	p, f := rq.path(b.CertificationPathID)
	if f != nil {
		return nil, f
	}
	if rq.cam.isAssigned(p.id) {
		return nil, invalidArg("AlreadyAssigned", "certification path %s is already assigned", p.id)
	}
	if len(rq.cam.assigned) >= maxTLSPaths {
		return nil, &fault{&onvifwire.Fault{Code: onvifwire.Receiver, Subcodes: []string{"Action", "MaximumNumberOfTLSCertificationPathsReached"},
			Reason: "the TLS server takes one certification path; use ReplaceServerCertificateAssignment"}, http.StatusBadRequest}
	}
	if f := rq.checkServable(p); f != nil {
		return nil, f
	}
	rq.cam.assigned = append(rq.cam.assigned, p.id)
	return &onvifwire.AddServerCertificateAssignmentResponse{}, nil
}

func removeAssignment(rq *request, b *onvifwire.RemoveServerCertificateAssignment) (any, *fault) {
	p, f := rq.path(b.CertificationPathID)
	if f != nil {
		return nil, f
	}
	if !rq.cam.isAssigned(p.id) {
		return nil, invalidArg("NotAssigned", "certification path %s is not assigned", p.id)
	}
	rq.cam.assigned = without(rq.cam.assigned, p.id)
	return &onvifwire.RemoveServerCertificateAssignmentResponse{}, nil
}

func replaceAssignment(rq *request, b *onvifwire.ReplaceServerCertificateAssignment) (any, *fault) {
	old, f := rq.path(b.OldCertificationPathID)
	if f != nil {
		return nil, f
	}
	p, f := rq.path(b.NewCertificationPathID)
	if f != nil {
		return nil, f
	}
	if !rq.cam.isAssigned(old.id) {
		return nil, invalidArg("NotAssigned", "certification path %s is not assigned", old.id)
	}
	if rq.cam.isAssigned(p.id) {
		return nil, invalidArg("AlreadyAssigned", "certification path %s is already assigned", p.id)
	}
	if f := rq.checkServable(p); f != nil {
		return nil, f
	}
	for i, id := range rq.cam.assigned {
		if id == old.id {
			rq.cam.assigned[i] = p.id
		}
	}
	return &onvifwire.ReplaceServerCertificateAssignmentResponse{}, nil
}

func getAssigned(rq *request, _ *onvifwire.GetAssignedServerCertificates) (any, *fault) {
	return &onvifwire.GetAssignedServerCertificatesResponse{CertificationPathID: append([]string(nil), rq.cam.assigned...)}, nil
}

func without(ids []string, id string) []string {
	out := ids[:0:0]
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

// ---- IEEE 802.1X ----

// maxDot1X is how many 802.1X configurations a camera keeps.
const maxDot1X = 4

func addDot1X(rq *request, b *onvifwire.AddDot1XConfiguration) (any, *fault) {
	conf := b.Dot1XConfiguration
	if conf.Outer.Method != onvifwire.EAPTLS {
		return nil, invalidArg("Dot1XMethod", "802.1X method %q is not supported (EAP-TLS)", conf.Outer.Method)
	}
	if conf.Outer.Inner != nil {
		return nil, invalidArg("Dot1XMethod", "EAP-TLS has no inner stage")
	}
	if strings.TrimSpace(conf.Outer.Identity) == "" {
		return nil, invalidArg("Identity", "EAP-TLS needs an identity")
	}
	p, f := rq.path(conf.Outer.CertificationPathID)
	if f != nil {
		return nil, f
	}
	if f := rq.checkServable(p); f != nil {
		return nil, f
	}
	if id := strings.TrimSpace(conf.Outer.CertPathValidationPolicyID); id != "" {
		pol, f := rq.policy(id)
		if f != nil {
			return nil, f
		}
		conf.Outer.CertPathValidationPolicyID = pol.id
	}
	if len(rq.cam.dot1x) >= maxDot1X {
		return nil, &fault{&onvifwire.Fault{Code: onvifwire.Receiver, Subcodes: []string{"Action", "MaximumNumberOfDot1XConfigurationsReached"}, Reason: "too many 802.1X configurations"}, http.StatusBadRequest}
	}
	id, seq := rq.cam.newID("Dot1X")
	conf.Dot1XID = id
	conf.Outer.CertificationPathID = p.id
	rq.cam.dot1x[id] = &dot1x{seq: seq, conf: conf}
	return &onvifwire.AddDot1XConfigurationResponse{Dot1XID: id}, nil
}

func (rq *request) dot1x(id string) (*dot1x, *fault) {
	d, ok := rq.cam.dot1x[strings.TrimSpace(id)]
	if !ok {
		return nil, invalidArg("Dot1XID", "no 802.1X configuration %q", id)
	}
	return d, nil
}

func getAllDot1X(rq *request, _ *onvifwire.GetAllDot1XConfigurations) (any, *fault) {
	resp := &onvifwire.GetAllDot1XConfigurationsResponse{}
	for _, d := range rq.cam.sortedDot1X() {
		resp.Configuration = append(resp.Configuration, d.conf)
	}
	return resp, nil
}

func getDot1X(rq *request, b *onvifwire.GetDot1XConfiguration) (any, *fault) {
	d, f := rq.dot1x(b.Dot1XID)
	if f != nil {
		return nil, f
	}
	return &onvifwire.GetDot1XConfigurationResponse{Dot1XConfiguration: d.conf}, nil
}

func deleteDot1X(rq *request, b *onvifwire.DeleteDot1XConfiguration) (any, *fault) {
	d, f := rq.dot1x(b.Dot1XID)
	if f != nil {
		return nil, f
	}
	if rq.cam.onIface == d.conf.Dot1XID {
		return nil, invalidArg("ReferenceExists", "802.1X configuration %s is set on interface %s", d.conf.Dot1XID, InterfaceToken)
	}
	delete(rq.cam.dot1x, d.conf.Dot1XID)
	return &onvifwire.DeleteDot1XConfigurationResponse{}, nil
}

func checkToken(token string) *fault {
	if strings.TrimSpace(token) != InterfaceToken {
		return invalidArg("InvalidNetworkInterface", "no network interface %q", token)
	}
	return nil
}

func setIfaceDot1X(rq *request, b *onvifwire.SetNetworkInterfaceDot1XConfiguration) (any, *fault) {
	if f := checkToken(b.Token); f != nil {
		return nil, f
	}
	d, f := rq.dot1x(b.Dot1XID)
	if f != nil {
		return nil, f
	}
	rq.cam.onIface = d.conf.Dot1XID
	return &onvifwire.SetNetworkInterfaceDot1XConfigurationResponse{RebootNeeded: false}, nil
}

func getIfaceDot1X(rq *request, b *onvifwire.GetNetworkInterfaceDot1XConfiguration) (any, *fault) {
	if f := checkToken(b.Token); f != nil {
		return nil, f
	}
	return &onvifwire.GetNetworkInterfaceDot1XConfigurationResponse{Dot1XID: rq.cam.onIface}, nil
}

func deleteIfaceDot1X(rq *request, b *onvifwire.DeleteNetworkInterfaceDot1XConfiguration) (any, *fault) {
	if f := checkToken(b.Token); f != nil {
		return nil, f
	}
	rq.cam.onIface = ""
	return &onvifwire.DeleteNetworkInterfaceDot1XConfigurationResponse{}, nil
}

// ---- Certification path validation policies ----

// maxPolicies is how many certification path validation policies a camera keeps.
const maxPolicies = 8

func createPolicy(rq *request, b *onvifwire.CreateCertPathValidationPolicy) (any, *fault) {
	if len(b.TrustAnchor) == 0 {
		return nil, invalidArg("TrustAnchor", "a certification path validation policy needs a trust anchor")
	}
	var anchors []string
	for _, a := range b.TrustAnchor {
		ct, f := rq.cert(a.CertificateID)
		if f != nil {
			return nil, f
		}
		anchors = append(anchors, ct.id)
	}
	if len(rq.cam.policies) >= maxPolicies {
		return nil, &fault{&onvifwire.Fault{Code: onvifwire.Receiver, Subcodes: []string{"Action", "MaximumNumberOfCertPathValidationPoliciesReached"},
			Reason: "too many certification path validation policies"}, http.StatusBadRequest}
	}
	id, seq := rq.cam.newID("CertPathValidationPolicy")
	rq.cam.policies[id] = &policy{id: id, alias: b.Alias, seq: seq, anchors: anchors}
	return &onvifwire.CreateCertPathValidationPolicyResponse{CertPathValidationPolicyID: id}, nil
}

func (rq *request) policy(id string) (*policy, *fault) {
	p, ok := rq.cam.policies[strings.TrimSpace(id)]
	if !ok {
		return nil, invalidArg("CertPathValidationPolicyID", "no certification path validation policy %q", id)
	}
	return p, nil
}

func wirePolicy(p *policy) onvifwire.CertPathValidationPolicy {
	out := onvifwire.CertPathValidationPolicy{CertPathValidationPolicyID: p.id, Alias: p.alias}
	for _, id := range p.anchors {
		out.TrustAnchor = append(out.TrustAnchor, onvifwire.TrustAnchor{CertificateID: id})
	}
	return out
}

func getPolicy(rq *request, b *onvifwire.GetCertPathValidationPolicy) (any, *fault) {
	p, f := rq.policy(b.CertPathValidationPolicyID)
	if f != nil {
		return nil, f
	}
	return &onvifwire.GetCertPathValidationPolicyResponse{CertPathValidationPolicy: wirePolicy(p)}, nil
}

func getAllPolicies(rq *request, _ *onvifwire.GetAllCertPathValidationPolicies) (any, *fault) {
	resp := &onvifwire.GetAllCertPathValidationPoliciesResponse{}
	for _, p := range rq.cam.sortedPolicies() {
		resp.CertPathValidationPolicy = append(resp.CertPathValidationPolicy, wirePolicy(p))
	}
	return resp, nil
}

func deletePolicy(rq *request, b *onvifwire.DeleteCertPathValidationPolicy) (any, *fault) {
	p, f := rq.policy(b.CertPathValidationPolicyID)
	if f != nil {
		return nil, f
	}
	for _, d := range rq.cam.dot1x {
		for st := &d.conf.Outer; st != nil; st = st.Inner {
			if st.CertPathValidationPolicyID == p.id {
				return nil, invalidArg("ReferenceExists", "certification path validation policy %s is in 802.1X configuration %s", p.id, d.conf.Dot1XID)
			}
		}
	}
	delete(rq.cam.policies, p.id)
	return &onvifwire.DeleteCertPathValidationPolicyResponse{}, nil
}
