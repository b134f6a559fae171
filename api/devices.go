package api

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/workflows"
)

// deviceBody is a device as clients write it.
type deviceBody struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	DeviceType string `json:"device_type"`
	Driver     string `json:"driver"`
	Address    string `json:"address"`
	// Credential names a credential of the store; never the secret itself.
	Credential string `json:"credential"`
	// DriverSettings are the driver's own settings, e.g. the ssh driver's recipes.
	DriverSettings json.RawMessage `json:"driver_settings,omitempty"`
	// EnrollmentOTP comes only from a bulk registration CSV, never from or to JSON.
	EnrollmentOTP string `json:"-"`
}

// deviceView is a device as the API shows it; never a secret, only the name
// of its credential.
type deviceView struct {
	deviceBody
	// LegacyCredentialRef is a reference from before the credential store that
	// was not imported; the device cannot be reached until one is bound.
	LegacyCredentialRef string    `json:"legacy_credential_ref,omitempty"`
	Mode                string    `json:"mode"`
	TLSPinned           bool      `json:"tls_pinned"`
	CreatedAt           time.Time `json:"created_at"`
	UpdatedAt           time.Time `json:"updated_at"`
}

func viewDevice(d store.Device, credentialNames map[int64]string) deviceView {
	return deviceView{
		deviceBody: deviceBody{
			ID: d.ID, Name: d.Name, DeviceType: d.DeviceType, Driver: d.Driver, Address: d.Address,
			Credential: credentialNames[d.CredentialID.Int64], DriverSettings: d.DriverSettings,
		},
		LegacyCredentialRef: d.CredentialRef,
		Mode:                d.Mode, TLSPinned: d.TlsPin != nil, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
}

// check is the first of checkAll's refusals, nil when there is none: a JSON
// request names one field at fault.
func (b *deviceBody) check(known catalog) error {
	if errs := b.checkAll(known); len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// checkAll checks every field and returns a refusal for each that is wrong,
// so that an import row reports all its errors at once. It fills in the
// default driver.
func (b *deviceBody) checkAll(known catalog) []error {
	var errs []error
	deviceTypes := known.deviceTypes
	for _, f := range []struct{ name, value string }{{"name", b.Name}, {"address", b.Address}, {"credential", b.Credential}, {"enrollment_otp", b.EnrollmentOTP}} {
		if problem := textProblem(f.value); problem != "" {
			errs = append(errs, fieldError(f.name, "%s", problem))
		}
	}
	if !device.ValidID(b.ID) {
		errs = append(errs, fieldError("id", "1 to 128 of A-Z a-z 0-9 . _ : -, starting with a letter or digit"))
	}
	if l := len(strings.TrimSpace(b.Name)); l == 0 || l > 200 {
		errs = append(errs, fieldError("name", "1 to 200 characters"))
	}
	if !slices.Contains(deviceTypes, b.DeviceType) {
		errs = append(errs, fieldError("device_type", "%q is not one of %v", b.DeviceType, deviceTypes))
	}
	if otp := len(b.EnrollmentOTP); otp > 0 && (otp < minOTPLength || otp > 200) {
		errs = append(errs, fieldError("enrollment_otp", "%d to 200 characters", minOTPLength))
	}
	switch drivers := known.drivers.DeviceDrivers(); {
	case b.Driver == "" && b.EnrollmentOTP != "":
		b.Driver = device.SelfEnrolling
	case b.Driver == "":
		b.Driver = drivers[0]
	case !slices.Contains(drivers, b.Driver):
		errs = append(errs, fieldError("driver", "want one of %v (%s: the device enrolls itself)", drivers, device.SelfEnrolling))
	}
	if len(b.DriverSettings) > 16<<10 {
		errs = append(errs, fieldError("driver_settings", "at most 16 KiB"))
	} else if err := known.drivers.CheckDevice(b.Driver, b.Address, b.DriverSettings); err != nil {
		errs = append(errs, err)
	}
	if len(b.Credential) > 128 {
		errs = append(errs, fieldError("credential", "the name of a stored credential (POST /api/v1/credentials), never the secret itself"))
	}
	return errs
}

// minOTPLength: an OTP works once, is rate limited and hashed slowly, so it
// may be shorter than a password.
const minOTPLength = 8

func (s *server) createDevice(c *gin.Context) {
	var body deviceBody
	if !decode(c, &body) || !s.validate(c, &body) {
		return
	}
	var row store.Device
	err := s.change(c, "device.create", "device", func(q *store.Queries) ([]string, any, error) {
		credentialID, err := bindCredential(c.Request.Context(), q, principal(c), &body, nil)
		if err != nil {
			return nil, nil, err
		}
		row, err = q.CreateDevice(c.Request.Context(), store.CreateDeviceParams{
			ID: body.ID, Name: strings.TrimSpace(body.Name), DeviceType: body.DeviceType, Mode: "NEW",
			Driver: body.Driver, Address: body.Address, CredentialID: credentialID, DriverSettings: body.DriverSettings,
		})
		return []string{body.ID}, gin.H{"credential": body.Credential, "address": body.Address}, err
	})
	s.respondDevice(c, http.StatusCreated, row, err)
}

func (s *server) updateDevice(c *gin.Context) {
	var body deviceBody
	if !decode(c, &body) {
		return
	}
	if body.ID == "" {
		body.ID = c.Param("id")
	}
	if body.ID != c.Param("id") {
		fail(c, fieldError("id", "a device's ID cannot change"))
		return
	}
	if !s.validate(c, &body) {
		return
	}
	var row store.Device
	err := s.change(c, "device.update", "device", func(q *store.Queries) ([]string, any, error) {
		before, err := q.GetDeviceForUpdate(c.Request.Context(), body.ID)
		if err != nil {
			return nil, nil, err
		}
		credentialID, err := bindCredential(c.Request.Context(), q, principal(c), &body, &before)
		if err != nil {
			return nil, nil, err
		}
		row, err = q.UpdateDevice(c.Request.Context(), store.UpdateDeviceParams{
			ID: body.ID, Name: strings.TrimSpace(body.Name), DeviceType: body.DeviceType, Driver: body.Driver,
			Address: body.Address, CredentialID: credentialID, DriverSettings: body.DriverSettings,
		})
		return []string{body.ID}, gin.H{"credential": body.Credential, "address": body.Address}, err
	})
	s.respondDevice(c, http.StatusOK, row, err)
}

// setDeviceEnabled disables a device, or enables it again: OPERATIONAL if it
// holds a valid certificate, NEW otherwise.
func (s *server) setDeviceEnabled(enabled bool) gin.HandlerFunc {
	action := map[bool]string{true: "device.enable", false: "device.disable"}[enabled]
	return func(c *gin.Context) {
		id := c.Param("id")
		var row store.Device
		err := s.change(c, action, "device", func(q *store.Queries) ([]string, any, error) {
			mode := "DISABLED"
			if enabled {
				mode = "NEW"
				active, err := q.HasActiveCertificate(c.Request.Context(), optional(id))
				if err != nil {
					return nil, nil, err
				}
				if active {
					mode = "OPERATIONAL"
				}
			}
			var err error
			row, err = q.SetDeviceMode(c.Request.Context(), store.SetDeviceModeParams{ID: id, Mode: mode})
			return []string{id}, gin.H{"mode": mode}, err
		})
		s.respondDevice(c, http.StatusOK, row, err)
	}
}

func (s *server) getDevice(c *gin.Context) {
	row, err := store.New(s.pool).GetDevice(c.Request.Context(), c.Param("id"))
	s.respondDevice(c, http.StatusOK, row, err)
}

func (s *server) respondDevice(c *gin.Context, status int, row store.Device, err error) {
	var names map[int64]string
	if err == nil {
		names, err = credentialNames(c.Request.Context(), store.New(s.pool), row)
	}
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(status, viewDevice(row, names))
}

// listedDevice is a device in a list, with what a table of the fleet shows
// beside it: its profiles and when its current certificate expires.
type listedDevice struct {
	deviceView
	ProfileIDs          []int64    `json:"profile_ids"`
	CertificateNotAfter *time.Time `json:"certificate_not_after"`
}

func listedDevices(c *gin.Context, q *store.Queries, rows []store.Device, names map[int64]string) ([]listedDevice, error) {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	ctx := c.Request.Context()
	profiles, err := q.ProfilesOfDevices(ctx, ids)
	if err != nil {
		return nil, err
	}
	expiries, err := q.CurrentCertificateExpiries(ctx, ids)
	if err != nil {
		return nil, err
	}
	listed := make([]listedDevice, len(rows))
	at := make(map[string]int, len(rows))
	for i, r := range rows {
		at[r.ID] = i
		listed[i] = listedDevice{deviceView: viewDevice(r, names), ProfileIDs: []int64{}}
	}
	for _, p := range profiles {
		listed[at[p.DeviceID]].ProfileIDs = p.ProfileIds
	}
	for _, e := range expiries {
		listed[at[e.DeviceID]].CertificateNotAfter = &e.NotAfter
	}
	return listed, nil
}

var deviceModes = []string{"NEW", "FACTORY", "OPERATIONAL", "DISABLED"}

func (s *server) listDevices(c *gin.Context) {
	limit, after, ok := page(c)
	if !ok {
		return
	}
	if mode := c.Query("mode"); mode != "" && !slices.Contains(deviceModes, mode) {
		fail(c, fieldError("mode", "want one of %v", deviceModes))
		return
	}
	sort, err := sortOf(c, deviceSorts)
	if err != nil {
		fail(c, err)
		return
	}
	var rows []store.Device
	var next string
	if sort == (listSort{by: "id"}) {
		rows, err = store.New(s.pool).ListDevices(c.Request.Context(), store.ListDevicesParams{
			DeviceType: optional(c.Query("device_type")), Mode: optional(c.Query("mode")), Driver: optional(c.Query("driver")),
			AfterID: after, PageSize: limit,
		})
		next = nextCursor(rows, limit, func(r store.Device) string { return r.ID })
	} else {
		rows, next, err = s.devicesSorted(c, sort, after, limit)
	}
	if err != nil {
		fail(c, err)
		return
	}
	names, err := credentialNames(c.Request.Context(), store.New(s.pool), rows...)
	if err != nil {
		fail(c, err)
		return
	}
	listed, err := listedDevices(c, store.New(s.pool), rows, names)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": listed, "next": next})
}

var deviceSorts = []string{"id", "name"}

// devicesSorted pages by a cursor of the last row's name and ID,
// base64url-encoded: names hold any text.
func (s *server) devicesSorted(c *gin.Context, sort listSort, after string, limit int32) ([]store.Device, string, error) {
	p := store.ListDevicesSortedParams{
		DeviceType: optional(c.Query("device_type")), Mode: optional(c.Query("mode")), Driver: optional(c.Query("driver")),
		ByName: sort.by == "name", Descending: sort.descending, PageSize: limit,
	}
	if after != "" {
		raw, err := base64.RawURLEncoding.DecodeString(after)
		name, id, found := strings.Cut(string(raw), "\x00")
		if err != nil || !found {
			return nil, "", fieldError("after", "a cursor from the previous page")
		}
		p.Paged, p.AfterName, p.AfterID = true, name, id
	}
	rows, err := store.New(s.pool).ListDevicesSorted(c.Request.Context(), p)
	next := nextCursor(rows, limit, func(r store.Device) string {
		return base64.RawURLEncoding.EncodeToString([]byte(r.Name + "\x00" + r.ID))
	})
	return rows, next, err
}

// clearTLSPin forgets a device's TLS pin, so that the next contact pins the
// certificate it then presents: for a device whose TLS key really changed.
// Until then a changed certificate is refused, so this is admin's call.
func (s *server) clearTLSPin(c *gin.Context) {
	var row store.Device
	err := s.change(c, "device.clear_tls_pin", "device", func(q *store.Queries) ([]string, any, error) {
		before, err := q.GetDeviceForUpdate(c.Request.Context(), c.Param("id"))
		if err != nil {
			return nil, nil, err
		}
		row, err = q.ClearDeviceTLSPin(c.Request.Context(), before.ID)
		return []string{before.ID}, gin.H{"previous_pin": hex.EncodeToString(before.TlsPin)}, err
	})
	s.respondDevice(c, http.StatusOK, row, err)
}

// discoverDevice reads the certificates a device holds through its driver
// and records those the inventory did not know.
func (s *server) discoverDevice(c *gin.Context) {
	found, err := s.inventory.Discover(c.Request.Context(), c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"device_id": c.Param("id"), "certificates": found})
}

// maxDeviceJobs bounds the jobs a device's page lists: the newest.
const maxDeviceJobs = 50

// deviceJobs lists a device's items in jobs, newest job first, each with the
// ID of its run in Temporal.
func (s *server) deviceJobs(c *gin.Context) {
	ctx, q := c.Request.Context(), store.New(s.pool)
	device, err := q.GetDevice(ctx, c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	rows, err := q.ListDeviceJobItems(ctx, store.ListDeviceJobItemsParams{DeviceID: device.ID, PageSize: maxDeviceJobs})
	if err != nil {
		fail(c, err)
		return
	}
	items := make([]gin.H, len(rows))
	for i, r := range rows {
		items[i] = gin.H{"job_id": r.JobID, "job_name": r.JobName, "job_status": r.JobStatus, "cert_type": r.CertType, "step": r.Step,
			"state": r.State, "last_error": r.LastError, "started_at": r.StartedAt, "finished_at": r.FinishedAt,
			"workflow_id": workflows.DeviceWorkflowID(r.JobID, device.ID)}
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
}
