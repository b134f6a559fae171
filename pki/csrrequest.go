package pki

// CSRRequest says what a device must put in the CSR it makes: the key to
// generate and the names to request. Device drivers pass it on, and the agent
// protocol carries it as it is.
type CSRRequest struct {
	CertType string     `json:"cert_type"`
	Key      KeySpec    `json:"key"`
	Subject  CSRSubject `json:"subject"`
	SANs     CSRSANs    `json:"sans"`
}

// CSRSubject is the subject a device is asked to request.
type CSRSubject struct {
	CommonName         string `json:"cn,omitempty"`
	Organization       string `json:"o,omitempty"`
	OrganizationalUnit string `json:"ou,omitempty"`
	Country            string `json:"c,omitempty"`
	SerialNumber       string `json:"serial_number,omitempty"`
}

// CSRSANs are the subject alternative names a device is asked to request.
type CSRSANs struct {
	DNS   []string `json:"dns,omitempty"`
	IP    []string `json:"ip,omitempty"`
	Email []string `json:"email,omitempty"`
	URI   []string `json:"uri,omitempty"`
}
