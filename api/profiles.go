package api

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/pki"
	"github.com/certfleet/certfleet/profiles"
)

const day = 24 * time.Hour

// profileBody is a profile as clients write it.
type profileBody struct {
	Name            string               `json:"name"`
	CertType        string               `json:"cert_type"`
	DeviceType      string               `json:"device_type"`
	SubjectRules    []pki.SubjectRule    `json:"subject_rules"`
	SANRules        []pki.SANRule        `json:"san_rules"`
	ExtraAttributes []pki.ExtraAttribute `json:"extra_attributes"`
	KeyAlgorithms   []pki.KeyAlgorithm   `json:"key_algorithms"`
	ValidityDays    int                  `json:"validity_days"`
	RenewBeforeDays int                  `json:"renew_before_days"`
	CADriver        string               `json:"ca_driver"`
	CASettings      json.RawMessage      `json:"ca_settings"`
	ApprovalMode    bool                 `json:"approval_mode"`
	MaxCAWaitHours  int                  `json:"max_ca_wait_hours"`
	// Binding is what the certificate is for on the device; DeviceTrust the
	// CA certificates (PEM) the device must trust for that use.
	Binding     string `json:"binding"`
	DeviceTrust string `json:"device_trust"`
	// KeyUsage and ExtKeyUsage are what the certificate is good for; empty
	// means the certificate type's usages (see pki.Profile).
	KeyUsage    []string `json:"key_usage"`
	ExtKeyUsage []string `json:"ext_key_usage"`
}

// profileView is a profile as the API shows it.
type profileView struct {
	ID int64 `json:"id"`
	profileBody
	Archived  bool      `json:"archived"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func viewProfile(row store.Profile) (profileView, error) {
	p, err := profiles.FromRow(row)
	if err != nil {
		return profileView{}, err
	}
	return profileView{
		ID: row.ID,
		profileBody: profileBody{
			Name: row.Name, CertType: row.CertType, DeviceType: row.DeviceType,
			SubjectRules: p.SubjectRules, SANRules: p.SANRules, ExtraAttributes: p.ExtraAttributes, KeyAlgorithms: p.KeyAlgorithms,
			KeyUsage: orEmpty(p.KeyUsage), ExtKeyUsage: orEmpty(p.ExtKeyUsage),
			ValidityDays: int(row.Validity / day), RenewBeforeDays: int(row.RenewBefore / day),
			CADriver: row.CaDriver, CASettings: row.CaSettings, ApprovalMode: row.ApprovalMode, MaxCAWaitHours: int(row.MaxCaWait / time.Hour),
			Binding: cmp.Or(row.Binding, device.DefaultBinding(row.CertType)), DeviceTrust: row.DeviceTrust,
		},
		Archived: row.ArchivedAt != nil, CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt,
	}, nil
}

// check validates a profile before it is stored and fills in defaults.
func (b *profileBody) check(known catalog) error {
	deviceTypes := known.deviceTypes
	if l := len(strings.TrimSpace(b.Name)); l == 0 || l > 200 {
		return fieldError("name", "1 to 200 characters")
	}
	if !slices.Contains(deviceTypes, b.DeviceType) {
		return fieldError("device_type", "%q is not one of %v", b.DeviceType, deviceTypes)
	}
	if b.ValidityDays < 1 || b.ValidityDays > 3650 {
		return fieldError("validity_days", "1 to 3650")
	}
	if b.RenewBeforeDays < 0 || b.RenewBeforeDays >= b.ValidityDays {
		return fieldError("renew_before_days", "0 to validity_days - 1")
	}
	if b.MaxCAWaitHours == 0 {
		b.MaxCAWaitHours = 7 * 24
	}
	if b.MaxCAWaitHours < 1 || b.MaxCAWaitHours > 365*24 {
		return fieldError("max_ca_wait_hours", "1 to 8760")
	}
	if err := b.checkUse(); err != nil {
		return err
	}
	b.CADriver = cmp.Or(b.CADriver, known.drivers.CADrivers()[0])
	if len(b.CASettings) == 0 || string(b.CASettings) == "null" {
		b.CASettings = json.RawMessage(`{}`)
	}
	err := pki.Profile{
		Name: b.Name, CertType: b.CertType, SubjectRules: b.SubjectRules, SANRules: b.SANRules,
		ExtraAttributes: b.ExtraAttributes, KeyAlgorithms: b.KeyAlgorithms, Validity: time.Duration(b.ValidityDays) * day,
		KeyUsage: b.KeyUsage, ExtKeyUsage: b.ExtKeyUsage,
	}.Validate()
	if err != nil {
		first, _, _ := strings.Cut(err.Error(), "\n")
		field, _, _ := strings.Cut(first, ":")
		return fieldError(strings.TrimSpace(field), "%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return nil
}

// maxDeviceTrust bounds the CA certificates a profile asks devices to trust.
const maxDeviceTrust = 16

// checkUse checks the binding against the certificate type (filling in the
// type's default) and the device trust: CA certificates, valid now, in PEM.
func (b *profileBody) checkUse() error {
	b.Binding = cmp.Or(b.Binding, device.DefaultBinding(b.CertType))
	if bindings := device.Bindings(b.CertType); !slices.Contains(bindings, b.Binding) {
		return fieldError("binding", "a %s certificate binds to one of %v", b.CertType, bindings)
	}
	if strings.TrimSpace(b.DeviceTrust) == "" {
		b.DeviceTrust = ""
		return nil
	}
	certs, err := pki.ParseCertificatesPEM([]byte(b.DeviceTrust))
	if err != nil || len(certs) > maxDeviceTrust {
		return fieldError("device_trust", "1 to %d CA certificates in PEM", maxDeviceTrust)
	}
	now := time.Now()
	for _, c := range certs {
		if !c.IsCA || !c.BasicConstraintsValid || now.After(c.NotAfter) || now.Before(c.NotBefore) {
			return fieldError("device_trust", "%q is not a CA certificate valid now", c.Subject.String())
		}
	}
	b.DeviceTrust = string(pki.EncodeCertificatesPEM(certs...))
	return nil
}

func orEmpty[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

func (b profileBody) params() store.CreateProfileParams {
	rules, _ := json.Marshal(orEmpty(b.SubjectRules))
	sans, _ := json.Marshal(orEmpty(b.SANRules))
	extra, _ := json.Marshal(orEmpty(b.ExtraAttributes))
	keys, _ := json.Marshal(b.KeyAlgorithms)
	return store.CreateProfileParams{
		Name: strings.TrimSpace(b.Name), CertType: b.CertType, DeviceType: b.DeviceType,
		SubjectRules: rules, SanRules: sans, ExtraAttributes: extra, KeyAlgorithms: keys,
		Validity: time.Duration(b.ValidityDays) * day, RenewBefore: time.Duration(b.RenewBeforeDays) * day,
		CaDriver: b.CADriver, CaSettings: b.CASettings, ApprovalMode: b.ApprovalMode, MaxCaWait: time.Duration(b.MaxCAWaitHours) * time.Hour,
		Binding: b.Binding, DeviceTrust: b.DeviceTrust, KeyUsage: orEmpty(b.KeyUsage), ExtKeyUsage: orEmpty(b.ExtKeyUsage),
	}
}

// checkable is a request body that validates against what exists.
type checkable interface {
	check(known catalog) error
}

// catalog is what request bodies are checked against: the device types and
// the drivers.
type catalog struct {
	deviceTypes []string
	drivers     Drivers
}

func (s *server) catalog(ctx context.Context) (catalog, error) {
	rows, err := store.New(s.pool).ListDeviceTypes(ctx)
	names := make([]string, len(rows))
	for i, r := range rows {
		names[i] = r.Name
	}
	return catalog{deviceTypes: names, drivers: s.drivers}, err
}

// validate checks body, answering the client itself when it does not pass.
func (s *server) validate(c *gin.Context, body checkable) bool {
	known, err := s.catalog(c.Request.Context())
	if err == nil {
		err = body.check(known)
	}
	if err != nil {
		fail(c, err)
		return false
	}
	return true
}

func (s *server) createProfile(c *gin.Context) {
	var body profileBody
	if !decode(c, &body) || !s.validate(c, &body) {
		return
	}
	var row store.Profile
	err := s.change(c, "profile.create", "profile", func(q *store.Queries) ([]string, any, error) {
		if err := s.drivers.CheckCASettings(c.Request.Context(), body.CADriver, body.CASettings); err != nil {
			return nil, nil, err
		}
		var err error
		row, err = q.CreateProfile(c.Request.Context(), body.params())
		return []string{strconv.FormatInt(row.ID, 10)}, gin.H{"name": row.Name}, err
	})
	s.respondProfile(c, http.StatusCreated, row, err)
}

func (s *server) updateProfile(c *gin.Context) {
	id, ok := pathID(c, "id")
	var body profileBody
	if !ok || !decode(c, &body) || !s.validate(c, &body) {
		return
	}
	var row store.Profile
	err := s.change(c, "profile.update", "profile", func(q *store.Queries) ([]string, any, error) {
		if err := s.drivers.CheckCASettings(c.Request.Context(), body.CADriver, body.CASettings); err != nil {
			return nil, nil, err
		}
		p := body.params()
		var err error
		row, err = q.UpdateProfile(c.Request.Context(), store.UpdateProfileParams{
			ID: id, Name: p.Name, CertType: p.CertType, DeviceType: p.DeviceType, SubjectRules: p.SubjectRules,
			SanRules: p.SanRules, ExtraAttributes: p.ExtraAttributes, KeyAlgorithms: p.KeyAlgorithms, Validity: p.Validity,
			RenewBefore: p.RenewBefore, CaDriver: p.CaDriver, CaSettings: p.CaSettings, ApprovalMode: p.ApprovalMode, MaxCaWait: p.MaxCaWait,
			Binding: p.Binding, DeviceTrust: p.DeviceTrust, KeyUsage: p.KeyUsage, ExtKeyUsage: p.ExtKeyUsage,
		})
		return []string{strconv.FormatInt(id, 10)}, gin.H{"name": p.Name}, err
	})
	s.respondProfile(c, http.StatusOK, row, err)
}

func (s *server) archiveProfile(archived bool) gin.HandlerFunc {
	action := map[bool]string{true: "profile.archive", false: "profile.unarchive"}[archived]
	return func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		var row store.Profile
		err := s.change(c, action, "profile", func(q *store.Queries) ([]string, any, error) {
			var err error
			row, err = q.SetProfileArchived(c.Request.Context(), store.SetProfileArchivedParams{ID: id, Archived: archived})
			return []string{strconv.FormatInt(id, 10)}, nil, err
		})
		s.respondProfile(c, http.StatusOK, row, err)
	}
}

func (s *server) getProfile(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	row, err := store.New(s.pool).GetProfile(c.Request.Context(), id)
	s.respondProfile(c, http.StatusOK, row, err)
}

func (s *server) respondProfile(c *gin.Context, status int, row store.Profile, err error) {
	if err != nil {
		fail(c, err)
		return
	}
	view, err := viewProfile(row)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(status, view)
}

func (s *server) listProfiles(c *gin.Context) {
	limit, after, ok := page(c)
	if !ok {
		return
	}
	status := c.DefaultQuery("status", "active")
	if status != "active" && status != "archived" && status != "all" {
		fail(c, fieldError("status", "want active, archived or all"))
		return
	}
	afterID, ok := afterID(c, after)
	if !ok {
		return
	}
	rows, err := store.New(s.pool).ListProfiles(c.Request.Context(), store.ListProfilesParams{
		Status: status, DeviceType: optional(c.Query("device_type")), CertType: optional(c.Query("cert_type")),
		AfterID: afterID, PageSize: limit,
	})
	if err != nil {
		fail(c, err)
		return
	}
	views := make([]profileView, 0, len(rows))
	for _, r := range rows {
		v, err := viewProfile(r)
		if err != nil {
			fail(c, err)
			return
		}
		views = append(views, v)
	}
	next := nextCursor(rows, limit, func(r store.Profile) string { return strconv.FormatInt(r.ID, 10) })
	c.JSON(http.StatusOK, gin.H{"items": views, "next": next})
}

func optional(s string) pgtype.Text { return pgtype.Text{String: s, Valid: s != ""} }
