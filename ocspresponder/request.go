package ocspresponder

import (
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

// request is what the responder needs of an OCSP request (RFC 6960 §4.1.1):
// the one certificate it asks about, the CertID to echo in the answer, and
// the nonce to return.
type request struct {
	certID   asn1.RawValue // echoed byte for byte in the response
	hash     crypto.Hash
	nameHash []byte
	keyHash  []byte
	serial   *big.Int
	nonce    *pkix.Extension // nil when the request has none, or one too long to echo
}

// The request's ASN.1 (RFC 6960 §4.1.1), as much of it as the responder reads.
type ocspRequest struct {
	TBSRequest        tbsRequest
	OptionalSignature asn1.RawValue `asn1:"explicit,tag:0,optional"`
}

type tbsRequest struct {
	Version           int              `asn1:"explicit,tag:0,default:0,optional"`
	RequestorName     asn1.RawValue    `asn1:"explicit,tag:1,optional"`
	RequestList       []singleRequest  // SEQUENCE OF Request
	RequestExtensions []pkix.Extension `asn1:"explicit,tag:2,optional"`
}

type singleRequest struct {
	CertID     asn1.RawValue
	Extensions []pkix.Extension `asn1:"explicit,tag:0,optional"`
}

type certID struct {
	HashAlgorithm  pkix.AlgorithmIdentifier
	IssuerNameHash []byte
	IssuerKeyHash  []byte
	SerialNumber   *big.Int
}

var (
	oidNonce = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}
	hashes   = map[string]crypto.Hash{
		"1.3.14.3.2.26":          crypto.SHA1,
		"2.16.840.1.101.3.4.2.1": crypto.SHA256,
		"2.16.840.1.101.3.4.2.2": crypto.SHA384,
		"2.16.840.1.101.3.4.2.3": crypto.SHA512,
	}
)

// maxNonce is the longest nonce echoed: RFC 8954 asks responders to accept
// up to 32 octets and lets them leave longer ones out of the answer.
const maxNonce = 32

// errMalformed is any request the responder cannot read.
var errMalformed = errors.New("malformed OCSP request")

// parseRequest reads a DER OCSP request for one certificate. A request that
// lists several is answered for its first, as RFC 5019 clients send one.
func parseRequest(der []byte) (request, error) {
	var req ocspRequest
	rest, err := asn1.Unmarshal(der, &req)
	switch {
	case err != nil:
		return request{}, fmt.Errorf("%w: %v", errMalformed, err)
	case len(rest) > 0:
		return request{}, fmt.Errorf("%w: trailing data", errMalformed)
	case len(req.OptionalSignature.FullBytes) > 0:
		return request{}, fmt.Errorf("%w: signed requests are not supported", errMalformed)
	case len(req.TBSRequest.RequestList) == 0:
		return request{}, fmt.Errorf("%w: it asks about no certificate", errMalformed)
	}
	first := req.TBSRequest.RequestList[0].CertID
	var id certID
	if rest, err := asn1.Unmarshal(first.FullBytes, &id); err != nil || len(rest) > 0 {
		return request{}, fmt.Errorf("%w: CertID: %v", errMalformed, err)
	}
	hash, known := hashes[id.HashAlgorithm.Algorithm.String()]
	switch {
	case !known:
		return request{}, fmt.Errorf("%w: unknown hash algorithm %s", errMalformed, id.HashAlgorithm.Algorithm)
	case id.SerialNumber == nil || id.SerialNumber.Sign() < 0:
		return request{}, fmt.Errorf("%w: no serial number", errMalformed)
	case len(id.IssuerNameHash) != hash.Size() || len(id.IssuerKeyHash) != hash.Size():
		return request{}, fmt.Errorf("%w: issuer hashes are not %v digests", errMalformed, hash)
	}
	r := request{certID: first, hash: hash, nameHash: id.IssuerNameHash, keyHash: id.IssuerKeyHash, serial: id.SerialNumber}
	for _, e := range req.TBSRequest.RequestExtensions {
		if e.Id.Equal(oidNonce) {
			if nonceLength(e.Value) <= maxNonce {
				r.nonce = &pkix.Extension{Id: oidNonce, Value: e.Value}
			}
		}
	}
	return r, nil
}

// nonceLength is the length of the nonce an extension value carries: an
// OCTET STRING inside the extension's own (RFC 8954 §2.1), or, from older
// clients, the raw bytes.
func nonceLength(value []byte) int {
	var inner []byte
	if rest, err := asn1.Unmarshal(value, &inner); err == nil && len(rest) == 0 {
		return len(inner)
	}
	return len(value)
}
