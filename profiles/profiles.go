// Package profiles reads certificate profiles from the inventory into the
// form CAs issue from and CSR policies check against (pki.Profile).
package profiles

import (
	"encoding/json"
	"fmt"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/pki"
)

// FromRow turns a stored profile into the form CAs issue from.
func FromRow(row store.Profile) (pki.Profile, error) {
	p := pki.Profile{
		ID:           row.ID,
		Name:         row.Name,
		CertType:     row.CertType,
		KeyUsage:     row.KeyUsage,
		ExtKeyUsage:  row.ExtKeyUsage,
		Validity:     row.Validity,
		ApprovalMode: row.ApprovalMode,
	}
	fields := []struct {
		name string
		raw  []byte
		into any
	}{
		{"subject_rules", row.SubjectRules, &p.SubjectRules},
		{"san_rules", row.SanRules, &p.SANRules},
		{"extra_attributes", row.ExtraAttributes, &p.ExtraAttributes},
		{"key_algorithms", row.KeyAlgorithms, &p.KeyAlgorithms},
	}
	for _, f := range fields {
		if err := json.Unmarshal(f.raw, f.into); err != nil {
			return pki.Profile{}, fmt.Errorf("profile %d: %s: %w", row.ID, f.name, err)
		}
	}
	return p, nil
}
