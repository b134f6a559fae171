package jobs_test

import (
	"context"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/vocab"
)

// TestJobAcrossRollover renews the built-in CA, with a short overlap, while
// a job runs: the job completes, every device holds exactly one new active
// certificate, the devices done before the switch have theirs from the old
// CA and the others from the new one, and each verifies with its issuer.
func TestJobAcrossRollover(t *testing.T) {
	ctx := context.Background()
	const devices = 24
	f := newFleet(t, devices)
	f.assign(t, f.normal, 1, devices)
	f.startWorker(t)
	set := local.SetOf(f.ca) // the worker's: one process, one set
	old, _ := f.ca.Certificates()
	// A device takes about a second: the job outlasts the overlap.
	f.admin(t, http.MethodPut, "/faults", map[string]any{"seed": 1, "slow": 1.0, "slow_ms": []int{250, 250}}).Body.Close()
	job, err := f.jobs.Create(ctx, jobs.Spec{Name: "across the rollover", CertType: "tls", CreatedBy: "test", DeviceIDs: ids(1, devices), Window: 2}, nil)
	require.NoError(t, err)
	next, err := set.Renew(ctx, "default", 5*time.Second, nil)
	require.NoError(t, err)

	progress := f.wait(t, job.ID, 3*time.Minute)
	assert.Equal(t, string(vocab.JobSucceeded), progress.Status)

	rows, err := f.pool.Query(ctx, `SELECT device_id, der FROM certificates WHERE status = 'active' AND device_id IS NOT NULL ORDER BY device_id`)
	require.NoError(t, err)
	issuers := map[string]int{}
	perDevice := map[string]int{}
	current, err := set.Named(ctx, "default")
	require.NoError(t, err)
	fresh, _ := current.Certificates()
	require.Equal(t, next.Issuing.Subject, fresh.Subject.String(), "the next CA issues now")
	for rows.Next() {
		var device string
		var der []byte
		require.NoError(t, rows.Scan(&device, &der))
		cert, err := x509.ParseCertificate(der)
		require.NoError(t, err)
		perDevice[device]++
		issuers[cert.Issuer.String()]++
		issuer := old
		if cert.Issuer.String() == fresh.Subject.String() {
			issuer = fresh
		}
		assert.NoError(t, cert.CheckSignatureFrom(issuer), "%s verifies with its issuer", device)
	}
	require.NoError(t, rows.Err())
	assert.Len(t, perDevice, devices)
	for device, n := range perDevice {
		assert.Equal(t, 1, n, "%s holds one active certificate", device)
	}
	t.Logf("issued by the old CA: %d, by the new: %d", issuers[old.Subject.String()], issuers[fresh.Subject.String()])
	assert.Positive(t, issuers[old.Subject.String()], "devices done before the switch")
	assert.Positive(t, issuers[fresh.Subject.String()], "devices done after it")

	// A second job renews the first devices, whose certificates came from the
	// retired CA: the new one installs with its own chain, and the old ones
	// are revoked through the CA that issued them.
	f.admin(t, http.MethodPut, "/faults", map[string]any{"seed": 1}).Body.Close()
	again, err := f.jobs.Create(ctx, jobs.Spec{Name: "after the rollover", CertType: "tls", CreatedBy: "test", DeviceIDs: ids(1, 2)}, nil)
	require.NoError(t, err)
	assert.Equal(t, string(vocab.JobSucceeded), f.wait(t, again.ID, time.Minute).Status)
	assert.Equal(t, map[string]int{string(vocab.Succeeded): 2}, f.states(t, again.ID), "both prior certificates revoked")
	var revokedByOld int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM certificates WHERE status = 'revoked' AND issuer = $1 AND device_id IN ('sim-00001', 'sim-00002')`, old.Subject.String()).Scan(&revokedByOld))
	assert.Equal(t, 2, revokedByOld)
}
