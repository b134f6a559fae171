package est

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/enroll"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/estwire"
	"github.com/certfleet/certfleet/metrics"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/vocab"
	"github.com/certfleet/certfleet/workflows"
)

// enroll serves simpleenroll, simplereenroll and serverkeygen. Everything a
// request could be refused for is checked before anything is written, so a
// refused request leaves no device, spent OTP or CA request behind.
func (s *Server) enroll(op string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) (err error) {
		ctx := r.Context()
		phases := metrics.StartPhases(runProtocol)
		l, err := s.label(r)
		if err != nil {
			return err
		}
		phases.Done("label")
		defer func() { metrics.Enrollment(runProtocol, l.Row.Label, outcome(err)) }()
		c, err := s.authenticate(ctx, r, l, op)
		if err != nil {
			return err
		}
		phases.Done("authenticate")
		csr, err := readCSR(w, r, s.Limits.MaxBody)
		if err != nil {
			return err
		}
		phases.Done("csr")
		if c.Station != nil {
			if c, err = s.ForStationDevice(ctx, l, c, csr); err != nil {
				return err
			}
		}
		// The key of the device's own request: the OTP is spent on it, so
		// that a retry of the request, even re-signed, finds the OTP its own.
		key := workflows.EnrollmentWorkflowID(runProtocol, c.Device.ID, op, c.Credential, csr)
		if err := s.Admit(ctx, l, c, csr, key); err != nil {
			return err
		}
		if c.Renewing != nil && !pki.SameNames(csr, c.Renewing) {
			return refuse(http.StatusForbidden, "the CSR's subject and SANs must be those of the certificate being renewed (RFC 7030 §4.2.2)")
		}
		if op == opServerKeyGen && l.Policy.ApprovalMode {
			return refuse(http.StatusBadRequest, "serverkeygen is not offered under a profile in approval mode: certfleet would have to keep the key until approval")
		}
		var serverKey []byte
		if op == opServerKeyGen {
			if serverKey, csr, err = generateKey(csr, l); err != nil {
				return err
			}
		}
		if err := s.Bind(ctx, c, key); err != nil {
			return err
		}
		phases.Done("admit")
		e := activities.Enrollment{Key: key, DeviceID: c.Device.ID, ProfileID: l.Profile.ID, CertType: l.Profile.CertType, CSR: csr.Raw, IdentityField: l.Row.IdentityField, Register: c.Register}
		run := enroll.RunInfo{Protocol: runProtocol, Operation: op, Label: l.Row.Label, Profile: l.Profile.Name, ExpectPending: l.Policy.ApprovalMode}
		if serverKey != nil {
			// Each generated key is an enrollment of its own (a CA request
			// is for one key pair), discarded if it is not delivered.
			e.Key, e.ServerKeyGen = workflows.EnrollmentWorkflowID(runProtocol, c.Device.ID, op, c.Credential, csr), true
			return s.serverKeyGen(w, r, e, run, serverKey)
		}
		sub, err := s.Enroller.Enroll(ctx, e, run)
		if err != nil {
			return err
		}
		phases.Done("workflow")
		defer phases.Done("respond")
		return s.respond(w, r, sub)
	}
}

// runProtocol prefixes EST enrollments' workflow IDs and is their CertJobId.
const runProtocol = "est"

// readCSR reads a base64 PKCS#10 body, wrapped or not, with or without
// Content-Transfer-Encoding (RFC 8951), and checks its signature.
func readCSR(w http.ResponseWriter, r *http.Request, maxBody int64) (*x509.CertificateRequest, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if media, _, err := mime.ParseMediaType(ct); err != nil || media != estwire.TypePKCS10 {
			return nil, refuse(http.StatusUnsupportedMediaType, "Content-Type must be %s, not %q", estwire.TypePKCS10, ct)
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, refuse(http.StatusRequestEntityTooLarge, "the body is over %d bytes", maxBody)
	}
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "read the body: %v", err)
	}
	return ParseCSRBody(body)
}

// ParseCSRBody decodes an EST request body into a CSR whose signature holds.
func ParseCSRBody(body []byte) (*x509.CertificateRequest, error) {
	der, err := estwire.DecodeBase64(body)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "%v", err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "the body is not a PKCS#10 CSR: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, refuse(http.StatusBadRequest, "the CSR's signature does not verify: %v", err)
	}
	return csr, nil
}

// respond answers with the certificate, or 202 while the CA decides, or the
// CA's refusal.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, sub activities.Submission) error {
	if err := refusal(sub); err != nil {
		return err
	}
	certsOnly, err := s.certsOnly(r.Context(), sub)
	if err != nil {
		return err
	}
	writeBase64(w, estwire.TypeCertsOnly, estwire.EncodeBase64(certsOnly))
	return nil
}

// outcome names how an enrollment request ended, for metrics: by the
// status it is answered with, the CA's rejections apart.
func outcome(err error) string {
	var answer *httpError
	kind := errkind.KindOf(err)
	switch {
	case err == nil:
		return metrics.Issued
	case errors.As(err, &answer) && answer.byCA:
		return metrics.Rejected
	case answer != nil && answer.status == http.StatusAccepted:
		return metrics.Pending
	case answer != nil && answer.status < 500, kind != 0 && kind != errkind.KindUnavailable:
		return metrics.Refused
	}
	return metrics.Failed
}

// refusal is the answer to an enrollment that did not issue (yet): nil when
// it did.
func refusal(sub activities.Submission) error {
	switch sub.Status {
	case vocab.RequestIssued:
		return nil
	case vocab.RequestPending:
		return &httpError{status: http.StatusAccepted, retryAfter: sub.RetryAfter, message: "the request is pending at the CA; send it again after Retry-After"}
	case vocab.RequestRejected:
		rejected := refuse(http.StatusForbidden, "the CA rejected the request: %s", sub.Reason)
		rejected.byCA = true
		return rejected
	}
	return &httpError{status: http.StatusServiceUnavailable, retryAfter: time.Minute, message: "the enrollment failed: " + sub.Reason}
}

// certsOnly is the issued certificate as a certs-only CMS message.
func (s *Server) certsOnly(ctx context.Context, sub activities.Submission) ([]byte, error) {
	cert, err := s.Issued(ctx, sub)
	if err != nil {
		return nil, err
	}
	return estwire.CertsOnly(cert)
}
