package api

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/jobs"
)

// maxAssign bounds one assignment request.
const maxAssign = 10_000

type assignmentBody struct {
	ProfileID int64    `json:"profile_id"`
	DeviceIDs []string `json:"device_ids"`
}

// assignProfile gives many devices a profile for the profile's certificate
// type. Unknown devices are a 400 and devices in an active job of that type a
// 409, each listing the devices; either way nothing changes.
func (s *server) assignProfile(c *gin.Context) {
	var body assignmentBody
	if !decode(c, &body) {
		return
	}
	ids := slices.Compact(slices.Sorted(slices.Values(body.DeviceIDs)))
	if len(ids) == 0 || len(ids) > maxAssign {
		fail(c, fieldError("device_ids", "1 to %d device IDs", maxAssign))
		return
	}
	ctx := c.Request.Context()
	q := store.New(s.pool)
	profile, err := q.GetProfile(ctx, body.ProfileID)
	if err != nil || profile.ArchivedAt != nil {
		fail(c, fieldError("profile_id", "no active profile %d", body.ProfileID))
		return
	}
	existing, err := q.ExistingDevices(ctx, ids)
	if err != nil {
		fail(c, err)
		return
	}
	if len(existing) != len(ids) {
		var unknown []string
		for _, id := range ids {
			if !slices.Contains(existing, id) {
				unknown = append(unknown, id)
			}
		}
		fail(c, errkind.Invalid("device_ids", "no such devices").With(map[string]any{"devices": unknown}))
		return
	}
	busy, err := q.BusyDevices(ctx, store.BusyDevicesParams{DeviceIds: ids, CertType: profile.CertType})
	if err != nil {
		fail(c, err)
		return
	}
	if len(busy) > 0 {
		fail(c, jobs.BusyError(busy, profile.CertType))
		return
	}
	var assigned int64
	err = s.change(c, "profile.assign", "device", func(q *store.Queries) ([]string, any, error) {
		var err error
		assigned, err = q.AssignProfileToDevices(ctx, store.AssignProfileToDevicesParams{DeviceIds: ids, CertType: profile.CertType, ProfileID: profile.ID})
		return ids, gin.H{"profile_id": profile.ID, "cert_type": profile.CertType}, err
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"profile_id": profile.ID, "cert_type": profile.CertType, "assigned": assigned})
}

// listAudit reads the audit log, oldest first, optionally of one object type.
func (s *server) listAudit(c *gin.Context) {
	limit, after, ok := page(c)
	if !ok {
		return
	}
	params := store.ListAuditParams{ObjectType: optional(c.Query("object_type")), PageSize: limit}
	if params.AfterID, ok = idCursor(c, after); !ok {
		return
	}
	rows, err := store.New(s.pool).ListAudit(c.Request.Context(), params)
	if err != nil {
		fail(c, err)
		return
	}
	next := nextCursor(rows, limit, func(r store.AuditLog) string { return strconv.FormatInt(r.ID, 10) })
	c.JSON(http.StatusOK, gin.H{"items": rows, "next": next})
}
