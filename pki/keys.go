// Package pki is certfleet's X.509 core: key types, PEM and CSR parsing,
// certificate profiles, the CSR policy check and the template a CA signs.
// It does no I/O; CAs and stores build on it.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"strings"
)

// KeySpec names a key algorithm and size, such as ECDSA 256 (P-256) or RSA 3072.
type KeySpec struct {
	Algorithm string `json:"algorithm"` // "ecdsa" or "rsa"
	Size      int    `json:"size"`      // curve bits for ECDSA, modulus bits for RSA
}

func (k KeySpec) String() string { return fmt.Sprintf("%s-%d", k.Algorithm, k.Size) }

// Supported reports whether certfleet accepts keys of this spec anywhere.
// RSA below 2048 bits and curves other than P-256 and P-384 are refused.
func (k KeySpec) Supported() bool {
	switch k.Algorithm {
	case "ecdsa":
		return k.Size == 256 || k.Size == 384
	case "rsa":
		return k.Size == 2048 || k.Size == 3072 || k.Size == 4096
	}
	return false
}

// ParseKeySpec reads "ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072" or "rsa-4096"
// (and what KeySpec.String writes).
func ParseKeySpec(s string) (KeySpec, error) {
	var spec KeySpec
	switch alg, size, _ := strings.Cut(strings.ToLower(s), "-"); alg {
	case "ecdsa":
		spec = KeySpec{Algorithm: "ecdsa"}
		_, err := fmt.Sscanf(strings.TrimPrefix(size, "p"), "%d", &spec.Size) // "ecdsa-256", as KeySpec.String writes it, too
		if err != nil {
			return KeySpec{}, fmt.Errorf("key type %q: want ecdsa-p256 or ecdsa-p384", s)
		}
	case "rsa":
		spec = KeySpec{Algorithm: "rsa"}
		if _, err := fmt.Sscanf(size, "%d", &spec.Size); err != nil {
			return KeySpec{}, fmt.Errorf("key type %q: want rsa-2048, rsa-3072 or rsa-4096", s)
		}
	default:
		return KeySpec{}, fmt.Errorf("key type %q: want ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072 or rsa-4096", s)
	}
	if !spec.Supported() {
		return KeySpec{}, fmt.Errorf("key type %q is not supported", s)
	}
	return spec, nil
}

// GenerateKey makes a new private key of spec.
func GenerateKey(spec KeySpec) (crypto.Signer, error) {
	if !spec.Supported() {
		return nil, fmt.Errorf("generate key: %s is not supported", spec)
	}
	if spec.Algorithm == "rsa" {
		return rsa.GenerateKey(rand.Reader, spec.Size)
	}
	curve := elliptic.P256()
	if spec.Size == 384 {
		curve = elliptic.P384()
	}
	return ecdsa.GenerateKey(curve, rand.Reader)
}

// SpecOf returns the spec of a public key, whether or not it is supported.
func SpecOf(pub crypto.PublicKey) (KeySpec, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return KeySpec{Algorithm: "ecdsa", Size: k.Curve.Params().BitSize}, nil
	case *rsa.PublicKey:
		return KeySpec{Algorithm: "rsa", Size: k.N.BitLen()}, nil
	}
	return KeySpec{}, fmt.Errorf("unsupported public key type %T", pub)
}

// SamePublicKey reports whether two public keys are equal.
func SamePublicKey(a, b crypto.PublicKey) bool {
	ak, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ak.Equal(b)
}

// MarshalPrivateKey encodes key as PKCS#8 DER.
func MarshalPrivateKey(key crypto.Signer) ([]byte, error) {
	return x509.MarshalPKCS8PrivateKey(key)
}

// ParsePrivateKey decodes PKCS#8 DER into a signer.
func ParsePrivateKey(der []byte) (crypto.Signer, error) {
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse PKCS#8 private key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign", key)
	}
	return signer, nil
}
