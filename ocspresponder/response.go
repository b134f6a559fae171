package ocspresponder

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"time"

	"github.com/certfleet/certfleet/drivers/ca"
)

// The response's ASN.1 (RFC 6960 §4.2.1). golang.org/x/crypto/ocsp builds
// responses too, but puts extensions only in the single response, where
// clients do not look for the nonce; this builds the same structure with the
// nonce among the response extensions (§4.4.1). The package's tests read
// every answer back with x/crypto/ocsp and with openssl.
type ocspResponse struct {
	Status asn1.Enumerated
	Bytes  responseBytes `asn1:"explicit,tag:0,optional"`
}

type responseBytes struct {
	Type     asn1.ObjectIdentifier
	Response []byte
}

type basicResponse struct {
	TBSResponseData    asn1.RawValue
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          asn1.BitString
	Certificates       []asn1.RawValue `asn1:"explicit,tag:0,optional"`
}

type responseData struct {
	ResponderID        asn1.RawValue // byName [1] EXPLICIT Name
	ProducedAt         time.Time     `asn1:"generalized"`
	Responses          []singleResponse
	ResponseExtensions []pkix.Extension `asn1:"explicit,tag:1,optional"`
}

type singleResponse struct {
	CertID     asn1.RawValue
	Good       asn1.Flag   `asn1:"tag:0,optional"`
	Revoked    revokedInfo `asn1:"tag:1,optional"`
	Unknown    asn1.Flag   `asn1:"tag:2,optional"`
	ThisUpdate time.Time   `asn1:"generalized"`
	NextUpdate time.Time   `asn1:"generalized,explicit,tag:0,optional"`
}

type revokedInfo struct {
	RevocationTime time.Time       `asn1:"generalized"`
	Reason         asn1.Enumerated `asn1:"explicit,tag:0,optional"`
}

var (
	oidBasicResponse   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 1}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidSHA256WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
)

// The unsigned answers (RFC 6960 §4.2.1): responseStatus alone.
var (
	malformedResponse   = []byte{0x30, 0x03, 0x0a, 0x01, 0x01}
	internalErrResponse = []byte{0x30, 0x03, 0x0a, 0x01, 0x02}
	tryLaterResponse    = []byte{0x30, 0x03, 0x0a, 0x01, 0x03}
)

// answer is one signed response's content.
type answer struct {
	status     ca.CertificateStatus
	thisUpdate time.Time
	nextUpdate time.Time
}

// sign builds and signs the response to r: its CertID echoed, the status,
// the nonce when the request had one, and the signer's certificate so that
// clients can check it was delegated by the issuer.
func sign(r request, a answer, signer Signer) ([]byte, error) {
	single := singleResponse{CertID: r.certID, ThisUpdate: a.thisUpdate.UTC(), NextUpdate: a.nextUpdate.UTC()}
	switch a.status.State {
	case ca.CertificateGood:
		single.Good = true
	case ca.CertificateRevoked:
		single.Revoked = revokedInfo{RevocationTime: a.status.RevokedAt.UTC(), Reason: asn1.Enumerated(a.status.Reason)}
	default:
		single.Unknown = true
	}
	data := responseData{
		ResponderID: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, IsCompound: true, Bytes: signer.Certificate.RawSubject},
		ProducedAt:  a.thisUpdate.UTC().Truncate(time.Second),
		Responses:   []singleResponse{single},
	}
	if r.nonce != nil {
		data.ResponseExtensions = []pkix.Extension{*r.nonce}
	}
	tbs, err := asn1.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encode OCSP response data: %w", err)
	}
	algorithm, hash, err := signatureAlgorithm(signer.Key)
	if err != nil {
		return nil, err
	}
	digest := hash.New()
	digest.Write(tbs)
	signature, err := signer.Key.Sign(rand.Reader, digest.Sum(nil), hash)
	if err != nil {
		return nil, fmt.Errorf("sign OCSP response: %w", err)
	}
	basic, err := asn1.Marshal(basicResponse{
		TBSResponseData:    asn1.RawValue{FullBytes: tbs},
		SignatureAlgorithm: algorithm,
		Signature:          asn1.BitString{Bytes: signature, BitLength: 8 * len(signature)},
		Certificates:       []asn1.RawValue{{FullBytes: signer.Certificate.Raw}},
	})
	if err != nil {
		return nil, fmt.Errorf("encode OCSP basic response: %w", err)
	}
	return asn1.Marshal(ocspResponse{Bytes: responseBytes{Type: oidBasicResponse, Response: basic}})
}

// signatureAlgorithm is SHA-256 with the signer's key type.
func signatureAlgorithm(key crypto.Signer) (pkix.AlgorithmIdentifier, crypto.Hash, error) {
	switch key.Public().(type) {
	case *ecdsa.PublicKey:
		return pkix.AlgorithmIdentifier{Algorithm: oidECDSAWithSHA256}, crypto.SHA256, nil
	case *rsa.PublicKey:
		return pkix.AlgorithmIdentifier{Algorithm: oidSHA256WithRSA, Parameters: asn1.NullRawValue}, crypto.SHA256, nil
	default:
		return pkix.AlgorithmIdentifier{}, 0, fmt.Errorf("OCSP signer: unsupported key type %T", key.Public())
	}
}

// Signer is a delegated OCSP signing certificate (RFC 6960 §4.2.2.2) and its key.
type Signer struct {
	Certificate *x509.Certificate
	Key         crypto.Signer
}
