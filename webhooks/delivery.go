package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certfleet/certfleet/credentials"
	"github.com/certfleet/certfleet/db/store"
)

// Delivery is one event for one webhook, with how hard to try.
type Delivery struct {
	WebhookID int64
	EventID   string
	// Attempts is how many POSTs are made at most; the first retry waits
	// Backoff, each next one twice as long, up to an hour.
	Attempts int32
	Backoff  time.Duration
}

// ErrRefused is the error type of a receiver's answer that retrying cannot
// change (a 4xx other than 408 and 429), or of a webhook removed or disabled.
const ErrRefused = "WebhookRefused"

// maxBackoff caps the wait between two attempts.
const maxBackoff = time.Hour

// Activities deliver events; Temporal calls the worker's instance.
type Activities struct {
	Pool        *pgxpool.Pool
	Credentials *credentials.Store
	// Client sends the POSTs; its timeout bounds an attempt.
	Client *http.Client
	// Mail sends the events of mailto: webhooks.
	Mail *Mailer
}

var acts *Activities

// WebhookDelivery POSTs an event to a webhook until the receiver takes it
// or the attempts run out, then records the delivery as failed; a failed
// delivery ends the run failed, so it shows so in the Temporal UI.
func WebhookDelivery(ctx workflow.Context, d Delivery) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: d.Backoff, BackoffCoefficient: 2, MaximumInterval: maxBackoff,
			MaximumAttempts: d.Attempts, NonRetryableErrorTypes: []string{ErrRefused},
		},
	})
	err := workflow.ExecuteActivity(ctx, acts.Deliver, d).Get(ctx, nil)
	if err == nil {
		return nil
	}
	record := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	if failErr := workflow.ExecuteActivity(record, acts.GiveUp, d, err.Error()).Get(ctx, nil); failErr != nil {
		return failErr
	}
	return err
}

// Deliver makes one attempt and logs it. A delivery already made, or given
// up, is not made again.
func (a *Activities) Deliver(ctx context.Context, d Delivery) error {
	q := store.New(a.Pool)
	row, err := q.GetWebhookDelivery(ctx, store.GetWebhookDeliveryParams{WebhookID: d.WebhookID, EventID: d.EventID})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return temporal.NewNonRetryableApplicationError("the webhook was deleted", ErrRefused, nil)
	case err != nil:
		return fmt.Errorf("read delivery of %s to webhook %d: %w", d.EventID, d.WebhookID, err)
	case row.Status != "pending":
		return nil
	case row.DisabledAt != nil:
		return temporal.NewNonRetryableApplicationError("the webhook is disabled", ErrRefused, nil)
	}
	var status int
	var sendErr error
	if strings.HasPrefix(row.Url, "mailto:") {
		sendErr = a.Mail.send(ctx, row, d.WebhookID, d.EventID)
	} else {
		status, sendErr = a.send(ctx, row, d.EventID)
	}
	attempt := store.RecordWebhookAttemptParams{WebhookID: d.WebhookID, EventID: d.EventID, Delivered: sendErr == nil}
	if status > 0 {
		attempt.LastStatus = pgtype.Int4{Int32: int32(status), Valid: true}
	}
	if sendErr != nil {
		attempt.LastError = sendErr.Error()
	}
	if err := q.RecordWebhookAttempt(ctx, attempt); err != nil {
		return fmt.Errorf("log delivery of %s to webhook %d: %w", d.EventID, d.WebhookID, err)
	}
	return sendErr
}

// send POSTs the event and says how the receiver answered.
func (a *Activities) send(ctx context.Context, row store.GetWebhookDeliveryRow, eventID string) (int, error) {
	secret, err := a.Credentials.ByName(ctx, row.SecretCredential.String)
	if err != nil {
		return 0, err
	}
	body, err := json.Marshal(map[string]any{"id": eventID, "type": row.Type, "created_at": row.EventAt, "data": row.Payload})
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, row.Url, bytes.NewReader(body))
	if err != nil {
		return 0, temporal.NewNonRetryableApplicationError(fmt.Sprintf("webhook URL: %v", err), ErrRefused, nil)
	}
	now := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "certfleet-webhooks")
	req.Header.Set(HeaderEvent, row.Type)
	req.Header.Set(HeaderEventID, eventID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now, 10))
	req.Header.Set(HeaderSignature, Sign([]byte(secret.Value), now, body))
	resp, err := a.Client.Do(req)
	var failed *url.Error
	if errors.As(err, &failed) {
		// Not the URL: receivers' URLs often carry their token.
		return 0, fmt.Errorf("POST: %w", failed.Err)
	}
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return code, nil
	case code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests:
		return code, temporal.NewNonRetryableApplicationError(fmt.Sprintf("the receiver refused it: HTTP %d %s", code, bytes.TrimSpace(answer)), ErrRefused, nil)
	default:
		return code, fmt.Errorf("the receiver answered HTTP %d %s", code, bytes.TrimSpace(answer))
	}
}

// GiveUp records a delivery whose attempts ran out, or that was refused.
func (a *Activities) GiveUp(ctx context.Context, d Delivery, reason string) error {
	return store.New(a.Pool).FailWebhookDelivery(ctx, store.FailWebhookDeliveryParams{WebhookID: d.WebhookID, EventID: d.EventID, LastError: reason})
}
