-- name: ListWebhooks :many
SELECT * FROM webhooks ORDER BY name;

-- name: GetWebhook :one
SELECT * FROM webhooks WHERE name = @name;

-- name: CreateWebhook :one
INSERT INTO webhooks (name, url, events, secret_credential, created_by)
VALUES (@name, @url, @events, @secret_credential, @created_by)
ON CONFLICT (name) DO NOTHING
RETURNING *;

-- name: UpdateWebhook :one
UPDATE webhooks SET url = @url, events = @events, secret_credential = @secret_credential WHERE name = @name RETURNING *;

-- name: SetWebhookDisabled :one
UPDATE webhooks SET disabled_at = CASE WHEN @disabled::boolean THEN COALESCE(disabled_at, now()) END
WHERE name = @name
RETURNING *;

-- name: DeleteWebhook :execrows
DELETE FROM webhooks WHERE name = @name;

-- name: RecordWebhookEvent :exec
-- An event told from Go rather than by a trigger; told twice, it is one.
SELECT webhook_event(@event_id::text, @type::text, @payload::jsonb);

-- name: UndispatchedWebhookEvents :many
-- Events to hand to their webhooks, oldest first; concurrent dispatchers
-- (API replicas) take different ones.
SELECT * FROM webhook_events WHERE dispatched_at IS NULL ORDER BY id LIMIT @max_rows FOR UPDATE SKIP LOCKED;

-- name: AddWebhookDeliveries :exec
-- A delivery of the event to every enabled webhook subscribed to its type.
INSERT INTO webhook_deliveries (webhook_id, event_id)
SELECT w.id, @event_id FROM webhooks w WHERE w.disabled_at IS NULL AND @type::text = ANY(w.events)
ON CONFLICT DO NOTHING;

-- name: AddWebhookDelivery :exec
INSERT INTO webhook_deliveries (webhook_id, event_id) VALUES (@webhook_id, @event_id) ON CONFLICT DO NOTHING;

-- name: PendingWebhookDeliveries :many
SELECT webhook_id FROM webhook_deliveries WHERE event_id = @event_id AND status = 'pending' ORDER BY webhook_id;

-- name: UnstartedWebhookDeliveries :many
-- Deliveries recorded over a minute ago that were never tried.
SELECT webhook_id, event_id FROM webhook_deliveries
WHERE status = 'pending' AND attempts = 0 AND created_at < now() - interval '1 minute'
ORDER BY created_at LIMIT @max_rows;

-- name: MarkWebhookEventsDispatched :exec
UPDATE webhook_events SET dispatched_at = now() WHERE id = ANY(@ids::bigint[]);

-- name: GetWebhookDelivery :one
SELECT d.status, w.url, w.secret_credential, w.disabled_at, e.type, e.payload, e.created_at AS event_at
FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id JOIN webhook_events e ON e.event_id = d.event_id
WHERE d.webhook_id = @webhook_id AND d.event_id = @event_id;

-- name: RecordWebhookAttempt :exec
UPDATE webhook_deliveries
SET attempts = attempts + 1, last_status = @last_status, last_error = @last_error, updated_at = now(),
    status = CASE WHEN @delivered::boolean THEN 'delivered' ELSE status END
WHERE webhook_id = @webhook_id AND event_id = @event_id AND status = 'pending';

-- name: FailWebhookDelivery :exec
-- Gives a delivery up; the last attempt's error stays, when there was one.
UPDATE webhook_deliveries SET status = 'failed', updated_at = now(),
    last_error = CASE WHEN last_error = '' THEN @last_error ELSE last_error END
WHERE webhook_id = @webhook_id AND event_id = @event_id AND status = 'pending';

-- name: WebhookDeliveries :many
-- A webhook's delivery log, newest first.
SELECT d.event_id, e.type, d.status, d.attempts, d.last_status, d.last_error, d.created_at, d.updated_at
FROM webhook_deliveries d JOIN webhook_events e ON e.event_id = d.event_id
WHERE d.webhook_id = @webhook_id AND (@status::text = '' OR d.status = @status)
ORDER BY d.created_at DESC, d.event_id
LIMIT 100;

-- name: TidyWebhookEvents :execrows
-- Events (and their delivery log) kept 30 days after their dispatch.
DELETE FROM webhook_events e WHERE e.dispatched_at < now() - interval '30 days'
  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.event_id AND d.status = 'pending');
