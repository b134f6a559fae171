package trust

import (
	"context"
	"crypto/x509"
	"fmt"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/pki"
)

// Verify checks that cert, with the intermediates its presenter sent, chains
// to an enabled trust anchor, passes through no disabled one at any level, and
// is not revoked by an offline entry. It returns the nearest anchor above cert;
// a certificate it refuses is an errkind.Forbidden.
func (s *Store) Verify(ctx context.Context, cert *x509.Certificate, intermediates []*x509.Certificate, usage x509.ExtKeyUsage) (store.TrustAnchor, error) {
	set, err := s.anchors.Get(ctx, struct{}{}, s.loadAnchors)
	if err != nil {
		return store.TrustAnchor{}, err
	}
	opts := x509.VerifyOptions{
		Roots: set.pool, Intermediates: set.pool,
		CurrentTime: s.now(), KeyUsages: []x509.ExtKeyUsage{usage},
	}
	if len(intermediates) > 0 {
		opts.Intermediates = set.pool.Clone()
		for _, c := range intermediates {
			opts.Intermediates.AddCert(c)
		}
	}
	chains, err := cert.Verify(opts)
	if err != nil {
		return store.TrustAnchor{}, errkind.Forbidden("%w: %v", ErrUntrusted, err)
	}
	q := store.New(s.pool)
	var nearest *store.TrustAnchor
	for _, chain := range chains {
		for i, c := range chain {
			anchor, isAnchor := set.byFingerprint[string(pki.Fingerprint(c))]
			if !isAnchor {
				continue
			}
			if !anchor.Enabled || anchor.VerifiedAt == nil {
				return store.TrustAnchor{}, errkind.Forbidden("%w: %s (anchor %d)", ErrAnchorOff, anchor.Subject, anchor.ID)
			}
			if i == 0 {
				continue // the presented certificate is an anchor itself
			}
			if nearest == nil {
				nearest = &anchor
			}
			// chain runs leaf to root, so chain[i-1] is what this anchor issued.
			if err := checkOfflineRevocation(ctx, q, anchor, chain[i-1]); err != nil {
				return store.TrustAnchor{}, err
			}
		}
	}
	if nearest == nil {
		return store.TrustAnchor{}, errkind.Forbidden("%w", ErrUntrusted)
	}
	return *nearest, nil
}

// anchorSet is every trust anchor, parsed, by its fingerprint and in a pool.
// Every anchor is offered both as a root and as an intermediate, so that
// chains run to the top and a disabled root above an enabled intermediate
// anchor is seen. It is shared by concurrent verifications: read only.
type anchorSet struct {
	pool          *x509.CertPool
	byFingerprint map[string]store.TrustAnchor
}

func (s *Store) loadAnchors(ctx context.Context) (anchorSet, error) {
	anchors, err := store.New(s.pool).ListTrustAnchors(ctx)
	if err != nil {
		return anchorSet{}, fmt.Errorf("read trust anchors: %w", err)
	}
	set := anchorSet{pool: x509.NewCertPool(), byFingerprint: map[string]store.TrustAnchor{}}
	for _, a := range anchors {
		anchorCert, err := x509.ParseCertificate(a.Der)
		if err != nil {
			return anchorSet{}, fmt.Errorf("trust anchor %d does not parse: %w", a.ID, err)
		}
		set.pool.AddCert(anchorCert)
		set.byFingerprint[string(a.Sha256)] = a
	}
	return set, nil
}

// checkOfflineRevocation refuses issued when its issuer, anchor, lists its serial.
func checkOfflineRevocation(ctx context.Context, q *store.Queries, anchor store.TrustAnchor, issued *x509.Certificate) error {
	revoked, err := q.IsOfflineRevoked(ctx, store.IsOfflineRevokedParams{AnchorID: anchor.ID, SerialHex: issued.SerialNumber.Text(16)})
	if err != nil {
		return fmt.Errorf("read offline revocations: %w", err)
	}
	if revoked {
		return errkind.Forbidden("%w: serial %s by %s", ErrRevoked, issued.SerialNumber.Text(16), anchor.Subject)
	}
	return nil
}
