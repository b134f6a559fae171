package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca"
	"github.com/certfleet/certfleet/vocab"
	"github.com/certfleet/certfleet/workflows"
)

// Approver decides requests the built-in CA holds in approval mode; audit
// writes the decision's audit row in the decision's own transaction.
type Approver interface {
	Approve(ctx context.Context, requestID, approver string, audit func(*store.Queries) error) (ca.Result, error)
	Reject(ctx context.Context, requestID, reason, approver string, audit func(*store.Queries) error) error
}

// listCARequests lists CA requests, by default those awaiting a decision.
func (s *server) listCARequests(c *gin.Context) {
	limit, after, ok := page(c)
	if !ok {
		return
	}
	status := vocab.RequestStatus(c.DefaultQuery("status", string(vocab.RequestPending)))
	if status != "all" && !slices.Contains(vocab.RequestStatuses, status) {
		fail(c, fieldError("status", "want one of %v, or all", vocab.RequestStatuses))
		return
	}
	if status == "all" {
		status = ""
	}
	afterID, ok := afterID(c, after)
	if !ok {
		return
	}
	rows, err := store.New(s.pool).ListCARequests(c.Request.Context(), store.ListCARequestsParams{Status: optional(string(status)), AfterID: afterID, PageSize: limit})
	if err != nil {
		fail(c, err)
		return
	}
	next := nextCursor(rows, limit, func(r store.ListCARequestsRow) string { return strconv.FormatInt(r.ID, 10) })
	c.JSON(http.StatusOK, gin.H{"items": rows, "next": next})
}

// decideCARequest approves, or rejects with a reason, a pending request.
func (s *server) decideCARequest(approve bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		var body struct {
			Reason string `json:"reason"`
		}
		if !approve {
			if !decode(c, &body) {
				return
			}
			if l := len(strings.TrimSpace(body.Reason)); l == 0 || l > 1000 {
				fail(c, fieldError("reason", "1 to 1000 characters"))
				return
			}
		}
		requestID, actor := strconv.FormatInt(id, 10), principal(c).Actor()
		action := map[bool]string{true: "ca_request.approve", false: "ca_request.reject"}[approve]
		audit := func(q *store.Queries) error {
			return record(c.Request.Context(), q, actor, action, "ca_request", []string{requestID}, gin.H{"reason": body.Reason})
		}
		var err error
		var result ca.Result
		if approve {
			result, err = s.approver.Approve(c.Request.Context(), requestID, actor, audit)
		} else {
			err = s.approver.Reject(c.Request.Context(), requestID, strings.TrimSpace(body.Reason), actor, audit)
		}
		if err != nil {
			fail(c, err)
			return
		}
		s.announceDecision(c.Request.Context(), id)
		view := gin.H{"id": id, "status": vocab.RequestRejected}
		if approve {
			view = gin.H{"id": id, "status": result.Status, "certificate_id": result.CertificateID}
		}
		c.JSON(http.StatusOK, view)
	}
}

// announceDecision wakes the workflow waiting for CA request id, so that the
// device's next try gets its certificate (or its refusal) at once. The
// decision is recorded already: if the signal is lost, the workflow sees it
// at its next check.
func (s *server) announceDecision(ctx context.Context, id int64) {
	if s.jobs == nil || s.jobs.Temporal == nil {
		return
	}
	row, err := store.New(s.pool).GetCARequest(ctx, id)
	if err == nil {
		err = s.jobs.Temporal.SignalWorkflow(ctx, workflows.CARequestWorkflowID(row.IdempotencyKey), "", workflows.SignalCADecided, nil)
	}
	var gone *serviceerror.NotFound
	if err != nil && !errors.As(err, &gone) { // a workflow that ended needs no news
		s.logger.Warn("CA decision not announced; the workflow sees it at its next check", "ca_request", id, "error", err)
	}
}
