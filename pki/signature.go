package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// VerifySignature checks a base64 SHA-256 signature by pub, as made by
// `openssl dgst -sha256 -sign key | openssl base64 -A`, over any of messages.
func VerifySignature(pub crypto.PublicKey, signatureB64 string, messages ...[]byte) error {
	sig, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(signatureB64), ""))
	if err != nil {
		return errors.New("signature is not base64")
	}
	for _, msg := range messages {
		digest := sha256.Sum256(msg)
		switch key := pub.(type) {
		case *rsa.PublicKey:
			if rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig) == nil || rsa.VerifyPSS(key, crypto.SHA256, digest[:], sig, nil) == nil {
				return nil
			}
		case *ecdsa.PublicKey:
			if ecdsa.VerifyASN1(key, digest[:], sig) {
				return nil
			}
		default:
			return fmt.Errorf("keys of type %T are not supported", pub)
		}
	}
	return errors.New("signature does not verify with the anchor's public key")
}
