package scep

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/smallstep/pkcs7"
	smscep "github.com/smallstep/scep"
	"github.com/smallstep/scep/x509util"
)

// The signed attributes of a SCEP pkiMessage (RFC 8894 §3.2.1).
var (
	oidMessageType    = asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 2}
	oidPKIStatus      = asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 3}
	oidFailInfo       = asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 4}
	oidSenderNonce    = asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 5}
	oidRecipientNonce = asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 6}
	oidTransactionID  = asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 7}
)

// The encryption of answers: AES-256-CBC, which GetCACaps advertises
// ("AES") and every current client decrypts, rather than the library's
// default, single DES.
func init() { pkcs7.ContentEncryptionAlgorithm = pkcs7.EncryptionAlgorithmAES256CBC }

// request is a SCEP pkiMessage as received: its signed envelope, read but
// not yet decrypted.
type request struct {
	p7            *pkcs7.PKCS7
	signer        *x509.Certificate
	messageType   smscep.MessageType
	transactionID string
	senderNonce   []byte
	// verifyErr is why the signature does not hold, nil if it does: the
	// answer is then a failure, which needs the attributes above.
	verifyErr error
}

// malformed is a message that cannot be answered with a CertRep: the client
// gets HTTP 400.
type malformed struct{ error }

// parseRequest reads a pkiMessage. Anything that leaves no transaction to
// answer is malformed; a signature that does not verify is kept for a
// badMessageCheck answer.
func parseRequest(der []byte) (q *request, err error) {
	defer func() {
		// A library meeting input it did not foresee must not take the
		// server down; such input is the client's fault.
		if v := recover(); v != nil {
			q, err = nil, malformed{fmt.Errorf("the message is not a SCEP pkiMessage (%v)", v)}
		}
	}()
	if len(der) == 0 {
		return nil, malformed{errors.New("the message is empty")}
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, malformed{fmt.Errorf("the message is not CMS signed data: %w", err)}
	}
	q = &request{p7: p7, signer: p7.GetOnlySigner()}
	if q.signer == nil {
		return nil, malformed{errors.New("the message needs exactly one signer, whose certificate it carries")}
	}
	var messageType, transactionID string
	for _, attr := range []struct {
		oid  asn1.ObjectIdentifier
		name string
		out  any
	}{{oidMessageType, "messageType", &messageType}, {oidTransactionID, "transactionID", &transactionID}, {oidSenderNonce, "senderNonce", &q.senderNonce}} {
		if err := p7.UnmarshalSignedAttribute(attr.oid, attr.out); err != nil {
			return nil, malformed{fmt.Errorf("the message's %s attribute: %w", attr.name, err)}
		}
	}
	q.messageType, q.transactionID = smscep.MessageType(messageType), transactionID
	if n := len(transactionID); n == 0 || n > 128 || !utf8.ValidString(transactionID) || strings.ContainsFunc(transactionID, unicode.IsControl) {
		return nil, malformed{errors.New("the transactionID must be 1 to 128 printable characters")}
	}
	if n := len(q.senderNonce); n < 8 || n > 64 {
		return nil, malformed{fmt.Errorf("the senderNonce is %d bytes; RFC 8894 asks for 16", n)}
	}
	q.verifyErr = p7.Verify()
	return q, nil
}

// failure is a refusal answered with a CertRep of pkiStatus FAILURE.
type failure struct {
	info   smscep.FailInfo
	reason string
	// byCA says the CA refused the request (rather than certfleet).
	byCA bool
}

func (f *failure) Error() string { return fmt.Sprintf("SCEP failInfo %s: %s", f.info, f.reason) }

func fail(info smscep.FailInfo, format string, args ...any) *failure {
	return &failure{info: info, reason: fmt.Sprintf(format, args...)}
}

// decrypt opens the request's content with whichever RA it was encrypted to.
func (q *request) decrypt(ras []ra) (content []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			content, err = nil, fail(smscep.BadMessageCheck, "the enveloped content is malformed (%v)", v)
		}
	}()
	env, err := pkcs7.Parse(q.p7.Content)
	if err != nil {
		return nil, fail(smscep.BadMessageCheck, "the content is not CMS enveloped data: %v", err)
	}
	for _, a := range ras {
		content, err = env.Decrypt(a.cert, a.key)
		if err == nil {
			return content, nil
		}
		if errors.Is(err, pkcs7.ErrUnsupportedAlgorithm) || errors.Is(err, pkcs7.ErrUnsupportedAsymmetricEncryptionAlgorithm) {
			return nil, fail(smscep.BadAlg, "%v", err)
		}
	}
	return nil, fail(smscep.BadMessageCheck, "the content is not encrypted to a current certfleet RA certificate (fetch it with GetCACert): %v", err)
}

// csr decrypts a PKCSReq's or RenewalReq's PKCS#10 request and its
// challenge password, checking the request's own signature.
func (q *request) csr(ras []ra) (*x509.CertificateRequest, string, error) {
	content, err := q.decrypt(ras)
	if err != nil {
		return nil, "", err
	}
	csr, err := x509.ParseCertificateRequest(content)
	if err != nil {
		return nil, "", fail(smscep.BadRequest, "the content is not a PKCS#10 request: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, "", fail(smscep.BadMessageCheck, "the PKCS#10 request's signature does not verify: %v", err)
	}
	challenge, err := x509util.ParseChallengePassword(content)
	if err != nil {
		return nil, "", fail(smscep.BadRequest, "the challengePassword attribute: %v", err)
	}
	return csr, challenge, nil
}

// reply is the answer to a request: issued (with the certificate), pending,
// or failed with a failInfo.
type reply struct {
	status   smscep.PKIStatus
	failInfo smscep.FailInfo
	cert     *x509.Certificate
}

// certRep is the CertRep answering q with rep, signed by the RA; an issued
// certificate travels encrypted to the requester's signing certificate.
func certRep(q *request, rep reply, signer ra) ([]byte, error) {
	var content []byte
	if rep.status == smscep.SUCCESS {
		degenerate, err := pkcs7.DegenerateCertificate(rep.cert.Raw)
		if err != nil {
			return nil, err
		}
		if content, err = pkcs7.Encrypt(degenerate, []*x509.Certificate{q.signer}); err != nil {
			return nil, fmt.Errorf("encrypt the certificate to the requester: %w", err)
		}
	}
	sd, err := pkcs7.NewSignedData(content)
	if err != nil {
		return nil, err
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	attrs := []pkcs7.Attribute{
		{Type: oidTransactionID, Value: q.transactionID},
		{Type: oidMessageType, Value: smscep.CertRep},
		{Type: oidPKIStatus, Value: rep.status},
		{Type: oidSenderNonce, Value: nonce},
		{Type: oidRecipientNonce, Value: q.senderNonce},
	}
	if rep.status == smscep.FAILURE {
		attrs = append(attrs, pkcs7.Attribute{Type: oidFailInfo, Value: rep.failInfo})
	}
	if err := sd.AddSigner(signer.cert, signer.key, pkcs7.SignerInfoConfig{ExtraSignedAttributes: attrs}); err != nil {
		return nil, fmt.Errorf("sign the CertRep: %w", err)
	}
	return sd.Finish()
}

// canReceive reports whether the requester can be sent a certificate:
// SCEP encrypts it to the request's signing certificate, with RSA.
func (q *request) canReceive() bool {
	_, ok := q.signer.PublicKey.(*rsa.PublicKey)
	return ok
}
