package local

import (
	"cmp"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/pki"
)

// An issuing CA under an outside root is made in two steps, so that its key
// never leaves certfleet: RequestIssuingCA makes the key (sealed under the
// key-encryption key) and the CSR the root's owner signs; CompleteIssuingCA
// checks the certificate they return and puts the CA to work.

var caName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// minOutsideValidity is the least validity an outside-signed issuing CA
// must have left: less would have its devices renewing again at once.
const minOutsideValidity = 30 * 24 * time.Hour

var (
	oidBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidKeyUsage         = asn1.ObjectIdentifier{2, 5, 29, 15}
)

// RequestIssuingCA makes the key of a new issuing CA and returns it pending,
// with the CSR for the outside root. audit, unless nil, writes the audit row
// in the same transaction.
func (s *Set) RequestIssuingCA(ctx context.Context, req ca.IssuingCARequest, createdBy string, audit func(*store.Queries) error) (ca.Info, error) {
	spec, err := checkIssuingCARequest(&req)
	if err != nil {
		return ca.Info{}, err
	}
	key, err := pki.GenerateKey(spec)
	if err != nil {
		return ca.Info{}, err
	}
	csrDER, err := issuingCSR(req, key)
	if err != nil {
		return ca.Info{}, err
	}
	sealed, err := seal(s.keys, key, keyContext(req.Name, "issuing"))
	if err != nil {
		return ca.Info{}, err
	}
	var row store.PendingCa
	err = s.change(ctx, audit, func(q *store.Queries) error {
		row, err = q.CreatePendingCA(ctx, store.CreatePendingCAParams{Name: req.Name, KeySpec: spec.String(), KeySealed: sealed, CsrDer: csrDER, CreatedBy: createdBy})
		if errors.Is(err, pgx.ErrNoRows) {
			return errkind.Conflict("a CA called %q exists", req.Name)
		}
		return err
	})
	if err != nil {
		return ca.Info{}, err
	}
	return pendingInfo(row), nil
}

func checkIssuingCARequest(req *ca.IssuingCARequest) (pki.KeySpec, error) {
	switch {
	case !caName.MatchString(req.Name):
		return pki.KeySpec{}, errkind.Invalid("name", "lowercase letters, digits and hyphens, starting with a letter, at most 63")
	case req.CommonName == "" || len(req.CommonName) > 64:
		return pki.KeySpec{}, errkind.Invalid("common_name", "1 to 64 characters")
	case len(req.Organization) > 64:
		return pki.KeySpec{}, errkind.Invalid("organization", "at most 64 characters")
	}
	if req.Key == "" {
		req.Key = "ecdsa-p256"
	}
	spec, err := pki.ParseKeySpec(req.Key)
	if err != nil {
		return spec, errkind.Invalid("key", "%v", err)
	}
	return spec, nil
}

// issuingCSR asks for what certfleet needs of its issuing CA: CA:TRUE with
// a path length of 0 (it signs only devices' certificates) and the right to
// sign certificates and CRLs. A root's owner may copy these extensions
// (openssl x509 -req -copy_extensions copy) or set their own.
func issuingCSR(req ca.IssuingCARequest, key crypto.Signer) ([]byte, error) {
	basic, err := asn1.Marshal(struct {
		IsCA       bool `asn1:"optional"`
		MaxPathLen int  `asn1:"optional,default:-1"`
	}{true, 0})
	if err != nil {
		return nil, err
	}
	// keyCertSign (bit 5) and cRLSign (bit 6) of KeyUsage, digitalSignature (bit 0) for OCSP signers.
	usage, err := asn1.Marshal(asn1.BitString{Bytes: []byte{0x86}, BitLength: 7})
	if err != nil {
		return nil, err
	}
	subject := pkix.Name{CommonName: req.CommonName}
	if req.Organization != "" {
		subject.Organization = []string{req.Organization}
	}
	return x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: subject,
		ExtraExtensions: []pkix.Extension{
			{Id: oidBasicConstraints, Critical: true, Value: basic},
			{Id: oidKeyUsage, Critical: true, Value: usage},
		},
	}, key)
}

// CompleteIssuingCA accepts the certificate an outside root signed for the
// pending CA name, with the chain above it up to that root, and puts the CA
// to work. The certificate must be for the pending key, a CA allowed to sign
// certificates and CRLs, carry a subject key ID (certfleet names its CRL and
// certificate by it), chain to the root through the given certificates
// (path lengths included) and be valid for minOutsideValidity at least.
func (s *Set) CompleteIssuingCA(ctx context.Context, name string, cert *x509.Certificate, chain []*x509.Certificate, audit func(*store.Queries) error) (ca.Info, error) {
	err := s.change(ctx, audit, func(q *store.Queries) error {
		pending, err := q.GetPendingCAForUpdate(ctx, name)
		if errors.Is(err, pgx.ErrNoRows) {
			return errkind.NotFound("no CA called %q awaits a certificate", name)
		}
		if err != nil {
			return err
		}
		path, err := s.checkOutsideSigned(pending, cert, chain, time.Now())
		if err != nil {
			return err
		}
		outside := make([][]byte, 0, len(path)-1)
		for _, c := range path[:len(path)-1] {
			outside = append(outside, c.Raw)
		}
		if _, err = q.CreateOutsideRootCA(ctx, store.CreateOutsideRootCAParams{
			Name: name, KeySpec: pending.KeySpec, RootDer: path[len(path)-1].Raw, OutsideChain: outside,
			IssuingDer: cert.Raw, IssuingKeySealed: pending.KeySealed, IssuingSki: cert.SubjectKeyId,
		}); err != nil {
			return err // a CA with the same key ID is refused as a conflict by its unique index
		}
		return q.DeletePendingCA(ctx, pending.ID)
	})
	if err != nil {
		return ca.Info{}, err
	}
	c := s.active(name)
	s.opts.Logger.Info("issuing CA under an outside root", "name", name, "subject", cert.Subject.String(), "root", c.root.Subject.String())
	return c.info("active", nil), nil
}

// checkOutsideSigned checks what the outside root signed and returns the
// path above the issuing CA up to the root, as verification built it.
func (s *Set) checkOutsideSigned(pending store.PendingCa, cert *x509.Certificate, chain []*x509.Certificate, now time.Time) ([]*x509.Certificate, error) {
	keyDER, err := s.keys.Open(pending.KeySealed, keyContext(pending.Name, "issuing"))
	if err != nil {
		return nil, err
	}
	key, err := pki.ParsePrivateKey(keyDER)
	if err != nil {
		return nil, err
	}
	invalid := func(format string, args ...any) error { return errkind.Invalid("certificate", format, args...) }
	switch pub := key.Public().(interface{ Equal(crypto.PublicKey) bool }); {
	case !pub.Equal(cert.PublicKey):
		return nil, invalid("it is for another key than the CSR of %q", pending.Name)
	case !cert.BasicConstraintsValid || !cert.IsCA:
		return nil, invalid("it is not a CA certificate (basicConstraints CA:TRUE)")
	case cert.KeyUsage != 0 && cert.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) != x509.KeyUsageCertSign|x509.KeyUsageCRLSign:
		return nil, invalid("its key usage lacks keyCertSign or cRLSign")
	case len(cert.SubjectKeyId) == 0:
		return nil, invalid("it has no subject key identifier")
	case s.subjectTaken(cert.Subject.String()):
		return nil, invalid("its subject %q is another built-in CA's: relying parties and the inventory could not tell them apart", cert.Subject)
	case now.Before(cert.NotBefore):
		return nil, invalid("it is not valid before %s", cert.NotBefore.UTC().Format(time.RFC3339))
	case cert.NotAfter.Sub(now) < minOutsideValidity:
		return nil, invalid("it expires on %s, in less than %d days", cert.NotAfter.UTC().Format(time.RFC3339), int(minOutsideValidity.Hours()/24))
	case len(chain) == 0:
		return nil, errkind.Invalid("chain", "give the certificates above it, up to the root")
	}
	root := chain[len(chain)-1]
	if root.CheckSignatureFrom(root) != nil || !root.IsCA {
		return nil, errkind.Invalid("chain", "its last certificate (%s) is not a self-signed root", root.Subject)
	}
	// A device certificate must verify under the chain, path lengths
	// included, so a throwaway one signed by the new key is what is checked.
	probe, err := probeLeaf(cert, key, now)
	if err != nil {
		return nil, err
	}
	roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	intermediates.AddCert(cert)
	for _, c := range chain[:len(chain)-1] {
		intermediates.AddCert(c)
	}
	paths, err := probe.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, errkind.Invalid("chain", "a device certificate it issues would not verify up to %s: %v", root.Subject, err)
	}
	path := paths[0][2:] // past the probe and the issuing CA
	for _, c := range path {
		if c.NotAfter.Before(cert.NotAfter) {
			return nil, errkind.Invalid("chain", "%s expires on %s, before the issuing CA", c.Subject, c.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	return path, nil
}

// probeLeaf is a device certificate the issuing CA cert (with key) could
// issue, never stored or sent.
func probeLeaf(cert *x509.Certificate, key crypto.Signer, now time.Time) (*x509.Certificate, error) {
	probeKey, err := pki.GenerateKey(pki.KeySpec{Algorithm: "ecdsa", Size: 256})
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "certfleet path check"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
	}, cert, probeKey.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("sign the path check: %w", err)
	}
	return x509.ParseCertificate(der)
}

// subjectTaken reports whether a built-in CA's issuing certificate has the
// subject: the inventory, CRLs and OCSP tell issuers apart by it.
func (s *Set) subjectTaken(subject string) bool {
	for _, e := range s.snapshot() {
		if e.ca.issuing.Subject.String() == subject {
			return true
		}
	}
	return false
}

// List is every built-in CA (active, next and retired, by age) and those
// pending, with the profiles and labels that issue from each active one.
func (s *Set) List(ctx context.Context) ([]ca.Info, error) {
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	q := store.New(s.pool)
	profiles, err := q.ProfilesByCA(ctx)
	if err != nil {
		return nil, err
	}
	var infos []ca.Info
	entries := s.snapshot()
	// The default CA's generations first, then each other name's, oldest first.
	slices.SortStableFunc(entries, func(a, b entry) int {
		return cmp.Or(cmp.Compare(rank(a.ca.opts.Name, s.opts.Name), rank(b.ca.opts.Name, s.opts.Name)), cmp.Compare(a.ca.opts.Name, b.ca.opts.Name))
	})
	for _, e := range entries {
		info := e.ca.info(e.status, e.activatesAt)
		for _, p := range profiles {
			if e.status == "active" && p.CaName == e.ca.opts.Name {
				info.Profiles = append(info.Profiles, ca.Named{ID: p.ID, Name: p.Name})
				info.Labels = append(info.Labels, p.Labels...)
			}
		}
		infos = append(infos, info)
	}
	pending, err := q.ListPendingCAs(ctx)
	for _, row := range pending {
		infos = append(infos, pendingInfo(row))
	}
	return infos, err
}

func rank(name, defaultName string) int {
	if name == defaultName {
		return 0
	}
	return 1
}

// info is a CA's public facts.
func (c *CA) info(status string, activatesAt *time.Time) ca.Info {
	issuing := certInfo(c.issuing)
	info := ca.Info{
		Name: c.opts.Name, Status: status, ActivatesAt: activatesAt, OutsideRoot: c.outsideRoot,
		Issuing: &issuing, Profiles: []ca.Named{}, Labels: []string{}, CreatedAt: c.issuing.NotBefore,
	}
	for _, cert := range c.chain[1:] {
		info.Chain = append(info.Chain, certInfo(cert))
	}
	if c.opts.PublicURL != "" {
		info.CRLURL = c.opts.PublicURL + c.CRLPath()
		info.OCSPURL = c.opts.PublicURL + OCSPPath
		info.CAIssuersURL = c.opts.PublicURL + CAIssuersPath + c.CAIssuersName() + ".crt"
	}
	return info
}

func pendingInfo(row store.PendingCa) ca.Info {
	return ca.Info{
		Name: row.Name, Status: "pending", OutsideRoot: true, Profiles: []ca.Named{}, Labels: []string{},
		CSRPEM:    string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: row.CsrDer})),
		CreatedBy: row.CreatedBy, CreatedAt: row.CreatedAt,
	}
}

func certInfo(cert *x509.Certificate) ca.CertInfo {
	sum := sha256.Sum256(cert.Raw)
	return ca.CertInfo{
		Subject: cert.Subject.String(), Issuer: cert.Issuer.String(), Serial: cert.SerialNumber.Text(16),
		KeyAlgorithm: cert.PublicKeyAlgorithm.String(), NotBefore: cert.NotBefore, NotAfter: cert.NotAfter,
		SHA256: hex.EncodeToString(sum[:]), PEM: string(pki.EncodeCertificatesPEM(cert)),
	}
}

// PendingCSR is the CSR of the pending CA name, PEM.
func (s *Set) PendingCSR(ctx context.Context, name string) ([]byte, error) {
	pending, err := store.New(s.pool).ListPendingCAs(ctx)
	if err != nil {
		return nil, err
	}
	for _, row := range pending {
		if row.Name == name {
			return []byte(pendingInfo(row).CSRPEM), nil
		}
	}
	return nil, errkind.NotFound("no CA called %q awaits a certificate", name)
}
