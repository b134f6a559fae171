package ca

import "time"

// Info is one CA certfleet runs, as operators see it: its issuing
// certificate, the chain up to its root, where relying parties fetch its
// CRL, OCSP answers and certificate, and what issues from it. A CA waiting
// for an outside root to sign it has only its CSR.
type Info struct {
	Name string `json:"name"`
	// Status: active (it issues), next (published beside the active one,
	// issuing from ActivatesAt), retired (it issues no more; its CRL and OCSP
	// answers stay), or pending (its CSR awaits the outside root's signature).
	Status      string     `json:"status"`
	ActivatesAt *time.Time `json:"activates_at,omitempty"`
	// OutsideRoot: the root is not certfleet's (certfleet holds no key of it).
	OutsideRoot  bool       `json:"outside_root"`
	Issuing      *CertInfo  `json:"issuing,omitempty"`
	Chain        []CertInfo `json:"chain,omitempty"` // above the issuing CA, the root last
	CRLURL       string     `json:"crl_url,omitempty"`
	OCSPURL      string     `json:"ocsp_url,omitempty"`
	CAIssuersURL string     `json:"ca_issuers_url,omitempty"`
	Profiles     []Named    `json:"profiles"`
	Labels       []string   `json:"labels"` // EST and SCEP labels whose profile issues from it
	CSRPEM       string     `json:"csr_pem,omitempty"`
	CreatedBy    string     `json:"created_by,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
}

// CertInfo is a CA certificate's public facts.
type CertInfo struct {
	Subject      string    `json:"subject"`
	Issuer       string    `json:"issuer"`
	Serial       string    `json:"serial"`
	KeyAlgorithm string    `json:"key_algorithm"`
	NotBefore    time.Time `json:"not_before"`
	NotAfter     time.Time `json:"not_after"`
	SHA256       string    `json:"sha256"`
	PEM          string    `json:"pem"`
}

// Named is a profile by ID and name.
type Named struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// IssuingCARequest starts an issuing CA under an outside root.
type IssuingCARequest struct {
	Name         string `json:"name"`
	CommonName   string `json:"common_name"`
	Organization string `json:"organization"`
	Key          string `json:"key"` // ecdsa-p256 (the default), ecdsa-p384, rsa-2048, rsa-3072 or rsa-4096
}
