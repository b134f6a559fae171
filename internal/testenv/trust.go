package testenv

import (
	"context"
	"testing"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/pki/trust"
)

// ProvenAnchor uploads ca as a trust anchor, proves possession of its key and
// enables it: what an admin does before an anchor authenticates anything.
func ProvenAnchor(t testing.TB, s *trust.Store, ca *testpki.CA, up trust.Upload) store.TrustAnchor {
	t.Helper()
	ctx := context.Background()
	up.PEM = testpki.CertPEM(ca.Cert)
	rows, err := s.Add(ctx, up)
	if err != nil {
		t.Fatalf("upload trust anchor %s: %v", up.Name, err)
	}
	id := rows[0].ID
	code, err := s.Challenge(ctx, id)
	if err == nil {
		err = s.Prove(ctx, id, code, ca.SignCode(t, code))
	}
	if err == nil {
		err = s.SetEnabled(ctx, id, true)
	}
	if err != nil {
		t.Fatalf("prove and enable trust anchor %s: %v", up.Name, err)
	}
	rows[0].Enabled = true
	return rows[0]
}
