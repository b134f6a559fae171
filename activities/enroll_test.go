package activities_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/vocab"
)

// TestConcurrentEnrollmentsOfOneDeviceLeaveOneActiveCertificate: a device
// that enrolls several new keys at once (a retry loop gone wild, or two
// copies of one device) ends each round with exactly one active certificate
// of the type, the newest; every other one issued in the round is revoked as
// superseded. Each enrollment's booking must see the certificates the others
// committed meanwhile.
func TestConcurrentEnrollmentsOfOneDeviceLeaveOneActiveCertificate(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 1)
	acts := f.activities()
	const rounds, perRound = 6, 6
	for round := range rounds {
		csrs := make([][]byte, perRound)
		for i := range csrs {
			csrs[i] = newCSR(t, "sim-00001")
		}
		subs := make([]activities.Submission, perRound)
		errs := make([]error, perRound)
		var wg sync.WaitGroup
		for i := range csrs {
			wg.Go(func() {
				subs[i], errs[i] = acts.SubmitEnrollment(ctx, activities.Enrollment{
					Key: fmt.Sprintf("est/sim-00001/round-%d-%d", round, i), DeviceID: "sim-00001",
					ProfileID: f.normal, CertType: "tls", CSR: csrs[i],
				})
			})
		}
		wg.Wait()
		newest := int64(0)
		for i := range subs {
			require.NoError(t, errs[i], "round %d, enrollment %d", round, i)
			require.Equal(t, vocab.RequestIssued, subs[i].Status)
			newest = max(newest, subs[i].CertificateID)
		}
		var active []int64
		rows, err := f.pool.Query(ctx, `SELECT id FROM certificates WHERE device_id = 'sim-00001' AND cert_type = 'tls' AND status = 'active' ORDER BY id`)
		require.NoError(t, err)
		for rows.Next() {
			var id int64
			require.NoError(t, rows.Scan(&id))
			active = append(active, id)
		}
		require.NoError(t, rows.Err())
		assert.Equal(t, []int64{newest}, active, "round %d: only the newest certificate stays active", round)
	}
}

// TestALateRepeatOfASupersededEnrollmentBooksNothing: an enrollment repeated
// after its certificate was superseded gets the same answer from the CA (the
// handler then refuses it, see enroll.Service.Issued), but books nothing: a
// device reset to FACTORY since stays in FACTORY, and the newer certificate
// stays active.
func TestALateRepeatOfASupersededEnrollmentBooksNothing(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 1)
	acts := f.activities()
	enroll := func(key string, csr []byte) activities.Submission {
		t.Helper()
		sub, err := acts.SubmitEnrollment(ctx, activities.Enrollment{Key: key, DeviceID: "sim-00001", ProfileID: f.normal, CertType: "tls", CSR: csr})
		require.NoError(t, err)
		require.Equal(t, vocab.RequestIssued, sub.Status)
		return sub
	}
	first := newCSR(t, "sim-00001")
	old := enroll("est/sim-00001/first", first)
	current := enroll("est/sim-00001/second", newCSR(t, "sim-00001"))
	_, err := f.pool.Exec(ctx, `UPDATE devices SET mode = 'FACTORY' WHERE id = 'sim-00001'`)
	require.NoError(t, err)

	again := enroll("est/sim-00001/first", first)
	assert.Equal(t, old.CertificateID, again.CertificateID, "the CA answers a repeat as before")
	var mode, oldStatus, currentStatus string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT mode FROM devices WHERE id = 'sim-00001'`).Scan(&mode))
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT status FROM certificates WHERE id = $1`, old.CertificateID).Scan(&oldStatus))
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT status FROM certificates WHERE id = $1`, current.CertificateID).Scan(&currentStatus))
	assert.Equal(t, "FACTORY", mode, "the repeat does not make the device OPERATIONAL again")
	assert.Equal(t, "revoked", oldStatus)
	assert.Equal(t, "active", currentStatus, "the repeat does not supersede its successor")
}

// newCSR is a CSR for a new P-256 key, naming device id in its CN.
func newCSR(t *testing.T, id string) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: id}}, testpki.NewKey(t))
	require.NoError(t, err)
	return der
}

// TestAnEnrollmentsCertificateIsToldInProcessOnly: the request waiting in
// this process gets the certificate with the outcome; the run's history
// (the activity's result) carries only its ID, since whoever hears the
// outcome from Temporal reads the certificate from the inventory.
func TestAnEnrollmentsCertificateIsToldInProcessOnly(t *testing.T) {
	f := newFleet(t, 1)
	acts := f.activities()
	acts.Outcomes = &activities.Outcomes{}
	e := activities.Enrollment{Key: "est/sim-00001/told", DeviceID: "sim-00001", ProfileID: f.normal, CertType: "tls", CSR: newCSR(t, "sim-00001")}
	told, stop := acts.Outcomes.Await(e.Key)
	defer stop()
	sub, err := acts.SubmitEnrollment(context.Background(), e)
	require.NoError(t, err)
	require.Equal(t, vocab.RequestIssued, sub.Status)
	assert.Empty(t, sub.Certificate, "not recorded in history")
	outcome := <-told
	assert.Equal(t, sub.CertificateID, outcome.CertificateID)
	cert, err := x509.ParseCertificate(outcome.Certificate)
	require.NoError(t, err)
	assert.Equal(t, "sim-00001", cert.Subject.CommonName)
}
