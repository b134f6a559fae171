package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/workflows"
)

// Dispatcher starts the deliveries of new events. API processes run one
// each; concurrent ones take different events.
type Dispatcher struct {
	Pool      *pgxpool.Pool
	Temporal  client.Client
	TaskQueue string
	// Attempts and Backoff are every delivery's (see Delivery).
	Attempts int32
	Backoff  time.Duration
	Logger   *slog.Logger
}

// batch is how many events one dispatch takes.
const batch = 100

// Run dispatches new events every `every` until ctx ends, resumes
// deliveries left unstarted, tells once a day
// of certificates no renewal policy covers, and removes events a month
// after their dispatch.
func (d Dispatcher) Run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	var lastResume, lastNotice, lastTidy time.Time
	for {
		for {
			n, err := d.Dispatch(ctx)
			if err != nil && ctx.Err() == nil {
				d.Logger.Warn("webhook events not dispatched; trying again", "error", err)
			}
			if err != nil || n < batch {
				break
			}
		}
		if time.Since(lastResume) > 30*time.Second {
			if err := d.Resume(ctx); err != nil && ctx.Err() == nil {
				d.Logger.Warn("webhook deliveries not resumed; trying again", "error", err)
			}
			lastResume = time.Now()
		}
		if time.Since(lastNotice) > time.Hour {
			if err := d.NoticeUnrenewed(ctx, time.Now()); err != nil && ctx.Err() == nil {
				d.Logger.Warn("expiring certificates not told to webhooks", "error", err)
			}
			lastNotice = time.Now()
		}
		if time.Since(lastTidy) > 24*time.Hour {
			if _, err := store.New(d.Pool).TidyWebhookEvents(ctx); err != nil && ctx.Err() == nil {
				d.Logger.Warn("old webhook events not removed", "error", err)
			}
			lastTidy = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Dispatch takes up to a batch of new events, records a delivery of each to
// every enabled webhook subscribed to its type, and once that is committed
// starts the deliveries; it says how many events it took. Starting is
// idempotent (one workflow ID per webhook and event), and deliveries a crash
// kept from starting are started by Resume.
func (d Dispatcher) Dispatch(ctx context.Context) (int, error) {
	var n int
	var deliveries []Delivery
	err := pgx.BeginFunc(ctx, d.Pool, func(tx pgx.Tx) error {
		q := store.New(tx)
		events, err := q.UndispatchedWebhookEvents(ctx, batch)
		if err != nil {
			return fmt.Errorf("read new webhook events: %w", err)
		}
		n = len(events)
		ids := make([]int64, 0, len(events))
		for _, e := range events {
			if err := q.AddWebhookDeliveries(ctx, store.AddWebhookDeliveriesParams{EventID: e.EventID, Type: e.Type}); err != nil {
				return fmt.Errorf("add deliveries of %s: %w", e.EventID, err)
			}
			hooks, err := q.PendingWebhookDeliveries(ctx, e.EventID)
			if err != nil {
				return fmt.Errorf("read deliveries of %s: %w", e.EventID, err)
			}
			for _, hook := range hooks {
				deliveries = append(deliveries, d.delivery(hook, e.EventID))
			}
			ids = append(ids, e.ID)
		}
		return q.MarkWebhookEventsDispatched(ctx, ids)
	})
	if err != nil {
		return 0, err
	}
	return n, d.startAll(ctx, deliveries)
}

// Resume starts deliveries recorded over a minute ago and never tried:
// those a crash between Dispatch's commit and its starts left behind.
func (d Dispatcher) Resume(ctx context.Context) error {
	rows, err := store.New(d.Pool).UnstartedWebhookDeliveries(ctx, batch)
	if err != nil {
		return fmt.Errorf("read deliveries never tried: %w", err)
	}
	deliveries := make([]Delivery, 0, len(rows))
	for _, r := range rows {
		deliveries = append(deliveries, d.delivery(r.WebhookID, r.EventID))
	}
	return d.startAll(ctx, deliveries)
}

func (d Dispatcher) delivery(webhookID int64, eventID string) Delivery {
	return Delivery{WebhookID: webhookID, EventID: eventID, Attempts: d.Attempts, Backoff: d.Backoff}
}

func (d Dispatcher) startAll(ctx context.Context, deliveries []Delivery) error {
	for _, delivery := range deliveries {
		if err := d.start(ctx, delivery); err != nil {
			return err
		}
	}
	return nil
}

func (d Dispatcher) start(ctx context.Context, delivery Delivery) error {
	id := workflows.WebhookDeliveryWorkflowID(delivery.WebhookID, delivery.EventID)
	_, err := d.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: d.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "webhook delivery of " + delivery.EventID,
	}, WebhookDelivery, delivery)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("start delivery %s: %w", id, err)
	}
	return nil
}

// NoticeUnrenewed tells, once a day per profile, of active certificates
// expiring within 30 days that no renewal policy covers.
func (d Dispatcher) NoticeUnrenewed(ctx context.Context, now time.Time) error {
	q := store.New(d.Pool)
	rows, err := q.UnrenewedExpiring(ctx)
	if err != nil {
		return err
	}
	day := now.UTC().Format(time.DateOnly)
	for _, r := range rows {
		payload, err := json.Marshal(map[string]any{"profile_id": r.ProfileID, "profile": r.Profile, "certificates": r.Certificates, "within_days": 30})
		if err != nil {
			return err
		}
		if err := q.RecordWebhookEvent(ctx, store.RecordWebhookEventParams{
			EventID: fmt.Sprintf("%s/%d/%s", CertificatesExpiring, r.ProfileID, day), Type: CertificatesExpiring, Payload: payload,
		}); err != nil {
			return err
		}
	}
	return nil
}
