// Package workflows holds certfleet's Temporal workflow definitions and what
// identifies their runs: workflow IDs and custom search attributes.
package workflows

import "go.temporal.io/sdk/temporal"

// Custom search attributes that every certificate workflow sets, so that an
// engineer can find runs in the Temporal UI, e.g. CertJobId="42" AND CertStep="poll".
var (
	CertJobID   = temporal.NewSearchAttributeKeyKeyword("CertJobId")
	DeviceID    = temporal.NewSearchAttributeKeyKeyword("DeviceId")
	CertStep    = temporal.NewSearchAttributeKeyKeyword("CertStep")
	CertProfile = temporal.NewSearchAttributeKeyKeyword("CertProfile")
	// CertOutcome is how a device workflow ended (a vocab.Outcome), set when
	// it ends: CertJobId="42" AND CertOutcome="device_failure" lists the
	// devices of job 42 that failed.
	CertOutcome = temporal.NewSearchAttributeKeyKeyword("CertOutcome")
)

// SearchAttributes lists the custom search attributes a namespace must have
// registered before certfleet's workflows run in it.
var SearchAttributes = []temporal.SearchAttributeKey{CertJobID, DeviceID, CertStep, CertProfile, CertOutcome}
