package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/renewal"
	"github.com/certfleet/certfleet/workflows"
)

func (s *server) renewalRoutes(v1 *gin.RouterGroup, admin, operator gin.HandlerFunc) {
	v1.GET("/renewal-policies", s.listRenewalPolicies)
	v1.POST("/renewal-policies", admin, s.saveRenewalPolicy)
	v1.GET("/renewal-policies/:id", s.getRenewalPolicy)
	v1.PUT("/renewal-policies/:id", admin, s.saveRenewalPolicy)
	v1.DELETE("/renewal-policies/:id", admin, s.deleteRenewalPolicy)
	v1.POST("/renewal-policies/:id/pause", operator, s.pauseRenewalPolicy(true))
	v1.POST("/renewal-policies/:id/resume", operator, s.pauseRenewalPolicy(false))
	v1.POST("/renewal-policies/:id/trigger", operator, s.triggerRenewalPolicy)
	v1.POST("/renewal-policies/:id/backfill", operator, s.backfillRenewalPolicy)
	v1.GET("/renewal-alerts", s.renewalAlerts)
}

// auditPolicy records a policy change in the change's own transaction.
func (s *server) auditPolicy(c *gin.Context, action string) func(*store.Queries, renewal.Policy) error {
	return func(q *store.Queries, p renewal.Policy) error {
		return record(c.Request.Context(), q, principal(c).Actor(), action, "renewal_policy", []string{strconv.FormatInt(p.ID, 10)}, p)
	}
}

func (s *server) listRenewalPolicies(c *gin.Context) {
	rows, err := store.New(s.pool).ListRenewalPolicies(c.Request.Context())
	if err != nil {
		fail(c, err)
		return
	}
	items := make([]renewal.Policy, 0, len(rows))
	for _, r := range rows {
		p, err := renewal.FromRow(r)
		if err != nil {
			fail(c, err)
			return
		}
		items = append(items, p)
	}
	ids := make([]int64, len(items))
	for i, p := range items {
		ids[i] = p.ID
	}
	next := s.renewals.NextRuns(c.Request.Context(), ids...)
	views := make([]policyView, len(items))
	for i, p := range items {
		views[i] = viewPolicy(p, next)
	}
	c.JSON(http.StatusOK, gin.H{"items": views})
}

// policyView is a policy as the API shows it: with its schedule's next run,
// left out when the schedule is paused or Temporal did not answer in time.
type policyView struct {
	renewal.Policy
	NextRunAt *time.Time `json:"next_run_at,omitempty"`
}

func viewPolicy(p renewal.Policy, next map[int64]time.Time) policyView {
	v := policyView{Policy: p}
	if t, ok := next[p.ID]; ok {
		v.NextRunAt = &t
	}
	return v
}

func (s *server) getRenewalPolicy(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	row, err := store.New(s.pool).GetRenewalPolicy(c.Request.Context(), id)
	if err != nil {
		fail(c, err)
		return
	}
	p, err := renewal.FromRow(row)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewPolicy(p, s.renewals.NextRuns(c.Request.Context(), p.ID)))
}

// saveRenewalPolicy creates (POST) or replaces (PUT) a policy, and its schedule.
func (s *server) saveRenewalPolicy(c *gin.Context) {
	var p renewal.Policy
	if !decode(c, &p) {
		return
	}
	var err error
	if c.Request.Method == http.MethodPost {
		p, err = s.renewals.Create(c.Request.Context(), p, s.auditPolicy(c, "renewal_policy.create"))
	} else if id, ok := pathID(c, "id"); ok {
		p, err = s.renewals.Update(c.Request.Context(), id, p, s.auditPolicy(c, "renewal_policy.update"))
	} else {
		return
	}
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(map[string]int{http.MethodPost: http.StatusCreated, http.MethodPut: http.StatusOK}[c.Request.Method], p)
}

func (s *server) deleteRenewalPolicy(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	err := s.renewals.Delete(c.Request.Context(), id, func(q *store.Queries) error {
		return record(c.Request.Context(), q, principal(c).Actor(), "renewal_policy.delete", "renewal_policy", []string{strconv.FormatInt(id, 10)}, nil)
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"deleted": id})
}

func (s *server) pauseRenewalPolicy(paused bool) gin.HandlerFunc {
	action := map[bool]string{true: "renewal_policy.pause", false: "renewal_policy.resume"}[paused]
	return func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		p, err := s.renewals.SetPaused(c.Request.Context(), id, paused, s.auditPolicy(c, action))
		if err != nil {
			fail(c, err)
			return
		}
		c.JSON(http.StatusOK, p)
	}
}

// auditSweep records a request for sweeps of policy id; the renewal service
// commits it before it asks the schedule.
func (s *server) auditSweep(c *gin.Context, action string, id int64, details any) func(*store.Queries) error {
	return func(q *store.Queries) error {
		return record(c.Request.Context(), q, principal(c).Actor(), action, "renewal_policy", []string{strconv.FormatInt(id, 10)}, details)
	}
}

// triggerRenewalPolicy runs a sweep now; the jobs it starts appear in /jobs.
func (s *server) triggerRenewalPolicy(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	if err := s.renewals.Trigger(c.Request.Context(), id, s.auditSweep(c, "renewal_policy.trigger", id, nil)); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"triggered": id, "schedule": workflows.RenewalScheduleID(id)})
}

// maxBackfill bounds a backfill's period: every sweep in it may start jobs,
// and a mistyped year would otherwise queue years of them.
const maxBackfill = 31 * 24 * time.Hour

// backfillRenewalPolicy runs the sweeps the schedule would have run in a past period.
func (s *server) backfillRenewalPolicy(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	var body struct {
		Start timestamp `json:"start"`
		End   timestamp `json:"end"`
	}
	if !decode(c, &body) {
		return
	}
	if err := checkBackfill(body.Start.Time, body.End.Time); err != nil {
		fail(c, err)
		return
	}
	audit := s.auditSweep(c, "renewal_policy.backfill", id, gin.H{"start": body.Start, "end": body.End})
	if err := s.renewals.Backfill(c.Request.Context(), id, body.Start.Time, body.End.Time, audit); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"backfilled": id, "start": body.Start, "end": body.End})
}

// checkBackfill refuses a backfill period that is missing, reversed, or
// longer than maxBackfill, naming the field at fault.
func checkBackfill(start, end time.Time) error {
	switch {
	case start.IsZero():
		return fieldError("start", "required: an RFC 3339 time such as %s", exampleTime)
	case end.IsZero():
		return fieldError("end", "required: an RFC 3339 time such as %s", exampleTime)
	case !start.Before(end):
		return fieldError("start", "must be before end")
	case end.Sub(start) > maxBackfill:
		return fieldError("end", "at most %d days after start", int(maxBackfill/(24*time.Hour)))
	}
	return nil
}

// maxAlerts bounds each list of renewalAlerts.
const maxAlerts = 1000

type dueAlert struct {
	PolicyID      int64      `json:"policy_id"`
	DeviceID      string     `json:"device_id"`
	CertificateID *int64     `json:"certificate_id"`
	NotAfter      *time.Time `json:"not_after"`
}

// renewalAlerts lists what some policy finds due now but no job has taken
// yet, and the certificates already expired.
func (s *server) renewalAlerts(c *gin.Context) {
	ctx, q := c.Request.Context(), store.New(s.pool)
	rows, err := q.ListRenewalPolicies(ctx)
	if err != nil {
		fail(c, err)
		return
	}
	due := []dueAlert{}
	now := time.Now()
	for _, r := range rows {
		items, err := q.DueForRenewal(ctx, store.DueForRenewalParams{
			CertType: r.CertType, ProfileIds: r.ProfileIds, DeviceTypes: r.DeviceTypes, At: now,
			RenewBeforeDays: r.RenewBeforeDays, RenewAtLifetime: r.RenewAtLifetime,
		})
		if err != nil {
			fail(c, err)
			return
		}
		for _, it := range items[:min(len(items), maxAlerts-len(due))] {
			a := dueAlert{PolicyID: r.ID, DeviceID: it.DeviceID, NotAfter: it.NotAfter}
			if it.CertificateID.Valid {
				a.CertificateID = &it.CertificateID.Int64
			}
			due = append(due, a)
		}
	}
	expired, err := q.ListCertificates(ctx, store.ListCertificatesParams{Expired: true, Status: pgtype.Text{String: "active", Valid: true}, PageSize: maxAlerts})
	if err != nil {
		fail(c, err)
		return
	}
	views := make([]certificateView, len(expired))
	for i, e := range expired {
		views[i] = viewCertificate(e, now)
	}
	c.JSON(http.StatusOK, gin.H{"due": due, "expired": views})
}
