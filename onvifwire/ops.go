package onvifwire

import "encoding/xml"

// Namespaced element tags are spelled out in full: encoding/xml matches and
// writes the namespace of every element, so the driver and the simulator
// both hold to the WSDL's element names and namespaces (elementFormDefault
// is qualified in both the device management and the Advanced Security WSDL).

// ---- Device management (tds) ----

// GetServices asks the device for its services and their addresses.
type GetServices struct {
	XMLName           xml.Name `xml:"http://www.onvif.org/ver10/device/wsdl GetServices"`
	IncludeCapability bool     `xml:"http://www.onvif.org/ver10/device/wsdl IncludeCapability"`
}

// GetServicesResponse lists the services.
type GetServicesResponse struct {
	XMLName xml.Name  `xml:"http://www.onvif.org/ver10/device/wsdl GetServicesResponse"`
	Service []Service `xml:"http://www.onvif.org/ver10/device/wsdl Service"`
}

// Service is one service: its namespace, address and version.
type Service struct {
	Namespace string       `xml:"http://www.onvif.org/ver10/device/wsdl Namespace"`
	XAddr     string       `xml:"http://www.onvif.org/ver10/device/wsdl XAddr"`
	Version   OnvifVersion `xml:"http://www.onvif.org/ver10/device/wsdl Version"`
}

// OnvifVersion is tt:OnvifVersion.
type OnvifVersion struct {
	Major int `xml:"http://www.onvif.org/ver10/schema Major"`
	Minor int `xml:"http://www.onvif.org/ver10/schema Minor"`
}

// ---- Advanced Security (tas): keys ----

// Key statuses (tas:KeyStatus).
const (
	KeyOK         = "ok"
	KeyGenerating = "generating"
	KeyCorrupt    = "corrupt"
)

// CreateRSAKeyPair starts generating an RSA key pair on the device.
type CreateRSAKeyPair struct {
	XMLName   xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CreateRSAKeyPair"`
	KeyLength int      `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl KeyLength"`
	Alias     string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Alias,omitempty"`
}

// CreateRSAKeyPairResponse names the key being generated.
type CreateRSAKeyPairResponse struct {
	XMLName               xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CreateRSAKeyPairResponse"`
	KeyID                 string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl KeyID"`
	EstimatedCreationTime string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl EstimatedCreationTime"`
}

// CreateECCKeyPair starts generating an ECC key pair on the device; the
// curve is named as in the IANA TLS Supported Groups registry (secp256r1).
type CreateECCKeyPair struct {
	XMLName       xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CreateECCKeyPair"`
	EllipticCurve string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl EllipticCurve"`
	Alias         string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Alias,omitempty"`
}

// CreateECCKeyPairResponse names the key being generated.
type CreateECCKeyPairResponse struct {
	XMLName               xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CreateECCKeyPairResponse"`
	KeyID                 string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl KeyID"`
	EstimatedCreationTime string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl EstimatedCreationTime"`
}

// GetKeyStatus asks for a key's status.
type GetKeyStatus struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetKeyStatus"`
	KeyID   string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl KeyID"`
}

// GetKeyStatusResponse is ok, generating or corrupt.
type GetKeyStatusResponse struct {
	XMLName   xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetKeyStatusResponse"`
	KeyStatus string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl KeyStatus"`
}

// GetAllKeys lists the keystore's keys.
type GetAllKeys struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetAllKeys"`
}

// GetAllKeysResponse lists the keys.
type GetAllKeysResponse struct {
	XMLName      xml.Name       `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetAllKeysResponse"`
	KeyAttribute []KeyAttribute `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl KeyAttribute"`
}

// KeyAttribute is tas:KeyAttribute.
type KeyAttribute struct {
	KeyID               string `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl KeyID"`
	Alias               string `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Alias,omitempty"`
	HasPrivateKey       *bool  `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl hasPrivateKey,omitempty"`
	KeyStatus           string `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl KeyStatus"`
	ExternallyGenerated *bool  `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl externallyGenerated,omitempty"`
	SecurelyStored      *bool  `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl securelyStored,omitempty"`
}

// DeleteKey deletes a key.
type DeleteKey struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl DeleteKey"`
	KeyID   string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl KeyID"`
}

// DeleteKeyResponse is empty.
type DeleteKeyResponse struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl DeleteKeyResponse"`
}

// ---- CSRs ----

// CreatePKCS10CSR has the device sign a CSR with a key of its keystore.
type CreatePKCS10CSR struct {
	XMLName            xml.Name            `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CreatePKCS10CSR"`
	Subject            DistinguishedName   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Subject"`
	KeyID              string              `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl KeyID"`
	CSRAttribute       []CSRAttribute      `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CSRAttribute"`
	SignatureAlgorithm AlgorithmIdentifier `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl SignatureAlgorithm"`
}

// CreatePKCS10CSRResponse is the DER CSR, base64.
type CreatePKCS10CSRResponse struct {
	XMLName   xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CreatePKCS10CSRResponse"`
	PKCS10CSR string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl PKCS10CSR"`
}

// DistinguishedName is tas:DistinguishedName, in the WSDL's element order;
// certfleet uses the attributes pki.CSRSubject has.
type DistinguishedName struct {
	Country            []string `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Country,omitempty"`
	Organization       []string `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Organization,omitempty"`
	OrganizationalUnit []string `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl OrganizationalUnit,omitempty"`
	CommonName         []string `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CommonName,omitempty"`
	SerialNumber       []string `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl SerialNumber,omitempty"`
}

// CSRAttribute is tas:CSRAttribute; certfleet sends X.509v3 extensions (the
// subject alternative names).
type CSRAttribute struct {
	X509v3Extension *X509v3Extension `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl X509v3Extension,omitempty"`
}

// X509v3Extension is one extension: OID, criticality and base64 DER value.
type X509v3Extension struct {
	ExtnOID   string `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl extnOID"`
	Critical  bool   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl critical"`
	ExtnValue string `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl extnValue"`
}

// AlgorithmIdentifier names an algorithm by dotted OID.
type AlgorithmIdentifier struct {
	Algorithm string `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl algorithm"`
}

// Signature algorithm OIDs.
const (
	OIDSHA256WithRSA   = "1.2.840.113549.1.1.11"
	OIDECDSAWithSHA256 = "1.2.840.10045.4.3.2"
	OIDECDSAWithSHA384 = "1.2.840.10045.4.3.3"
	OIDSubjectAltName  = "2.5.29.17"
)

// ---- Certificates ----

// UploadCertificate stores a certificate; with PrivateKeyRequired the device
// must hold the private key of the certificate's public key.
type UploadCertificate struct {
	XMLName            xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl UploadCertificate"`
	Certificate        string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Certificate"`
	Alias              string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Alias,omitempty"`
	KeyAlias           string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl KeyAlias,omitempty"`
	PrivateKeyRequired *bool    `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl PrivateKeyRequired,omitempty"`
}

// UploadCertificateResponse names the certificate and the key it certifies.
type UploadCertificateResponse struct {
	XMLName       xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl UploadCertificateResponse"`
	CertificateID string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertificateID"`
	KeyID         string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl KeyID"`
}

// GetCertificate reads one certificate.
type GetCertificate struct {
	XMLName       xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetCertificate"`
	CertificateID string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertificateID"`
}

// GetCertificateResponse holds it.
type GetCertificateResponse struct {
	XMLName     xml.Name        `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetCertificateResponse"`
	Certificate X509Certificate `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Certificate"`
}

// GetAllCertificates lists the keystore's certificates.
type GetAllCertificates struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetAllCertificates"`
}

// GetAllCertificatesResponse lists them.
type GetAllCertificatesResponse struct {
	XMLName     xml.Name          `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetAllCertificatesResponse"`
	Certificate []X509Certificate `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Certificate"`
}

// X509Certificate is tas:X509Certificate.
type X509Certificate struct {
	CertificateID      string `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertificateID"`
	KeyID              string `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl KeyID"`
	Alias              string `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Alias,omitempty"`
	CertificateContent string `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertificateContent"`
	HasPrivateKey      *bool  `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl HasPrivateKey,omitempty"`
}

// DeleteCertificate deletes a certificate.
type DeleteCertificate struct {
	XMLName       xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl DeleteCertificate"`
	CertificateID string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertificateID"`
}

// DeleteCertificateResponse is empty.
type DeleteCertificateResponse struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl DeleteCertificateResponse"`
}

// ---- Certification paths ----

// CreateCertificationPath makes a path of certificates, leaf first.
type CreateCertificationPath struct {
	XMLName        xml.Name       `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CreateCertificationPath"`
	CertificateIDs CertificateIDs `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertificateIDs"`
	Alias          string         `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Alias,omitempty"`
}

// CertificateIDs is tas:CertificateIDs.
type CertificateIDs struct {
	CertificateID []string `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertificateID"`
}

// CreateCertificationPathResponse names the path.
type CreateCertificationPathResponse struct {
	XMLName             xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CreateCertificationPathResponse"`
	CertificationPathID string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertificationPathID"`
}

// GetCertificationPath reads a path.
type GetCertificationPath struct {
	XMLName             xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetCertificationPath"`
	CertificationPathID string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertificationPathID"`
}

// GetCertificationPathResponse holds it.
type GetCertificationPathResponse struct {
	XMLName           xml.Name          `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetCertificationPathResponse"`
	CertificationPath CertificationPath `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertificationPath"`
}

// CertificationPath is tas:CertificationPath: certificate IDs, leaf first, and an alias.
type CertificationPath struct {
	CertificateID []string `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertificateID"`
	Alias         string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Alias,omitempty"`
}

// GetAllCertificationPaths lists the paths.
type GetAllCertificationPaths struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetAllCertificationPaths"`
}

// GetAllCertificationPathsResponse lists their IDs.
type GetAllCertificationPathsResponse struct {
	XMLName             xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetAllCertificationPathsResponse"`
	CertificationPathID []string `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertificationPathID"`
}

// DeleteCertificationPath deletes a path (not its certificates).
type DeleteCertificationPath struct {
	XMLName             xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl DeleteCertificationPath"`
	CertificationPathID string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertificationPathID"`
}

// DeleteCertificationPathResponse is empty.
type DeleteCertificationPathResponse struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl DeleteCertificationPathResponse"`
}

// ---- TLS server ----

// AddServerCertificateAssignment assigns a path to the TLS server.
type AddServerCertificateAssignment struct {
	XMLName             xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl AddServerCertificateAssignment"`
	CertificationPathID string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertificationPathID"`
}

// AddServerCertificateAssignmentResponse is empty.
type AddServerCertificateAssignmentResponse struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl AddServerCertificateAssignmentResponse"`
}

// RemoveServerCertificateAssignment unassigns a path from the TLS server.
type RemoveServerCertificateAssignment struct {
	XMLName             xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl RemoveServerCertificateAssignment"`
	CertificationPathID string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertificationPathID"`
}

// RemoveServerCertificateAssignmentResponse is empty.
type RemoveServerCertificateAssignmentResponse struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl RemoveServerCertificateAssignmentResponse"`
}

// ReplaceServerCertificateAssignment swaps one assigned path for another in one step.
type ReplaceServerCertificateAssignment struct {
	XMLName                xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl ReplaceServerCertificateAssignment"`
	OldCertificationPathID string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl OldCertificationPathID"`
	NewCertificationPathID string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl NewCertificationPathID"`
}

// ReplaceServerCertificateAssignmentResponse is empty.
type ReplaceServerCertificateAssignmentResponse struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl ReplaceServerCertificateAssignmentResponse"`
}

// GetAssignedServerCertificates lists the paths assigned to the TLS server.
type GetAssignedServerCertificates struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetAssignedServerCertificates"`
}

// GetAssignedServerCertificatesResponse lists their IDs.
type GetAssignedServerCertificatesResponse struct {
	XMLName             xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetAssignedServerCertificatesResponse"`
	CertificationPathID []string `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertificationPathID"`
}

// ---- IEEE 802.1X ----

// GetNetworkInterfaces (device management) lists the network interfaces.
type GetNetworkInterfaces struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/device/wsdl GetNetworkInterfaces"`
}

// GetNetworkInterfacesResponse lists them; certfleet reads their tokens.
type GetNetworkInterfacesResponse struct {
	XMLName           xml.Name           `xml:"http://www.onvif.org/ver10/device/wsdl GetNetworkInterfacesResponse"`
	NetworkInterfaces []NetworkInterface `xml:"http://www.onvif.org/ver10/device/wsdl NetworkInterfaces"`
}

// NetworkInterface is the part of tt:NetworkInterface certfleet reads.
type NetworkInterface struct {
	Token   string `xml:"token,attr"`
	Enabled bool   `xml:"http://www.onvif.org/ver10/schema Enabled"`
}

// Dot1XConfiguration is tas:Dot1XConfiguration.
type Dot1XConfiguration struct {
	Dot1XID string     `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Dot1XID,omitempty"`
	Alias   string     `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Alias,omitempty"`
	Outer   Dot1XStage `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Outer"`
}

// Dot1XStage is tas:Dot1XStage; EAP-TLS uses an identity and a certification
// path. CertPathValidationPolicyID (an attribute, Advanced Security 18.12 and
// later) names the certification path validation policy the device
// validates the authentication server's certificate with: the place the
// schema gives for the authentication server's CA certificates (its trust
// anchors). tas:Dot1XConfiguration has no CA certificate ID element of its
// own (unlike the device service's deprecated tt:Dot1XConfiguration).
type Dot1XStage struct {
	Method                     string      `xml:"Method,attr"`
	CertPathValidationPolicyID string      `xml:"CertPathValidationPolicyID,attr,omitempty"`
	Identity                   string      `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Identity,omitempty"`
	CertificationPathID        string      `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertificationPathID,omitempty"`
	PassphraseID               string      `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl PassphraseID,omitempty"`
	Inner                      *Dot1XStage `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Inner,omitempty"`
}

// AddDot1XConfiguration stores an 802.1X configuration.
type AddDot1XConfiguration struct {
	XMLName            xml.Name           `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl AddDot1XConfiguration"`
	Dot1XConfiguration Dot1XConfiguration `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Dot1XConfiguration"`
}

// AddDot1XConfigurationResponse names it.
type AddDot1XConfigurationResponse struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl AddDot1XConfigurationResponse"`
	Dot1XID string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Dot1XID"`
}

// GetAllDot1XConfigurations lists the 802.1X configurations.
type GetAllDot1XConfigurations struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetAllDot1XConfigurations"`
}

// GetAllDot1XConfigurationsResponse lists them.
type GetAllDot1XConfigurationsResponse struct {
	XMLName       xml.Name             `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetAllDot1XConfigurationsResponse"`
	Configuration []Dot1XConfiguration `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Configuration"`
}

// GetDot1XConfiguration reads one.
type GetDot1XConfiguration struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetDot1XConfiguration"`
	Dot1XID string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Dot1XID"`
}

// GetDot1XConfigurationResponse holds it.
type GetDot1XConfigurationResponse struct {
	XMLName            xml.Name           `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetDot1XConfigurationResponse"`
	Dot1XConfiguration Dot1XConfiguration `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Dot1XConfiguration"`
}

// DeleteDot1XConfiguration deletes one.
type DeleteDot1XConfiguration struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl DeleteDot1XConfiguration"`
	Dot1XID string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Dot1XID"`
}

// DeleteDot1XConfigurationResponse is empty.
type DeleteDot1XConfigurationResponse struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl DeleteDot1XConfigurationResponse"`
}

// SetNetworkInterfaceDot1XConfiguration puts a configuration on an interface.
type SetNetworkInterfaceDot1XConfiguration struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl SetNetworkInterfaceDot1XConfiguration"`
	Token   string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl token"`
	Dot1XID string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Dot1XID"`
}

// SetNetworkInterfaceDot1XConfigurationResponse says whether a reboot is needed.
type SetNetworkInterfaceDot1XConfigurationResponse struct {
	XMLName      xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl SetNetworkInterfaceDot1XConfigurationResponse"`
	RebootNeeded bool     `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl RebootNeeded"`
}

// GetNetworkInterfaceDot1XConfiguration reads the configuration on an interface.
type GetNetworkInterfaceDot1XConfiguration struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetNetworkInterfaceDot1XConfiguration"`
	Token   string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl token"`
}

// GetNetworkInterfaceDot1XConfigurationResponse names it, if any.
type GetNetworkInterfaceDot1XConfigurationResponse struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetNetworkInterfaceDot1XConfigurationResponse"`
	Dot1XID string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Dot1XID,omitempty"`
}

// EAPTLS is the 802.1X method certfleet configures.
const EAPTLS = "EAP-TLS"

// DeleteNetworkInterfaceDot1XConfiguration takes the 802.1X configuration off an interface.
type DeleteNetworkInterfaceDot1XConfiguration struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl DeleteNetworkInterfaceDot1XConfiguration"`
	Token   string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl token"`
}

// DeleteNetworkInterfaceDot1XConfigurationResponse says whether a reboot is needed.
type DeleteNetworkInterfaceDot1XConfigurationResponse struct {
	XMLName      xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl DeleteNetworkInterfaceDot1XConfigurationResponse"`
	RebootNeeded bool     `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl RebootNeeded"`
}

// ---- Certification path validation policies (cert-based client auth) ----

// CertPathValidationParameters is tas:CertPathValidationParameters; certfleet
// sends it empty (the defaults).
type CertPathValidationParameters struct {
	RequireTLSWWWClientAuthExtendedKeyUsage *bool `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl RequireTLSWWWClientAuthExtendedKeyUsage,omitempty"`
	UseDeltaCRLs                            *bool `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl UseDeltaCRLs,omitempty"`
}

// TrustAnchor is tas:TrustAnchor: a certificate of the keystore to trust.
type TrustAnchor struct {
	CertificateID string `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertificateID"`
}

// CertPathValidationPolicy is tas:CertPathValidationPolicy, in schema order.
type CertPathValidationPolicy struct {
	CertPathValidationPolicyID string                       `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertPathValidationPolicyID"`
	Alias                      string                       `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Alias,omitempty"`
	Parameters                 CertPathValidationParameters `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Parameters"`
	TrustAnchor                []TrustAnchor                `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl TrustAnchor"`
}

// CreateCertPathValidationPolicy stores a policy of trust anchors.
type CreateCertPathValidationPolicy struct {
	XMLName     xml.Name                     `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CreateCertPathValidationPolicy"`
	Alias       string                       `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Alias,omitempty"`
	Parameters  CertPathValidationParameters `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl Parameters"`
	TrustAnchor []TrustAnchor                `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl TrustAnchor"`
}

// CreateCertPathValidationPolicyResponse names it.
type CreateCertPathValidationPolicyResponse struct {
	XMLName                    xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CreateCertPathValidationPolicyResponse"`
	CertPathValidationPolicyID string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertPathValidationPolicyID"`
}

// GetCertPathValidationPolicy reads one.
type GetCertPathValidationPolicy struct {
	XMLName                    xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetCertPathValidationPolicy"`
	CertPathValidationPolicyID string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertPathValidationPolicyID"`
}

// GetCertPathValidationPolicyResponse holds it.
type GetCertPathValidationPolicyResponse struct {
	XMLName                  xml.Name                 `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetCertPathValidationPolicyResponse"`
	CertPathValidationPolicy CertPathValidationPolicy `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertPathValidationPolicy"`
}

// GetAllCertPathValidationPolicies lists the policies.
type GetAllCertPathValidationPolicies struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetAllCertPathValidationPolicies"`
}

// GetAllCertPathValidationPoliciesResponse lists them.
type GetAllCertPathValidationPoliciesResponse struct {
	XMLName                  xml.Name                   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl GetAllCertPathValidationPoliciesResponse"`
	CertPathValidationPolicy []CertPathValidationPolicy `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertPathValidationPolicy"`
}

// DeleteCertPathValidationPolicy deletes one.
type DeleteCertPathValidationPolicy struct {
	XMLName                    xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl DeleteCertPathValidationPolicy"`
	CertPathValidationPolicyID string   `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl CertPathValidationPolicyID"`
}

// DeleteCertPathValidationPolicyResponse is empty.
type DeleteCertPathValidationPolicyResponse struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/advancedsecurity/wsdl DeleteCertPathValidationPolicyResponse"`
}
