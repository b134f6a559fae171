package workflows

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// The IDs of certfleet's workflows and schedules are built here and nowhere
// else: operators find runs in the Temporal UI by them, and the API and the
// CLI hand them out.

// JobWorkflowID is the workflow ID of certificate job jobID: certjob/<jobID>.
func JobWorkflowID(jobID int64) string { return "certjob/" + strconv.FormatInt(jobID, 10) }

// DeviceWorkflowID is the workflow ID of one device in a job:
// certjob/<jobID>/device/<deviceID>.
func DeviceWorkflowID(jobID int64, deviceID string) string {
	return fmt.Sprintf("certjob/%d/device/%s", jobID, deviceID)
}

// EnrollmentWorkflowID is the workflow ID, and the CA idempotency key, of an
// enrollment over protocol ("est" or "scep"): <protocol>/<deviceID>/<hash>. The hash covers the operation, the
// credential (which OTP, which certificate being renewed) and the CSR without
// its signature, which ECDSA randomises: a device that retries a request, even
// re-signing it, finds the same enrollment, while renewing again with the same
// key under a newer certificate is a new one.
func EnrollmentWorkflowID(protocol, deviceID, operation, credential string, csr *x509.CertificateRequest) string {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(operation), []byte(credential), csr.RawTBSCertificateRequest} {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(part))))
		h.Write(part)
	}
	return protocol + "/" + deviceID + "/" + hex.EncodeToString(h.Sum(nil)[:16])
}

// InventoryWorkflowID is the workflow ID of a device's discovery of the
// certificates it holds: inventory/<deviceID>. Requests made while one runs
// join it.
func InventoryWorkflowID(deviceID string) string { return "inventory/" + deviceID }

// RenewalScheduleID is the ID of the Temporal Schedule of renewal policy
// policyID: renewal/<policyID>.
func RenewalScheduleID(policyID int64) string {
	return renewalSchedulePrefix + strconv.FormatInt(policyID, 10)
}

const renewalSchedulePrefix = "renewal/"

// IsRenewalScheduleID tells the schedules of renewal policies from others in
// the namespace, which certfleet leaves alone.
func IsRenewalScheduleID(id string) bool { return strings.HasPrefix(id, renewalSchedulePrefix) }

// RenewalSweepID is the workflow ID that the schedule of policy policyID
// gives its RenewalSweep runs, renewal/<policyID>/sweep; Temporal appends each
// run's scheduled time: renewal/<policyID>/sweep-<RFC 3339 time>.
func RenewalSweepID(policyID int64) string { return RenewalScheduleID(policyID) + "/sweep" }

// Messages between job and device workflows, and what the API may call.
const (
	SignalItemDone = "item-done" // device → job: one item finished (ItemDone); CertifyDeviceV2 reports by its result
	SignalHalt     = "halt"      // API → job: stop starting devices, cancel those running
	QueryProgress  = "progress"  // API → job: Progress
)

// CARenewalScheduleID is the Temporal Schedule that renews the built-in CAs
// ahead of their expiry.
const CARenewalScheduleID = "ca-renewal"

// CARequestWorkflowID is the workflow waiting for the CA request whose
// idempotency key is key: an enrollment's own ID ("est/…", "scep/…"), or
// the device workflow of job item "<jobID>/<deviceID>".
func CARequestWorkflowID(key string) string {
	job, device, found := strings.Cut(key, "/")
	if id, err := strconv.ParseInt(job, 10, 64); found && err == nil {
		return DeviceWorkflowID(id, device)
	}
	return key
}

// WebhookDeliveryWorkflowID is the delivery of event eventID to webhook
// webhookID: one workflow, however often the event is dispatched.
func WebhookDeliveryWorkflowID(webhookID int64, eventID string) string {
	return "webhook/" + strconv.FormatInt(webhookID, 10) + "/" + eventID
}
