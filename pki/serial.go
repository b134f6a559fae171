package pki

import (
	"crypto/rand"
	"math/big"
)

// NewSerial returns a random serial number with 126 bits of entropy, well
// above the 64 bits the CA/Browser Forum asks for. Bit 126 is always set, so
// the number is positive, never zero, and 16 octets long (RFC 5280 allows 20).
func NewSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, err
	}
	return n.SetBit(n, 126, 1), nil
}
