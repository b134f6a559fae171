package api

import (
	"context"
	"crypto/sha1"
	"crypto/x509"
	"encoding/csv"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/errkind"
)

// Revoker revokes certificates of the CA that issued them; audit writes the
// audit row in the transaction that records the revocation.
type Revoker interface {
	RevokeAudited(ctx context.Context, cert *x509.Certificate, reason ca.RevocationReason, audit func(*store.Queries) error) error
}

// certificateView is inventory metadata; certificates never carry keys.
type certificateView struct {
	ID               int64      `json:"id"`
	DeviceID         *string    `json:"device_id"`
	ProfileID        *int64     `json:"profile_id"`
	CertType         string     `json:"cert_type"`
	Issuer           string     `json:"issuer"`
	Serial           string     `json:"serial"`
	Subject          string     `json:"subject"`
	SHA256           string     `json:"sha256"`
	NotBefore        time.Time  `json:"not_before"`
	NotAfter         time.Time  `json:"not_after"`
	Status           string     `json:"status"`
	Expired          bool       `json:"expired"`
	RevokedAt        *time.Time `json:"revoked_at"`
	RevocationReason *int16     `json:"revocation_reason"`
}

func viewCertificate(r store.ListCertificatesRow, now time.Time) certificateView {
	v := certificateView{ID: r.ID, CertType: r.CertType, Issuer: r.Issuer, Serial: r.SerialHex, Subject: r.Subject,
		SHA256: hex.EncodeToString(r.Sha256), NotBefore: r.NotBefore, NotAfter: r.NotAfter, Status: r.Status,
		Expired: !r.NotAfter.After(now), RevokedAt: r.RevokedAt}
	if r.DeviceID.Valid {
		v.DeviceID = &r.DeviceID.String
	}
	if r.ProfileID.Valid {
		v.ProfileID = &r.ProfileID.Int64
	}
	if r.RevocationReason.Valid {
		v.RevocationReason = &r.RevocationReason.Int16
	}
	return v
}

var certificateStatuses = []string{"active", "superseded", "revoked"}

// certificateFilter reads the inventory's query filters.
func certificateFilter(c *gin.Context) (store.ListCertificatesParams, error) {
	var p store.ListCertificatesParams
	p.DeviceID = optional(c.Query("device_id"))
	if s := c.Query("profile_id"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return p, fieldError("profile_id", "a profile ID")
		}
		p.ProfileID = pgtype.Int8{Int64: id, Valid: true}
	}
	if s := c.Query("status"); s != "" {
		if !slices.Contains(certificateStatuses, s) {
			return p, fieldError("status", "want one of %v", certificateStatuses)
		}
		p.Status = optional(s)
	}
	for field, into := range map[string]**time.Time{"expiring_before": &p.ExpiringBefore, "expiring_after": &p.ExpiringAfter} {
		if s := c.Query(field); s != "" {
			at, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return p, fieldError(field, "an RFC 3339 time, e.g. 2026-12-31T00:00:00Z")
			}
			*into = &at
		}
	}
	p.Expired = c.Query("expired") == "true"
	return p, nil
}

// listCertificates lists the inventory a page at a time, by ID (the
// default) or by expiry, either way.
func (s *server) listCertificates(c *gin.Context) {
	limit, after, ok := page(c)
	if !ok {
		return
	}
	filter, err := certificateFilter(c)
	if err != nil {
		fail(c, err)
		return
	}
	sort, err := sortOf(c, certificateSorts)
	if err != nil {
		fail(c, err)
		return
	}
	var rows []store.ListCertificatesRow
	var next string
	if sort == (listSort{by: "id"}) {
		rows, next, err = s.certificatesByID(c, filter, after, limit)
	} else {
		rows, next, err = s.certificatesSorted(c, filter, sort, after, limit)
	}
	if err != nil {
		fail(c, err)
		return
	}
	now := time.Now()
	views := make([]certificateView, len(rows))
	for i, r := range rows {
		views[i] = viewCertificate(r, now)
	}
	c.JSON(http.StatusOK, gin.H{"items": views, "next": next})
}

// certificateSorts are the list's orders: by ID (the default) or expiry.
var certificateSorts = []string{"id", "not_after"}

// certificatesByID is the default order, served from the primary key.
func (s *server) certificatesByID(c *gin.Context, filter store.ListCertificatesParams, after string, limit int32) ([]store.ListCertificatesRow, string, error) {
	id, err := strconv.ParseInt(after, 10, 64)
	if after != "" && (err != nil || id < 0) {
		return nil, "", fieldError("after", "a cursor from the previous page")
	}
	filter.AfterID, filter.PageSize = id, limit
	rows, err := store.New(s.pool).ListCertificates(c.Request.Context(), filter)
	next := nextCursor(rows, limit, func(r store.ListCertificatesRow) string { return strconv.FormatInt(r.ID, 10) })
	return rows, next, err
}

// certificatesSorted pages by a cursor of the last row's sort key and ID,
// "<key>_<id>", the key being its expiry in microseconds (0 by ID).
func (s *server) certificatesSorted(c *gin.Context, f store.ListCertificatesParams, sort listSort, after string, limit int32) ([]store.ListCertificatesRow, string, error) {
	p := store.ListCertificatesSortedParams{
		DeviceID: f.DeviceID, ProfileID: f.ProfileID, Status: f.Status, ExpiringBefore: f.ExpiringBefore, ExpiringAfter: f.ExpiringAfter,
		Expired: f.Expired, Sign: 1, ByExpiry: sort.by == "not_after", PageSize: limit,
	}
	if sort.descending {
		p.Sign = -1
	}
	if after != "" {
		key, id, found := strings.Cut(after, "_")
		var keyErr, idErr error
		p.AfterKey, keyErr = strconv.ParseInt(key, 10, 64)
		p.AfterID, idErr = strconv.ParseInt(id, 10, 64)
		if !found || keyErr != nil || idErr != nil {
			return nil, "", fieldError("after", "a cursor from the previous page")
		}
		p.Paged = true
	}
	sorted, err := store.New(s.pool).ListCertificatesSorted(c.Request.Context(), p)
	rows := make([]store.ListCertificatesRow, len(sorted))
	for i, r := range sorted {
		rows[i] = store.ListCertificatesRow(r)
	}
	next := nextCursor(rows, limit, func(r store.ListCertificatesRow) string {
		var key int64
		if p.ByExpiry {
			key = r.NotAfter.UnixMicro()
		}
		return fmt.Sprintf("%d_%d", key, r.ID)
	})
	return rows, next, err
}

// exportLimit bounds one CSV export.
const exportLimit = 100_000

var csvHeader = []string{"id", "device_id", "profile_id", "cert_type", "issuer", "serial", "subject", "sha256", "not_before", "not_after", "status", "expired", "revoked_at", "revocation_reason"}

// exportCertificates writes the filtered inventory as RFC 4180 CSV,
// metadata only, a page of rows at a time.
func (s *server) exportCertificates(c *gin.Context) {
	params, err := certificateFilter(c)
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="certificates.csv"`)
	c.Status(http.StatusOK)
	w := csv.NewWriter(c.Writer)
	w.UseCRLF = true // RFC 4180
	_ = w.Write(csvHeader)
	params.PageSize = 1000
	now := time.Now()
	for written := 0; written < exportLimit; {
		rows, err := store.New(s.pool).ListCertificates(c.Request.Context(), params)
		if err != nil {
			_ = c.Error(err) // headers are sent; the log has the cause
			break
		}
		for _, r := range rows {
			v := viewCertificate(r, now)
			_ = w.Write([]string{strconv.FormatInt(v.ID, 10), deref(v.DeviceID), derefInt(v.ProfileID), v.CertType, v.Issuer, v.Serial,
				v.Subject, v.SHA256, v.NotBefore.Format(time.RFC3339), v.NotAfter.Format(time.RFC3339), v.Status,
				strconv.FormatBool(v.Expired), derefTime(v.RevokedAt), derefInt16(v.RevocationReason)})
		}
		written += len(rows)
		if len(rows) < int(params.PageSize) {
			break
		}
		params.AfterID = rows[len(rows)-1].ID
	}
	w.Flush()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefInt(i *int64) string {
	if i == nil {
		return ""
	}
	return strconv.FormatInt(*i, 10)
}

func derefInt16(i *int16) string {
	if i == nil {
		return ""
	}
	return strconv.Itoa(int(*i))
}

func derefTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Format(time.RFC3339)
}

// devicesWithoutCertificate lists enabled devices holding no valid certificate of a type.
func (s *server) devicesWithoutCertificate(c *gin.Context) {
	limit, after, ok := page(c)
	if !ok {
		return
	}
	certType := c.DefaultQuery("cert_type", "tls")
	if certType != "tls" && certType != "ieee8021x" {
		fail(c, fieldError("cert_type", "want tls or ieee8021x"))
		return
	}
	rows, err := store.New(s.pool).DevicesWithoutCertificate(c.Request.Context(), store.DevicesWithoutCertificateParams{CertType: certType, AfterID: after, PageSize: limit})
	if err != nil {
		fail(c, err)
		return
	}
	next := nextCursor(rows, limit, func(r store.DevicesWithoutCertificateRow) string { return r.ID })
	c.JSON(http.StatusOK, gin.H{"items": rows, "next": next})
}

// expiryTimeline counts active certificates by the day, week or month they
// expire in, over a range, with the devices lacking one and the expired.
func (s *server) expiryTimeline(c *gin.Context) {
	bucket := c.DefaultQuery("bucket", "week")
	if bucket != "day" && bucket != "week" && bucket != "month" {
		fail(c, fieldError("bucket", "want day, week or month"))
		return
	}
	now := time.Now().UTC()
	from, to := now, now.AddDate(0, 6, 0)
	for field, into := range map[string]*time.Time{"from": &from, "to": &to} {
		if s := c.Query(field); s != "" {
			at, err := time.Parse(time.RFC3339, s)
			if err != nil {
				fail(c, fieldError(field, "an RFC 3339 time"))
				return
			}
			*into = at
		}
	}
	if !to.After(from) || to.Sub(from) > 5*365*24*time.Hour {
		fail(c, fieldError("to", "after from, and at most five years later"))
		return
	}
	q := store.New(s.pool)
	rows, err := q.ExpiryTimeline(c.Request.Context(), store.ExpiryTimelineParams{Bucket: bucket, RangeFrom: from, RangeTo: to})
	if err == nil {
		var headline store.ExpiryHeadlineRow
		if headline, err = q.ExpiryHeadline(c.Request.Context()); err == nil {
			c.JSON(http.StatusOK, gin.H{"bucket": bucket, "from": from, "to": to, "buckets": rows,
				"expired": headline.Expired, "devices_without_certificate": headline.WithoutCertificate})
			return
		}
	}
	fail(c, err)
}

// getCertificate shows one certificate's metadata.
// getCertificate answers /certificates/{id} (the detail), {id}.pem (the
// certificate and the chain of the CA that issued it, when certfleet runs
// that CA) and {id}.der.
func (s *server) getCertificate(c *gin.Context) {
	id, ext, file := strings.Cut(c.Param("id"), ".")
	stored, ok := s.certificate(c, id)
	switch {
	case !ok:
		return
	case file:
		s.certificateFile(c, stored, ext)
		return
	}
	view := certificateDetail{certificateView: viewCertificate(store.ListCertificatesRow{ID: stored.ID, DeviceID: stored.DeviceID, ProfileID: stored.ProfileID,
		CertType: stored.CertType, Issuer: stored.Issuer, SerialHex: stored.SerialHex, Subject: stored.Subject, Sha256: stored.Sha256,
		NotBefore: stored.NotBefore, NotAfter: stored.NotAfter, Status: stored.Status, RevokedAt: stored.RevokedAt,
		RevocationReason: stored.RevocationReason, CreatedAt: stored.CreatedAt}, time.Now())}
	sum := sha1.Sum(stored.Der)
	view.SHA1 = hex.EncodeToString(sum[:])
	view.PEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: stored.Der}))
	view.DNSNames, view.IPAddresses, view.EmailAddresses, view.URIs = []string{}, []string{}, []string{}, []string{}
	if cert, err := x509.ParseCertificate(stored.Der); err == nil {
		view.DNSNames, view.EmailAddresses = append(view.DNSNames, cert.DNSNames...), append(view.EmailAddresses, cert.EmailAddresses...)
		for _, ip := range cert.IPAddresses {
			view.IPAddresses = append(view.IPAddresses, ip.String())
		}
		for _, u := range cert.URIs {
			view.URIs = append(view.URIs, u.String())
		}
		view.KeyAlgorithm = cert.PublicKeyAlgorithm.String()
	}
	c.JSON(http.StatusOK, view)
}

// certificateDetail is one certificate as its page shows it: the list's
// fields, its names, its SHA-1 fingerprint (what many device UIs show) and
// its PEM, which holds nothing secret.
type certificateDetail struct {
	certificateView
	SHA1           string   `json:"sha1"`
	DNSNames       []string `json:"dns_names"`
	IPAddresses    []string `json:"ip_addresses"`
	EmailAddresses []string `json:"email_addresses"`
	URIs           []string `json:"uris"`
	KeyAlgorithm   string   `json:"key_algorithm"`
	PEM            string   `json:"pem"`
}

// certificatePEM downloads one certificate in PEM, as servers and scripts take it.
func (s *server) certificatePEM(c *gin.Context) {
	stored, ok := s.certificate(c, c.Param("id"))
	if !ok {
		return
	}
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="certificate-%d.pem"`, stored.ID))
	c.Data(http.StatusOK, "application/x-pem-file", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: stored.Der}))
}

// certificateFile sends a certificate as a file: DER alone, or PEM followed
// by its issuer's chain up to the root.
func (s *server) certificateFile(c *gin.Context, stored store.Certificate, ext string) {
	var body []byte
	var contentType string
	switch ext {
	case "der":
		body, contentType = stored.Der, "application/pkix-cert"
	case "pem":
		body, contentType = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: stored.Der}), "application/pem-certificate-chain"
		body = append(body, pemChain(s.chainOf(stored.Der))...)
	default:
		fail(c, errkind.NotFound("no such certificate file: want {id}.pem or {id}.der"))
		return
	}
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="certificate-%d.%s"`, stored.ID, ext))
	c.Data(http.StatusOK, contentType, body)
}

// chainOf is the chain of the CA that issued der, found by its authority
// key ID, or none when certfleet does not run that CA.
func (s *server) chainOf(der []byte) []*x509.Certificate {
	cert, err := x509.ParseCertificate(der)
	if err != nil || s.caIssuers == nil {
		return nil
	}
	chain, _ := s.caIssuers.CAChainByName(hex.EncodeToString(cert.AuthorityKeyId))
	return chain
}

func (s *server) certificate(c *gin.Context, rawID string) (store.Certificate, bool) {
	id, err := strconv.ParseInt(rawID, 10, 64)
	if err != nil || id <= 0 {
		fail(c, errkind.NotFound("no such certificate"))
		return store.Certificate{}, false
	}
	stored, err := store.New(s.pool).GetCertificate(c.Request.Context(), id)
	if err != nil {
		fail(c, err)
		return store.Certificate{}, false
	}
	return stored, true
}

// revokeCertificate revokes a certificate with an RFC 5280 reason code.
func (s *server) revokeCertificate(c *gin.Context) {
	id, ok := pathID(c, "id")
	var body struct {
		Reason int `json:"reason"`
	}
	if !ok || !decode(c, &body) {
		return
	}
	if !ca.RevocationReason(body.Reason).Valid() {
		fail(c, fieldError("reason", "an RFC 5280 reason code: 0-6 or 8-10 (1 keyCompromise, 4 superseded, 5 cessationOfOperation)"))
		return
	}
	stored, err := store.New(s.pool).GetCertificate(c.Request.Context(), id)
	if err != nil {
		fail(c, err)
		return
	}
	cert, err := x509.ParseCertificate(stored.Der)
	if err != nil {
		fail(c, err)
		return
	}
	err = s.revoker.RevokeAudited(c.Request.Context(), cert, ca.RevocationReason(body.Reason), func(q *store.Queries) error {
		return record(c.Request.Context(), q, principal(c).Actor(), "certificate.revoke", "certificate",
			[]string{strconv.FormatInt(id, 10)}, gin.H{"reason": body.Reason, "serial": stored.SerialHex})
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": id, "status": "revoked", "reason": body.Reason})
}
