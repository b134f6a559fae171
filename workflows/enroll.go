package workflows

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"

	"go.temporal.io/sdk/workflow"

	"github.com/certfleet/certfleet/activities"
)

// EnrollmentWorkflowID is the workflow ID, and the CA idempotency key, of an
// EST enrollment: est/<deviceID>/<hash>. The hash covers the operation, the
// credential (which OTP, which certificate being renewed) and the CSR without
// its signature, which ECDSA randomises: a device that retries a request, even
// re-signing it, finds the same enrollment, while renewing again with the same
// key under a newer certificate is a new one.
func EnrollmentWorkflowID(deviceID, operation, credential string, csr *x509.CertificateRequest) string {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(operation), []byte(credential), csr.RawTBSCertificateRequest} {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(part))))
		h.Write(part)
	}
	return "est/" + deviceID + "/" + hex.EncodeToString(h.Sum(nil)[:16])
}

// EnrollmentJobID is the CertJobId of every enrollment. Enrollments belong to
// no job; one value lists them all: CertJobId="est".
const EnrollmentJobID = "est"

// QueryEnrollment asks an Enrollment where it stands (activities.Submission;
// an empty Status means the CA has not answered yet).
const QueryEnrollment = "enrollment"

// Enrollment issues a certificate for one EST request. The EST handler starts
// it eagerly on this process's worker and waits for its result; the fast steps
// are local activities, so an enrollment the CA answers at once costs a single
// workflow task. A request the CA leaves pending is polled here until it is
// decided, so issuance is booked even if the device never asks again.
func Enrollment(ctx workflow.Context, e activities.Enrollment) (activities.Submission, error) {
	var sub activities.Submission
	if err := workflow.SetQueryHandler(ctx, QueryEnrollment, func() (activities.Submission, error) { return sub, nil }); err != nil {
		return sub, err
	}
	lctx := workflow.WithLocalActivityOptions(ctx, localOptions)
	if err := workflow.ExecuteLocalActivity(lctx, acts.SubmitEnrollment, e).Get(lctx, &sub); err != nil {
		return sub, err
	}
	if sub.Status == "pending" {
		if err := step(ctx, "poll", pollStep(sub), acts.PollEnrollment, &sub, e, sub.RequestID); err != nil {
			sub.Status, sub.Reason = "failed", errorText(err)
			return sub, nil
		}
	}
	if sub.Status != "issued" {
		return sub, nil
	}
	err := workflow.ExecuteLocalActivity(lctx, acts.CompleteEnrollment, e, sub.CertificateID).Get(lctx, nil)
	return sub, err
}
