package scep

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
)

// Newest is the RA answers are signed with, for tests that record what
// clients send to it.
func (r *RAs) Newest(ctx context.Context) (*x509.Certificate, *rsa.PrivateKey, error) {
	ras, err := r.Current(ctx)
	if err != nil {
		return nil, nil, err
	}
	return ras[0].cert, ras[0].key, nil
}

// Usable counts the RAs requests may be encrypted to.
func (r *RAs) Usable(ctx context.Context) ([]*x509.Certificate, error) {
	ras, err := r.Current(ctx)
	if err != nil {
		return nil, err
	}
	certs := make([]*x509.Certificate, len(ras))
	for i, a := range ras {
		certs[i] = a.cert
	}
	return certs, nil
}
