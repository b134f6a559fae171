package pki

import (
	"fmt"

	"github.com/smallstep/scep/x509util"

	"github.com/certfleet/certfleet/pki/kek"
)

// A device's CSR may carry a challengePassword attribute (SCEP's challenge;
// some EST clients add one too): a secret, in clear, inside signed data that
// certfleet cannot change without breaking the device's signature. Wherever
// certfleet keeps such a CSR (the CA ledger, an enrollment's workflow input,
// a SCEP transaction) it keeps it sealed under the KEK; a CSR without one
// stays as it is, readable in the Temporal UI.

// csrContext binds a sealed CSR to the request it belongs to.
func csrContext(key string) string { return "csr/" + key }

// SealCSR returns der as certfleet keeps it for request key: sealed when it
// carries a challenge password, else unchanged.
func SealCSR(keys *kek.KEK, der []byte, key string) (stored []byte, sealed bool, err error) {
	challenge, err := x509util.ParseChallengePassword(der)
	if err != nil || challenge == "" {
		return der, false, nil
	}
	if keys == nil {
		return nil, false, fmt.Errorf("a CSR carrying a challenge password must be sealed, and there is no key-encryption key here")
	}
	if stored, err = keys.Seal(der, csrContext(key)); err != nil {
		return nil, false, fmt.Errorf("seal the CSR of %s: %w", key, err)
	}
	return stored, true, nil
}

// OpenCSR returns the CSR that SealCSR kept for request key.
func OpenCSR(keys *kek.KEK, stored []byte, sealed bool, key string) ([]byte, error) {
	if !sealed {
		return stored, nil
	}
	if keys == nil {
		return nil, fmt.Errorf("the CSR of %s is sealed, and there is no key-encryption key here", key)
	}
	der, err := keys.Open(stored, csrContext(key))
	if err != nil {
		return nil, fmt.Errorf("open the CSR of %s: %w", key, err)
	}
	return der, nil
}
