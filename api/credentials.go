package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/credentials"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
)

// credentialView shows a credential without its secret: the fingerprint tells
// two secrets apart, nothing more.
type credentialView struct {
	Name             string     `json:"name"`
	Kind             string     `json:"kind"`
	Username         string     `json:"username,omitempty"`
	Fingerprint      string     `json:"fingerprint"`
	AllowedAddresses []string   `json:"allowed_addresses"`
	CreatedBy        string     `json:"created_by"`
	CreatedAt        time.Time  `json:"created_at"`
	RotatedAt        *time.Time `json:"rotated_at"`
	LastUsedAt       *time.Time `json:"last_used_at"`
	DeviceCount      *int64     `json:"device_count,omitempty"`
	Devices          []string   `json:"devices,omitempty"`
	Profiles         []string   `json:"profiles,omitempty"`
}

func viewCredential(r store.Credential) credentialView {
	return credentialView{Name: r.Name, Kind: r.Kind, Username: r.Username, Fingerprint: r.Fingerprint,
		AllowedAddresses: r.AllowedAddresses, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, RotatedAt: r.RotatedAt, LastUsedAt: r.LastUsedAt}
}

func (s *server) credentialRoutes(v1 *gin.RouterGroup, admin gin.HandlerFunc) {
	v1.GET("/credentials", s.listCredentials)
	v1.POST("/credentials", admin, s.createCredential)
	v1.GET("/credentials/:name", s.getCredential)
	v1.PUT("/credentials/:name/secret", admin, s.rotateCredential)
	v1.DELETE("/credentials/:name", admin, s.deleteCredential)
}

func (s *server) listCredentials(c *gin.Context) {
	limit, after, ok := page(c)
	if !ok {
		return
	}
	rows, err := store.New(s.pool).ListCredentials(c.Request.Context(), store.ListCredentialsParams{AfterName: after, PageSize: limit})
	if err != nil {
		fail(c, err)
		return
	}
	views := make([]credentialView, len(rows))
	for i, r := range rows {
		views[i] = viewCredential(store.Credential{Name: r.Name, Kind: r.Kind, Username: r.Username, Fingerprint: r.Fingerprint,
			AllowedAddresses: r.AllowedAddresses, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, RotatedAt: r.RotatedAt, LastUsedAt: r.LastUsedAt})
		views[i].DeviceCount = &r.DeviceCount
	}
	next := nextCursor(rows, limit, func(r store.ListCredentialsRow) string { return r.Name })
	c.JSON(http.StatusOK, gin.H{"items": views, "next": next})
}

// maxListedUsers bounds the devices a credential's view names.
const maxListedUsers = 100

func (s *server) getCredential(c *gin.Context) {
	ctx := c.Request.Context()
	q := store.New(s.pool)
	row, err := q.GetCredentialByName(ctx, c.Param("name"))
	if err != nil {
		fail(c, err)
		return
	}
	view := viewCredential(row)
	if view.Devices, err = q.CredentialDevices(ctx, store.CredentialDevicesParams{CredentialID: pgInt8(row.ID), PageSize: maxListedUsers}); err == nil {
		view.Profiles, err = q.CredentialProfiles(ctx, row.Name)
	}
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, view)
}

func (s *server) createCredential(c *gin.Context) {
	var body struct {
		Name             string   `json:"name"`
		Kind             string   `json:"kind"`
		Username         string   `json:"username"`
		Secret           string   `json:"secret"`
		AllowedAddresses []string `json:"allowed_addresses"`
	}
	if !decode(c, &body) {
		return
	}
	spec := credentials.Spec{Name: body.Name, Kind: credentials.Kind(body.Kind), Username: body.Username,
		Secret: body.Secret, AllowedAddresses: body.AllowedAddresses}
	var row store.Credential
	err := s.change(c, "credential.create", "credential", func(q *store.Queries) ([]string, any, error) {
		var err error
		row, err = s.credentials.Create(c.Request.Context(), q, spec, principal(c).Actor())
		return []string{body.Name}, gin.H{"kind": body.Kind, "fingerprint": row.Fingerprint, "allowed_addresses": row.AllowedAddresses}, err
	})
	respondCredential(c, http.StatusCreated, row, err)
}

func (s *server) rotateCredential(c *gin.Context) {
	var body struct {
		Secret string `json:"secret"`
	}
	if !decode(c, &body) {
		return
	}
	var row store.Credential
	err := s.change(c, "credential.rotate", "credential", func(q *store.Queries) ([]string, any, error) {
		old, err := q.GetCredentialByName(c.Request.Context(), c.Param("name"))
		if err != nil {
			return nil, nil, err
		}
		row, err = s.credentials.Rotate(c.Request.Context(), q, old, body.Secret)
		return []string{old.Name}, gin.H{"old_fingerprint": old.Fingerprint, "fingerprint": row.Fingerprint}, err
	})
	respondCredential(c, http.StatusOK, row, err)
}

// deleteCredential removes a credential nothing uses.
func (s *server) deleteCredential(c *gin.Context) {
	ctx := c.Request.Context()
	var name string
	err := s.change(c, "credential.delete", "credential", func(q *store.Queries) ([]string, any, error) {
		row, err := q.GetCredentialByName(ctx, c.Param("name"))
		if err != nil {
			return nil, nil, err
		}
		devices, err := q.CredentialDevices(ctx, store.CredentialDevicesParams{CredentialID: pgInt8(row.ID), PageSize: maxListedUsers})
		if err != nil {
			return nil, nil, err
		}
		profiles, err := q.CredentialProfiles(ctx, row.Name)
		if err != nil {
			return nil, nil, err
		}
		if len(devices)+len(profiles) > 0 {
			return nil, nil, errkind.Conflict("the credential is in use").With(map[string]any{"devices": devices, "profiles": profiles})
		}
		name = row.Name
		_, err = q.DeleteCredential(ctx, row.ID)
		return []string{row.Name}, gin.H{"fingerprint": row.Fingerprint}, err
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"deleted": name})
}

func respondCredential(c *gin.Context, status int, row store.Credential, err error) {
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(status, viewCredential(row))
}

// bindCredential resolves the credential a device body names and checks that
// the caller may send it where the device is. A credential goes wherever its
// device's address points, so an operator may bind one, or move a device that
// holds one, only within the credential's allowed addresses; without such
// patterns it takes an admin. Otherwise an operator could point a device at
// a host of their own and collect the secret.
func bindCredential(ctx context.Context, q *store.Queries, p auth.Principal, body *deviceBody, before *store.Device) (pgtype.Int8, error) {
	if body.Credential == "" {
		return pgtype.Int8{}, nil
	}
	row, err := q.GetCredentialByName(ctx, body.Credential)
	if errors.Is(err, pgx.ErrNoRows) {
		return pgtype.Int8{}, fieldError("credential", "no credential is named %q", body.Credential)
	}
	if err != nil {
		return pgtype.Int8{}, err
	}
	unchanged := before != nil && before.CredentialID.Int64 == row.ID && before.Address == body.Address
	if !credentials.AddressAllowed(row.AllowedAddresses, body.Address) {
		return pgtype.Int8{}, fieldError("address", "credential %s may be sent only to %v", row.Name, row.AllowedAddresses)
	}
	if !unchanged && len(row.AllowedAddresses) == 0 && !p.Role.Allows(auth.Admin) {
		return pgtype.Int8{}, errkind.Forbidden("binding credential %s to a device, or moving a device that holds it, "+
			"needs the admin role unless the credential's allowed_addresses cover the address", row.Name)
	}
	return pgInt8(row.ID), nil
}

// credentialNames maps the credential IDs of devices to names, for views.
func credentialNames(ctx context.Context, q *store.Queries, devices ...store.Device) (map[int64]string, error) {
	var ids []int64
	for _, d := range devices {
		if d.CredentialID.Valid && !slices.Contains(ids, d.CredentialID.Int64) {
			ids = append(ids, d.CredentialID.Int64)
		}
	}
	names := map[int64]string{}
	if len(ids) == 0 {
		return names, nil
	}
	rows, err := q.CredentialNames(ctx, ids)
	for _, r := range rows {
		names[r.ID] = r.Name
	}
	return names, err
}

func pgInt8(v int64) pgtype.Int8 { return pgtype.Int8{Int64: v, Valid: true} }
