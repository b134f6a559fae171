package api

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
)

// Device types are managed through the API: each has a description,
// whether its devices enroll over EST only in FACTORY mode, and a default
// profile that every new device of the type gets.

var deviceTypeName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

type deviceTypeBody struct {
	Name               string `json:"name"`
	Description        string `json:"description"`
	EnforceFactoryMode bool   `json:"enforce_factory_mode"`
	DefaultProfileID   *int64 `json:"default_profile_id"`
}

type deviceTypeView struct {
	deviceTypeBody
	Devices  int64 `json:"devices"`
	Profiles int64 `json:"profiles"`
}

func (s *server) deviceTypeRoutes(v1 *gin.RouterGroup, admin gin.HandlerFunc) {
	v1.GET("/device-types", s.listDeviceTypes)
	v1.POST("/device-types", admin, s.createDeviceType)
	v1.PUT("/device-types/:name", admin, s.updateDeviceType)
	v1.DELETE("/device-types/:name", admin, s.deleteDeviceType)
}

// listDeviceTypes lists every type with how many devices and profiles use it.
func (s *server) listDeviceTypes(c *gin.Context) {
	q := store.New(s.pool)
	rows, err := q.ListDeviceTypes(c.Request.Context())
	if err != nil {
		fail(c, err)
		return
	}
	views := make([]deviceTypeView, 0, len(rows))
	for _, r := range rows {
		usage, err := q.DeviceTypeUsage(c.Request.Context(), r.Name)
		if err != nil {
			fail(c, err)
			return
		}
		views = append(views, deviceTypeView{deviceTypeBody: viewDeviceType(r), Devices: usage.Devices, Profiles: usage.Profiles})
	}
	c.JSON(http.StatusOK, gin.H{"items": views})
}

func viewDeviceType(r store.DeviceType) deviceTypeBody {
	b := deviceTypeBody{Name: r.Name, Description: r.Description, EnforceFactoryMode: r.EnforceFactoryMode}
	if r.DefaultProfileID.Valid {
		b.DefaultProfileID = &r.DefaultProfileID.Int64
	}
	return b
}

func (s *server) createDeviceType(c *gin.Context) {
	var body deviceTypeBody
	if !decode(c, &body) {
		return
	}
	if !deviceTypeName.MatchString(body.Name) {
		fail(c, fieldError("name", "lowercase letters, digits and underscores, starting with a letter, at most 63"))
		return
	}
	var row store.DeviceType
	err := s.change(c, "device_type.create", "device_type", func(q *store.Queries) ([]string, any, error) {
		params, err := s.deviceTypeParams(c.Request.Context(), q, body)
		if err != nil {
			return nil, nil, err
		}
		row, err = q.CreateDeviceType(c.Request.Context(), params)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil, errkind.Conflict("device type %q exists", body.Name)
		}
		return []string{body.Name}, body, err
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, viewDeviceType(row))
}

func (s *server) updateDeviceType(c *gin.Context) {
	var body deviceTypeBody
	if !decode(c, &body) {
		return
	}
	name := c.Param("name")
	if body.Name != "" && body.Name != name {
		fail(c, fieldError("name", "a device type cannot be renamed; create another"))
		return
	}
	body.Name = name
	var row store.DeviceType
	err := s.change(c, "device_type.update", "device_type", func(q *store.Queries) ([]string, any, error) {
		params, err := s.deviceTypeParams(c.Request.Context(), q, body)
		if err != nil {
			return nil, nil, err
		}
		row, err = q.UpdateDeviceType(c.Request.Context(), store.UpdateDeviceTypeParams{
			Name: params.Name, Description: params.Description, EnforceFactoryMode: params.EnforceFactoryMode, DefaultProfileID: params.DefaultProfileID,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil, errkind.NotFound("no device type %q", name)
		}
		return []string{name}, body, err
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewDeviceType(row))
}

// deviceTypeParams checks a body's fields: a default profile must exist, be
// active and be for devices of this type.
func (s *server) deviceTypeParams(ctx context.Context, q *store.Queries, b deviceTypeBody) (store.CreateDeviceTypeParams, error) {
	p := store.CreateDeviceTypeParams{Name: b.Name, Description: strings.TrimSpace(b.Description), EnforceFactoryMode: b.EnforceFactoryMode}
	if problem := textProblem(p.Description); problem != "" || len(p.Description) > 500 {
		return p, fieldError("description", "at most 500 characters of text")
	}
	if b.DefaultProfileID == nil {
		return p, nil
	}
	profile, err := q.GetProfile(ctx, *b.DefaultProfileID)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return p, fieldError("default_profile_id", "no profile %d", *b.DefaultProfileID)
	case err != nil:
		return p, err
	case profile.DeviceType != b.Name:
		return p, fieldError("default_profile_id", "profile %q is for %s devices, not %s", profile.Name, profile.DeviceType, b.Name)
	case profile.ArchivedAt != nil:
		return p, fieldError("default_profile_id", "profile %q is archived", profile.Name)
	}
	p.DefaultProfileID = pgtype.Int8{Int64: profile.ID, Valid: true}
	return p, nil
}

// deleteDeviceType deletes a type no device or profile uses.
func (s *server) deleteDeviceType(c *gin.Context) {
	name := c.Param("name")
	err := s.change(c, "device_type.delete", "device_type", func(q *store.Queries) ([]string, any, error) {
		usage, err := q.DeviceTypeUsage(c.Request.Context(), name)
		if err != nil {
			return nil, nil, err
		}
		if usage.Devices > 0 || usage.Profiles > 0 {
			return nil, nil, errkind.Conflict("device type %q is used by %d devices and %d profiles", name, usage.Devices, usage.Profiles)
		}
		deleted, err := q.DeleteDeviceType(c.Request.Context(), name)
		if err == nil && deleted == 0 {
			err = errkind.NotFound("no device type %q", name)
		}
		return []string{name}, nil, err
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
