package local

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/errkind"
)

// Revoke marks a certificate this CA issued as revoked and reissues the CRL.
// Revoking an already revoked certificate keeps its first reason and time.
func (c *CA) Revoke(ctx context.Context, cert *x509.Certificate, reason ca.RevocationReason) error {
	return c.RevokeAudited(ctx, cert, reason, nil)
}

// RevokeAudited is Revoke for an operator's request: audit, unless nil,
// writes the audit row in the transaction that records the revocation.
func (c *CA) RevokeAudited(ctx context.Context, cert *x509.Certificate, reason ca.RevocationReason, audit func(*store.Queries) error) error {
	if !reason.Valid() {
		return ca.Permanent(errkind.Invalid("reason", "%d is not an RFC 5280 reason code", reason))
	}
	if g := c.generationOf(cert); g == nil {
		return ca.Permanent(errkind.Conflict("certificate %s was not issued by built-in CA %q", cert.SerialNumber.Text(16), c.opts.Name))
	} else if g != c {
		return g.RevokeAudited(ctx, cert, reason, audit) // an earlier generation's, into its own CRL
	}
	serial := cert.SerialNumber.Text(16)
	err := ca.InTx(ctx, c.pool, func(tx pgx.Tx) error {
		q := store.New(tx)
		changed, err := q.RevokeCertificate(ctx, store.RevokeCertificateParams{
			Issuer: c.issuing.Subject.String(), SerialHex: serial, Reason: pgtype.Int2{Int16: int16(reason), Valid: true},
		})
		if err != nil {
			return ca.Transient(fmt.Errorf("revoke certificate %s: %w", serial, err))
		}
		if changed == 0 {
			if _, err := q.GetCertificateByIssuerSerial(ctx, store.GetCertificateByIssuerSerialParams{
				Issuer: c.issuing.Subject.String(), SerialHex: serial,
			}); errors.Is(err, pgx.ErrNoRows) {
				return ca.Permanent(errkind.Conflict("certificate %s is not in the inventory of built-in CA %q", serial, c.opts.Name))
			}
		}
		if audit == nil {
			return nil
		}
		return audit(q)
	})
	if err != nil {
		return err
	}
	// The revocation is recorded; if the CRL cannot be reissued now, the error
	// makes the caller retry, and the periodic refresh catches up regardless.
	// A caller cancelled meanwhile (a halted job) still gets the CRL reissued.
	crlCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := c.RefreshCRL(crlCtx); err != nil {
		return ca.Transient(fmt.Errorf("reissue CRL after revoking %s: %w", serial, err))
	}
	return nil
}

// RefreshCRL signs a new CRL, with the next CRL number, listing every revoked
// certificate of this CA that has not expired.
func (c *CA) RefreshCRL(ctx context.Context) error {
	return ca.InTx(ctx, c.pool, func(tx pgx.Tx) error {
		q := store.New(tx)
		number, err := q.NextCRLNumber(ctx, c.id)
		if err != nil {
			return fmt.Errorf("next CRL number: %w", err)
		}
		revoked, err := q.ListRevokedUnexpired(ctx, c.issuing.Subject.String())
		if err != nil {
			return fmt.Errorf("list revoked certificates: %w", err)
		}
		now := time.Now()
		list := &x509.RevocationList{
			Number:     big.NewInt(number),
			ThisUpdate: now,
			NextUpdate: now.Add(c.opts.CRLValidity),
		}
		for _, r := range revoked {
			serial, ok := new(big.Int).SetString(r.SerialHex, 16)
			if !ok {
				return fmt.Errorf("stored serial %q is not hex", r.SerialHex)
			}
			list.RevokedCertificateEntries = append(list.RevokedCertificateEntries, x509.RevocationListEntry{
				SerialNumber: serial, RevocationTime: *r.RevokedAt, ReasonCode: int(r.RevocationReason.Int16),
			})
		}
		der, err := x509.CreateRevocationList(rand.Reader, list, c.issuing, c.issuingKey)
		if err != nil {
			return fmt.Errorf("sign CRL: %w", err)
		}
		return q.SaveCRL(ctx, store.SaveCRLParams{ID: c.id, CrlDer: der, CrlNextUpdate: &list.NextUpdate})
	})
}

// CRL returns the current DER CRL, reissuing it first when it is missing or
// past half of its validity.
func (c *CA) CRL(ctx context.Context) ([]byte, error) {
	q := store.New(c.pool)
	current, err := q.GetCRLByIssuingSKI(ctx, c.issuing.SubjectKeyId)
	if err != nil {
		return nil, fmt.Errorf("read CRL: %w", err)
	}
	if current.CrlNextUpdate != nil && time.Until(*current.CrlNextUpdate) > c.opts.CRLValidity/2 {
		return current.CrlDer, nil
	}
	if err := c.RefreshCRL(ctx); err != nil {
		return nil, err
	}
	current, err = q.GetCRLByIssuingSKI(ctx, c.issuing.SubjectKeyId)
	return current.CrlDer, err
}
