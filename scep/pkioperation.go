package scep

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/smallstep/pkcs7"
	smscep "github.com/smallstep/scep"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/enroll"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/metrics"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/vocab"
	"github.com/certfleet/certfleet/workflows"
)

// runProtocol prefixes SCEP enrollments' workflow IDs and is their CertJobId.
const runProtocol = "scep"

// SCEP operations, as enrollments' runs name them.
const (
	opEnroll = "pkcsreq"
	opRenew  = "renewalreq"
)

// pkiOperation answers a pkiMessage with a CertRep: the certificate, PENDING,
// or FAILURE with a failInfo. Only a message with no transaction to answer
// gets HTTP 400, and only a server fault 5xx.
func (s *Server) pkiOperation(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	l, err := s.label(r)
	if err != nil {
		return err
	}
	der, err := s.message(w, r)
	if err != nil {
		return err
	}
	q, err := parseRequest(der)
	if err != nil {
		return err
	}
	ras, err := s.RAs.Current(ctx)
	if err != nil {
		return err
	}
	rep, err := s.answer(ctx, l, q, ras)
	metrics.Enrollment(runProtocol, l.Row.Label, outcome(rep, err))
	var refused *failure
	if errors.As(err, &refused) {
		s.Logger.Info("SCEP request refused", "label", l.Row.Label, "client", enroll.ClientIP(r), "messageType", string(q.messageType),
			"transactionID", q.transactionID, "failInfo", string(refused.info), "reason", refused.reason)
		rep, err = reply{status: smscep.FAILURE, failInfo: refused.info}, nil
	}
	if err != nil {
		return err
	}
	body, err := certRep(q, rep, ras[0])
	if err != nil {
		return err
	}
	write(w, typePKIMessage, body)
	return nil
}

// outcome names how a request ended, for metrics.
func outcome(rep reply, err error) string {
	var refused *failure
	switch {
	case errors.As(err, &refused) && refused.byCA:
		return metrics.Rejected
	case errors.As(err, &refused):
		return metrics.Refused
	case err != nil:
		return metrics.Failed
	case rep.status == smscep.PENDING:
		return metrics.Pending
	}
	return metrics.Issued
}

// answer works out the reply to q. A refusal is a *failure; any other error
// is the server's, answered without a CertRep so that the client retries.
func (s *Server) answer(ctx context.Context, l enroll.Label, q *request, ras []ra) (reply, error) {
	var notInTime *pkcs7.SigningTimeNotValidError
	switch {
	case errors.As(q.verifyErr, &notInTime):
		return reply{}, fail(smscep.BadTime, "%v", q.verifyErr)
	case q.verifyErr != nil:
		return reply{}, fail(smscep.BadMessageCheck, "the message's signature does not verify: %v", q.verifyErr)
	case !q.canReceive():
		return reply{}, fail(smscep.BadAlg, "the message is signed with a %T, but SCEP encrypts the answer to the signer's key with RSA; sign it with an RSA key (the CSR's key may be ECDSA)", q.signer.PublicKey)
	}
	var sub activities.Submission
	var err error
	switch q.messageType {
	case smscep.PKCSReq, smscep.RenewalReq, smscep.UpdateReq:
		sub, err = s.enroll(ctx, l, q, ras)
	case smscep.CertPoll:
		sub, err = s.poll(ctx, l, q, ras)
	default:
		return reply{}, fail(smscep.BadRequest, "message type %q is not served; certfleet serves PKCSReq (19), RenewalReq (17) and CertPoll (20)", string(q.messageType))
	}
	if err != nil {
		return reply{}, refusal(err)
	}
	return s.replyTo(ctx, sub)
}

// refusal turns a domain refusal into a failure: every kind is badRequest
// ("transaction not permitted or supported") but an unavailable dependency,
// which stays an error.
func refusal(err error) error {
	kinded, ok := errkind.As(err)
	if !ok || kinded.Kind() == errkind.KindUnavailable {
		return err // a *failure already, or the server's
	}
	return fail(smscep.BadRequest, "%s", kinded.Message())
}

// replyTo answers with where an enrollment stands.
func (s *Server) replyTo(ctx context.Context, sub activities.Submission) (reply, error) {
	switch sub.Status {
	case vocab.RequestIssued:
		cert, err := s.Issued(ctx, sub)
		if err != nil {
			return reply{}, refusal(err)
		}
		return reply{status: smscep.SUCCESS, cert: cert}, nil
	case vocab.RequestPending:
		return reply{status: smscep.PENDING}, nil
	case vocab.RequestRejected:
		rejected := fail(smscep.BadRequest, "the CA rejected the request: %s", sub.Reason)
		rejected.byCA = true
		return reply{}, rejected
	}
	return reply{}, fail(smscep.BadRequest, "the enrollment %s: %s", sub.Status, sub.Reason)
}

// enroll serves a PKCSReq or RenewalReq. As with EST, everything a request
// could be refused for is checked before anything is written.
func (s *Server) enroll(ctx context.Context, l enroll.Label, q *request, ras []ra) (activities.Submission, error) {
	csr, challenge, err := q.csr(ras)
	if err != nil {
		return activities.Submission{}, err
	}
	c, err := s.caller(ctx, l, q, csr, challenge)
	if err != nil {
		return activities.Submission{}, err
	}
	op := opEnroll
	if c.Renewing != nil {
		op = opRenew
	}
	key := workflows.EnrollmentWorkflowID(runProtocol, c.Device.ID, op, c.Credential, csr)
	if err := s.Admit(ctx, l, c, csr, key); err != nil {
		return activities.Submission{}, err
	}
	if err := s.Bind(ctx, c, key); err != nil {
		return activities.Submission{}, err
	}
	// The challenge is inside the CSR: it is kept sealed, in the workflow's
	// input as everywhere else.
	stored, sealed, err := pki.SealCSR(s.RAs.KEK, csr.Raw, key)
	if err != nil {
		return activities.Submission{}, err
	}
	e := activities.Enrollment{Key: key, DeviceID: c.Device.ID, ProfileID: l.Profile.ID, CertType: l.Profile.CertType,
		CSR: stored, CSRSealed: sealed, IdentityField: l.Row.IdentityField, Register: c.Register}
	transaction := activities.SCEPTransaction{SignerSHA256: pki.Fingerprint(q.signer), TransactionID: q.transactionID, Label: l.Row.Label}
	if c.Register == nil {
		if err := e.SaveSCEPTransaction(ctx, store.New(s.Pool), transaction); err != nil {
			return activities.Submission{}, err
		}
		return s.Enroller.Enroll(ctx, e, s.runInfo(l, op))
	}
	return s.enrollNewDevice(ctx, e, transaction, s.runInfo(l, op))
}

// enrollNewDevice enrolls a device seen for the first time. Its SCEP
// transaction needs the device, which the enrollment creates with its CA
// request, so it is recorded there; and again once the enrollment answers,
// for a repeat of the request that joined the run under way (from a new
// signer, say), unless the CA request is still to come.
func (s *Server) enrollNewDevice(ctx context.Context, e activities.Enrollment, transaction activities.SCEPTransaction, run enroll.RunInfo) (activities.Submission, error) {
	e.SCEP = &transaction
	sub, err := s.Enroller.Enroll(ctx, e, run)
	if err != nil {
		return sub, err
	}
	err = e.SaveSCEPTransaction(ctx, store.New(s.Pool), transaction)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" { // foreign_key_violation: no device yet
		return sub, nil // the run records it with the CA request
	}
	return sub, err
}

func (s *Server) runInfo(l enroll.Label, op string) enroll.RunInfo {
	return enroll.RunInfo{Protocol: runProtocol, Operation: op, Label: l.Row.Label, Profile: l.Profile.Name, ExpectPending: l.Policy.ApprovalMode}
}

// poll serves a CertPoll (GetCertInitial): the transaction it names, from
// the same signer, is asked where it stands.
func (s *Server) poll(ctx context.Context, l enroll.Label, q *request, ras []ra) (activities.Submission, error) {
	if _, err := q.decrypt(ras); err != nil {
		return activities.Submission{}, err
	}
	tx, err := store.New(s.Pool).GetSCEPTransaction(ctx, store.GetSCEPTransactionParams{SignerSha256: pki.Fingerprint(q.signer), TransactionID: q.transactionID})
	if errors.Is(err, pgx.ErrNoRows) {
		return activities.Submission{}, fail(smscep.BadCertID, "no request with transactionID %q from this signer", q.transactionID)
	}
	if err != nil {
		return activities.Submission{}, err
	}
	e := activities.Enrollment{Key: tx.Enrollment, DeviceID: tx.DeviceID, ProfileID: tx.ProfileID, CertType: tx.CertType,
		CSR: tx.CsrDer, CSRSealed: tx.CsrSealed, IdentityField: tx.IdentityField}
	return s.Enroller.Enroll(ctx, e, s.runInfo(l, "certpoll"))
}

// caller works out who a request comes from: the signer's certificate when
// certfleet issued it (a renewal, which needs no challenge) or, where the
// label allows, a factory certificate; else the challenge password, for the
// device the CSR names.
func (s *Server) caller(ctx context.Context, l enroll.Label, q *request, csr *x509.CertificateRequest, challenge string) (enroll.Caller, error) {
	known, found, err := s.KnownCertificate(ctx, q.signer)
	switch {
	case err != nil:
		return enroll.Caller{}, err
	case found:
		return s.ByCurrentCertificate(ctx, l, known, q.signer)
	case q.messageType == smscep.RenewalReq:
		return enroll.Caller{}, errkind.Forbidden("a RenewalReq is signed with the certificate it renews; this one was not issued by certfleet")
	case l.Row.AllowFactory && !selfSigned(q.signer):
		return s.ByFactoryCertificate(ctx, l, q.signer, q.p7.Certificates)
	}
	if challenge == "" {
		return enroll.Caller{}, errkind.Unauthenticated("the request has no challenge password")
	}
	deviceID, err := named(l, csr)
	if err != nil {
		return enroll.Caller{}, err
	}
	// Only one-time secrets: SCEP carries the challenge inside the signed CSR,
	// which certfleet keeps (the CA ledger, the enrollment's history) and
	// forwards to outside CAs, so a reusable device password would be kept
	// in clear. A one-time secret is spent before the enrollment starts.
	kinds := l.Row.ScepChallenges
	if slices.Contains(kinds, "dynamic") {
		c, ok, err := s.byChallenge(ctx, l, deviceID, challenge)
		if ok || err != nil {
			return c, err
		}
	}
	if !slices.Contains(kinds, "otp") {
		return enroll.Caller{}, errkind.Unauthenticated("the challenge password was refused")
	}
	return s.BySecret(ctx, deviceID, challenge, "otp")
}

// named is the device a CSR names by the label's identity field.
func named(l enroll.Label, csr *x509.CertificateRequest) (string, error) {
	ids := pki.CSRIdentity(csr, l.Row.IdentityField)
	if len(ids) != 1 || !device.ValidID(ids[0]) {
		return "", errkind.Invalid("", "the CSR's %s (%q) must name one device", l.Row.IdentityField, ids)
	}
	return ids[0], nil
}

// byChallenge admits a device by a one-time challenge from the API, found by
// its secret's digest; ok is false when no such challenge exists.
func (s *Server) byChallenge(ctx context.Context, l enroll.Label, deviceID, secret string) (c enroll.Caller, ok bool, err error) {
	digest := sha256.Sum256([]byte(secret))
	q := store.New(s.Pool)
	row, err := q.GetSCEPChallenge(ctx, digest[:])
	if errors.Is(err, pgx.ErrNoRows) {
		return c, false, nil
	}
	if err != nil || subtle.ConstantTimeCompare(row.SecretSha256, digest[:]) != 1 {
		return c, false, err
	}
	switch {
	case row.Label.Valid && row.Label.String != l.Row.Label:
		return c, true, errkind.Forbidden("this challenge is for label %q", row.Label.String)
	case row.DeviceID.Valid && row.DeviceID.String != deviceID:
		return c, true, errkind.Forbidden("this challenge is for another device than %s", deviceID)
	}
	dev, err := q.GetDevice(ctx, deviceID)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, true, errkind.Forbidden("device %s is not in the inventory; register it before it enrolls", deviceID)
	}
	if err != nil {
		return c, true, err
	}
	return enroll.Caller{Device: dev, Credential: "challenge:" + strconv.FormatInt(row.ID, 10), Challenge: row.ID, SpentOn: row.UsedFor}, true, nil
}

// selfSigned tells the certificate a client makes for its new key (the
// usual signer of a first PKCSReq) from one an outside CA issued.
func selfSigned(cert *x509.Certificate) bool {
	return bytes.Equal(cert.RawIssuer, cert.RawSubject) && cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) == nil
}
