package activities

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
)

// DiscardedReason is the reject reason of a CA request withdrawn before the
// CA was asked: the EST handler gave up the generated key it was for.
const DiscardedReason = "discarded: the generated key was not delivered to the device"

// discardedPoll is how often a discarded enrollment's request that the CA
// holds is polled, until the CA decides and an issued certificate can be
// revoked; nobody waits for it.
const discardedPoll = 30 * time.Second

// SettleDiscardedEnrollment makes sure that an enrollment whose certificate
// will not reach the device ends without a usable certificate. When no CA
// request is recorded under its key, it records one as rejected, so that a
// submission still under way (a slow CA, a cancelled local activity still
// running) finds it decided and issues nothing; a submission in the middle
// of its transaction is waited for. Otherwise it returns where the recorded
// request stands: the caller revokes an issued certificate and polls a
// pending request until the CA decides.
func (a *Activities) SettleDiscardedEnrollment(ctx context.Context, e Enrollment) (Submission, error) {
	profile, err := a.queries().GetProfile(ctx, e.ProfileID)
	if err != nil {
		return Submission{}, fmt.Errorf("read profile %d: %w", e.ProfileID, err)
	}
	var row store.CaRequest
	err = ca.InTx(ctx, a.Pool, func(tx pgx.Tx) error {
		row, err = withdraw(ctx, tx, e, profile.CaDriver)
		return err
	})
	if err != nil {
		return Submission{}, fmt.Errorf("settle discarded enrollment %s: %w", e.Key, err)
	}
	sub := Submission{Status: ca.Status(row.Status), RequestID: strconv.FormatInt(row.ID, 10), CertificateID: row.CertificateID.Int64,
		Reason: row.RejectReason, MaxWait: profile.MaxCaWait}
	if sub.Status == ca.Pending {
		sub.RetryAfter = discardedPoll
	}
	return sub, nil
}

// withdraw records e's request as rejected under its key unless one is
// recorded already (the unique key makes it wait for a claim in progress),
// and returns the request under the key.
func withdraw(ctx context.Context, tx pgx.Tx, e Enrollment, driver string) (store.CaRequest, error) {
	q := store.New(tx)
	switch err := e.writeWithClaim(ctx, tx); {
	case errors.Is(err, errDeviceTaken): // nothing can be claimed for it: settled, unless it was before
		row, err := q.GetCARequestByKey(ctx, e.Key)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.CaRequest{Status: string(ca.Rejected), RejectReason: DiscardedReason}, nil
		}
		return row, err
	case err != nil:
		return store.CaRequest{}, err
	}
	row, err := q.CreateCARequest(ctx, store.CreateCARequestParams{
		IdempotencyKey: e.Key, ProfileID: e.ProfileID, DeviceID: pgtype.Text{String: e.DeviceID, Valid: true},
		CaDriver: driver, CsrDer: e.CSR, CsrSealed: e.CSRSealed,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return q.GetCARequestByKey(ctx, e.Key)
	}
	if err != nil {
		return row, err
	}
	err = q.MarkCARequestRejected(ctx, store.MarkCARequestRejectedParams{ID: row.ID, RejectReason: DiscardedReason, DecidedBy: "certfleet"})
	row.Status, row.RejectReason = string(ca.Rejected), DiscardedReason
	return row, err
}

// RevokeDiscardedEnrollment revokes the certificate issued for an enrollment
// whose key nobody holds, with reason cessationOfOperation (or marks it
// superseded when the CA cannot revoke), so that no active certificate is
// left that the device can never use.
func (a *Activities) RevokeDiscardedEnrollment(ctx context.Context, e Enrollment, certificateID int64) error {
	if _, err := a.revokeAs(ctx, Item{DeviceID: e.DeviceID, ProfileID: e.ProfileID}, certificateID, ca.ReasonCessationOfOperation); err != nil {
		return fmt.Errorf("revoke certificate %d of discarded enrollment %s: %w", certificateID, e.Key, err)
	}
	return nil
}
