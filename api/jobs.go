package api

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/jobs"
	"github.com/certfleet/certfleet/vocab"
	"github.com/certfleet/certfleet/workflows"
)

// jobBody selects a job's devices directly, or through certificates to renew.
type jobBody struct {
	Name           string    `json:"name"`
	CertType       string    `json:"cert_type"`
	DeviceIDs      []string  `json:"device_ids"`
	CertificateIDs []int64   `json:"certificate_ids"`
	StartAt        timestamp `json:"start_at"`
	Window         int       `json:"window"`
	// DeviceFilter selects the devices by what they are, for a job over a
	// whole kind of device without listing them.
	DeviceFilter *deviceFilter `json:"device_filter"`
}

type deviceFilter struct {
	DeviceType string `json:"device_type"`
	Mode       string `json:"mode"`
	Driver     string `json:"driver"`
}

// devicesMatching turns a device filter into the devices it selects, at
// most maxAssign of them.
func (s *server) devicesMatching(c *gin.Context, body *jobBody) error {
	if len(body.DeviceIDs) > 0 || len(body.CertificateIDs) > 0 {
		return fieldError("device_filter", "select devices by IDs, by certificates or by a filter: one of them")
	}
	f := body.DeviceFilter
	if *f == (deviceFilter{}) {
		return fieldError("device_filter", "name a device_type, mode or driver; list device_ids for a job over chosen devices")
	}
	if f.Mode != "" && !slices.Contains(deviceModes, f.Mode) {
		return fieldError("device_filter.mode", "want one of %v", deviceModes)
	}
	rows, err := store.New(s.pool).ListDevices(c.Request.Context(), store.ListDevicesParams{
		DeviceType: optional(f.DeviceType), Mode: optional(f.Mode), Driver: optional(f.Driver), PageSize: maxAssign + 1,
	})
	switch {
	case err != nil:
		return err
	case len(rows) == 0:
		return fieldError("device_filter", "no device matches")
	case len(rows) > maxAssign:
		return fieldError("device_filter", "more than %d devices match: narrow the filter", maxAssign)
	}
	for _, r := range rows {
		body.DeviceIDs = append(body.DeviceIDs, r.ID)
	}
	return nil
}

// devicesOf turns a certificate selection into the devices that hold them;
// the job's certificate type is theirs. A certificate without a device, of
// another type, or that does not exist is refused with its ID.
func (s *server) devicesOf(c *gin.Context, body *jobBody) error {
	if body.DeviceFilter != nil {
		return s.devicesMatching(c, body)
	}
	if len(body.CertificateIDs) == 0 {
		return nil
	}
	if len(body.DeviceIDs) > 0 {
		return fieldError("certificate_ids", "select devices or certificates, not both")
	}
	rows, err := store.New(s.pool).DevicesOfCertificates(c.Request.Context(), body.CertificateIDs)
	if err != nil {
		return err
	}
	found := map[int64]store.DevicesOfCertificatesRow{}
	for _, r := range rows {
		found[r.ID] = r
	}
	for _, id := range body.CertificateIDs {
		r, ok := found[id]
		switch {
		case !ok:
			return fieldError("certificate_ids", "no certificate %d", id)
		case !r.DeviceID.Valid:
			return fieldError("certificate_ids", "certificate %d belongs to no device", id)
		case body.CertType == "":
			body.CertType = r.CertType
		case r.CertType != body.CertType:
			return fieldError("certificate_ids", "certificate %d is %s, the job is %s", id, r.CertType, body.CertType)
		}
		body.DeviceIDs = append(body.DeviceIDs, r.DeviceID.String)
	}
	return nil
}

// jobView is a job with where to find it in Temporal.
type jobView struct {
	store.Job
	WorkflowID string `json:"workflow_id"`
}

func viewJob(j store.Job) jobView { return jobView{Job: j, WorkflowID: workflows.JobWorkflowID(j.ID)} }

// createdJobView is a new job with the devices it skipped, and why.
type createdJobView struct {
	jobView
	Skipped []jobs.Skipped `json:"skipped"`
}

// createJob stores a job and starts its workflow; the audit row commits with
// the job. Devices without a profile for the certificate type are a 400;
// devices already in an active job of that type a 409. Both list the
// devices. Disabled devices are skipped, and the answer lists them.
func (s *server) createJob(c *gin.Context) {
	var body jobBody
	if !decode(c, &body) {
		return
	}
	if err := s.devicesOf(c, &body); err != nil {
		fail(c, err)
		return
	}
	if len(body.DeviceIDs) > maxAssign {
		fail(c, fieldError("device_ids", "at most %d devices per job", maxAssign))
		return
	}
	job, err := s.jobs.Create(c.Request.Context(), jobs.Spec{
		Name: body.Name, CertType: body.CertType, CreatedBy: principal(c).Actor(),
		DeviceIDs: body.DeviceIDs, StartAt: body.StartAt.Time, Window: body.Window,
	}, func(q *store.Queries, job jobs.Created) error {
		return record(c.Request.Context(), q, principal(c).Actor(), "job.create", "job", []string{strconv.FormatInt(job.ID, 10)},
			gin.H{"name": job.Name, "devices": len(body.DeviceIDs), "skipped": job.Skipped})
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, createdJobView{jobView: viewJob(job.Job), Skipped: append([]jobs.Skipped{}, job.Skipped...)})
}

var jobSorts = []string{"scheduled_at", "completed_at", "name", "created_by"}

// jobListParams reads the job list's sort, order, state filter and page.
func jobListParams(c *gin.Context) (store.ListJobsParams, bool) {
	limit, _, ok := page(c)
	if !ok {
		return store.ListJobsParams{}, false
	}
	sort, order, filter := c.DefaultQuery("sort", "scheduled_at"), c.DefaultQuery("order", "desc"), c.DefaultQuery("state", "all")
	offset, err := strconv.ParseInt(c.DefaultQuery("offset", "0"), 10, 32) // PageOffset is an int32
	switch {
	case !slices.Contains(jobSorts, sort):
		err = fieldError("sort", "want one of %v", jobSorts)
	case order != "asc" && order != "desc":
		err = fieldError("order", "want asc or desc")
	case filter != "active" && filter != "closed" && filter != "all":
		err = fieldError("state", "want active, closed or all")
	case err != nil || offset < 0:
		err = fieldError("offset", "a number from 0")
	}
	if err != nil {
		fail(c, err)
		return store.ListJobsParams{}, false
	}
	return store.ListJobsParams{Filter: filter, Sort: sort, Descending: order == "desc", PageSize: limit, PageOffset: int32(offset)}, true
}

// listJobs lists jobs, sorted and filtered, a page (≤ 100) at a time.
func (s *server) listJobs(c *gin.Context) {
	params, ok := jobListParams(c)
	if !ok {
		return
	}
	rows, err := store.New(s.pool).ListJobs(c.Request.Context(), params)
	if err != nil {
		fail(c, err)
		return
	}
	views, err := listedJobs(c, store.New(s.pool), rows)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": views, "offset": params.PageOffset, "limit": params.PageSize})
}

// listedJob is a job in a list, with its items counted per state: what the
// console draws as the job's outcome bar.
type listedJob struct {
	jobView
	Outcomes map[vocab.ItemState]int64 `json:"outcomes"`
}

func listedJobs(c *gin.Context, q *store.Queries, rows []store.Job) ([]listedJob, error) {
	ids := make([]int64, len(rows))
	listed := make([]listedJob, len(rows))
	at := make(map[int64]int, len(rows))
	for i, r := range rows {
		ids[i], at[r.ID] = r.ID, i
		listed[i] = listedJob{jobView: viewJob(r), Outcomes: map[vocab.ItemState]int64{}}
	}
	counts, err := q.CountItemsOfJobs(c.Request.Context(), ids)
	if err != nil {
		return nil, err
	}
	for _, n := range counts {
		listed[at[n.JobID]].Outcomes[vocab.ItemState(n.State)] = n.Items
	}
	return listed, nil
}

// maxSkippedShown bounds the skipped devices a job's detail lists; the items
// list (?state=skipped) pages through all of them.
const maxSkippedShown = 100

// getJob shows a job with its items counted per outcome and per step, from
// Postgres, the first skipped devices with why, and the live progress of its
// workflow while it runs.
func (s *server) getJob(c *gin.Context) {
	job, ok := s.job(c)
	if !ok {
		return
	}
	id, q := job.ID, store.New(s.pool)
	counts, err := q.CountJobItemsByStepAndState(c.Request.Context(), id)
	if err != nil {
		fail(c, err)
		return
	}
	outcomes := make(map[vocab.ItemState]int64, len(vocab.ItemStates))
	for _, state := range vocab.ItemStates {
		outcomes[state] = 0
	}
	steps := map[vocab.Step]int64{}
	for _, row := range counts {
		state := vocab.ItemState(row.State)
		outcomes[state] += row.Items
		if state == vocab.ItemInProgress {
			steps[vocab.Step(row.Step)] += row.Items
		}
	}
	rows, err := q.ListSkippedJobItems(c.Request.Context(), store.ListSkippedJobItemsParams{JobID: id, PageSize: maxSkippedShown})
	if err != nil {
		fail(c, err)
		return
	}
	skipped := make([]jobs.Skipped, len(rows))
	for i, r := range rows {
		skipped[i] = jobs.Skipped{DeviceID: r.DeviceID, Reason: r.LastError}
	}
	retried, err := q.CountRetriedJobItems(c.Request.Context(), id)
	if err != nil {
		fail(c, err)
		return
	}
	view := gin.H{"job": viewJob(job), "outcomes": outcomes, "in_progress_by_step": steps, "skipped": skipped, "retried_items": retried}
	// The live block says only what the workflow alone knows, and only while
	// the job runs, so it never disagrees with the stored counts or state;
	// a Temporal that does not answer within a second leaves it out.
	if job.CompletedAt == nil {
		if live, ok := s.jobs.LiveProgress(c.Request.Context(), id); ok {
			view["live"] = live
		}
	}
	c.JSON(http.StatusOK, view)
}

// retryJob starts a new job over the failed and halted items of a finished
// job, linked to it by retry_of; the audit row commits with the new job. A
// job still running, or with nothing to retry, is a 409.
func (s *server) retryJob(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	job, err := s.jobs.Retry(c.Request.Context(), id, principal(c).Actor(), func(q *store.Queries, job jobs.Created) error {
		return record(c.Request.Context(), q, principal(c).Actor(), "job.retry", "job", []string{strconv.FormatInt(job.ID, 10)},
			gin.H{"name": job.Name, "retry_of": id, "skipped": job.Skipped})
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, createdJobView{jobView: viewJob(job.Job), Skipped: append([]jobs.Skipped{}, job.Skipped...)})
}

// listJobItems lists a job's items, optionally of one state, with each one's
// step, last error and Temporal workflow ID.
func (s *server) listJobItems(c *gin.Context) {
	id, ok := pathID(c, "id")
	limit, after, ok2 := page(c)
	if !ok || !ok2 {
		return
	}
	if state := vocab.ItemState(c.Query("state")); state != "" && !slices.Contains(vocab.ItemStates, state) {
		fail(c, fieldError("state", "want one of %v", vocab.ItemStates))
		return
	}
	rows, err := store.New(s.pool).ListJobItems(c.Request.Context(), store.ListJobItemsParams{
		JobID: id, State: optional(c.Query("state")), AfterDeviceID: after, PageSize: limit,
	})
	if err != nil {
		fail(c, err)
		return
	}
	items := make([]gin.H, len(rows))
	for i, r := range rows {
		items[i] = gin.H{
			"device_id": r.DeviceID, "profile_id": r.ProfileID, "step": r.Step, "state": r.State, "steps": r.StepStatus,
			"last_error": r.LastError, "issued_certificate_id": nullable(r.IssuedCertificateID.Int64, r.IssuedCertificateID.Valid),
			"prior_certificate_id": nullable(r.PriorCertificateID.Int64, r.PriorCertificateID.Valid),
			"started_at":           r.StartedAt, "finished_at": r.FinishedAt, "workflow_id": workflows.DeviceWorkflowID(id, r.DeviceID),
		}
	}
	next := nextCursor(rows, limit, func(r store.ListJobItemsRow) string { return r.DeviceID })
	c.JSON(http.StatusOK, gin.H{"items": items, "next": next})
}

func nullable(v int64, valid bool) any {
	if !valid {
		return nil
	}
	return v
}

// haltJob asks a job to stop: no new devices start, those in flight are
// cancelled. A signal cannot share a transaction, so the audit row commits
// before the signal is sent: a halt is never unrecorded, and a signal that
// failed leaves a recorded attempt and a 500.
func (s *server) haltJob(c *gin.Context) {
	job, ok := s.job(c)
	if !ok {
		return
	}
	if job.CompletedAt != nil {
		fail(c, errkind.Conflict("the job has already ended (%s)", job.Status))
		return
	}
	err := s.change(c, "job.halt", "job", func(*store.Queries) ([]string, any, error) {
		return []string{strconv.FormatInt(job.ID, 10)}, gin.H{"status": job.Status}, nil
	})
	if err == nil {
		err = s.jobs.Halt(c.Request.Context(), job.ID)
	}
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"job": job.ID, "halt": "requested"})
}

// job reads the job the path names, answering 404 itself when there is none.
func (s *server) job(c *gin.Context) (store.Job, bool) {
	id, ok := pathID(c, "id")
	if !ok {
		return store.Job{}, false
	}
	job, err := store.New(s.pool).GetJob(c.Request.Context(), id)
	if err != nil {
		fail(c, err)
		return store.Job{}, false
	}
	return job, true
}
