package api

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/webhooks"
)

// Webhooks tell outside systems of events (see webhooks/): admins subscribe
// a URL to event types, with a credential of the credential store (kind
// bearer) as the signing secret. Only admins read them: receivers' URLs
// often carry a token, and the audit log, which every role reads, records
// them without their query.

type webhookBody struct {
	Name             string   `json:"name"`
	URL              string   `json:"url"`
	Events           []string `json:"events"`
	SecretCredential string   `json:"secret_credential"`
}

// audited is the body as the audit log keeps it: the URL without its query
// or user information, where receivers keep their tokens.
func (b webhookBody) audited() webhookBody {
	if u, err := url.Parse(b.URL); err == nil && !strings.HasPrefix(b.URL, "mailto:") {
		u.User, u.RawQuery, u.Fragment = nil, "", ""
		b.URL = u.String()
	}
	return b
}

// secret is the signing secret's credential, none for a mailto: webhook.
func (b webhookBody) secret() pgtype.Text {
	return pgtype.Text{String: b.SecretCredential, Valid: b.SecretCredential != ""}
}

type webhookView struct {
	Name             string     `json:"name"`
	URL              string     `json:"url"`
	Events           []string   `json:"events"`
	SecretCredential string     `json:"secret_credential,omitempty"`
	DisabledAt       *time.Time `json:"disabled_at"`
	CreatedAt        time.Time  `json:"created_at"`
	CreatedBy        string     `json:"created_by"`
}

func viewWebhook(w store.Webhook) webhookView {
	return webhookView{Name: w.Name, URL: w.Url, Events: w.Events, SecretCredential: w.SecretCredential.String, DisabledAt: w.DisabledAt, CreatedAt: w.CreatedAt, CreatedBy: w.CreatedBy}
}

func (s *server) webhookRoutes(v1 *gin.RouterGroup, admin gin.HandlerFunc) {
	v1.GET("/webhooks", admin, s.listWebhooks)
	v1.POST("/webhooks", admin, s.createWebhook)
	v1.PUT("/webhooks/:name", admin, s.updateWebhook)
	v1.DELETE("/webhooks/:name", admin, s.deleteWebhook)
	v1.POST("/webhooks/:name/disable", admin, s.setWebhookDisabled(true))
	v1.POST("/webhooks/:name/enable", admin, s.setWebhookDisabled(false))
	v1.POST("/webhooks/:name/ping", admin, s.pingWebhook)
	v1.GET("/webhooks/:name/deliveries", admin, s.webhookDeliveries)
}

func (s *server) listWebhooks(c *gin.Context) {
	rows, err := store.New(s.pool).ListWebhooks(c.Request.Context())
	if err != nil {
		fail(c, err)
		return
	}
	views := make([]webhookView, 0, len(rows))
	for _, r := range rows {
		views = append(views, viewWebhook(r))
	}
	c.JSON(http.StatusOK, gin.H{"items": views, "event_types": webhooks.EventTypes})
}

func (s *server) createWebhook(c *gin.Context) {
	var body webhookBody
	if !decode(c, &body) {
		return
	}
	if !webhookName.MatchString(body.Name) {
		fail(c, fieldError("name", "lowercase letters, digits, _ and -, starting with a letter or digit, at most 63"))
		return
	}
	var row store.Webhook
	err := s.change(c, "webhook.create", "webhook", func(q *store.Queries) ([]string, any, error) {
		if err := checkWebhook(c.Request.Context(), q, body); err != nil {
			return nil, nil, err
		}
		var err error
		row, err = q.CreateWebhook(c.Request.Context(), store.CreateWebhookParams{
			Name: body.Name, Url: body.URL, Events: body.Events, SecretCredential: body.secret(), CreatedBy: principal(c).Actor(),
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil, errkind.Conflict("webhook %q exists", body.Name)
		}
		return []string{body.Name}, body.audited(), err
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, viewWebhook(row))
}

var webhookName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func (s *server) updateWebhook(c *gin.Context) {
	var body webhookBody
	if !decode(c, &body) {
		return
	}
	name := c.Param("name")
	if body.Name != "" && body.Name != name {
		fail(c, fieldError("name", "a webhook cannot be renamed; create another"))
		return
	}
	body.Name = name
	s.changeWebhook(c, "webhook.update", body.audited(), func(q *store.Queries) (store.Webhook, error) {
		if err := checkWebhook(c.Request.Context(), q, body); err != nil {
			return store.Webhook{}, err
		}
		return q.UpdateWebhook(c.Request.Context(), store.UpdateWebhookParams{Name: name, Url: body.URL, Events: body.Events, SecretCredential: body.secret()})
	})
}

// changeWebhook runs fn, a change of the webhook the path names, audited as
// action, and answers the webhook after it.
func (s *server) changeWebhook(c *gin.Context, action string, details any, fn func(q *store.Queries) (store.Webhook, error)) {
	if row, ok := changeNamed(s, c, action, "webhook", "webhook", details, fn); ok {
		c.JSON(http.StatusOK, viewWebhook(row))
	}
}

// checkWebhook refuses a URL that is neither http(s) with a host nor
// mailto: with addresses, events that do not exist, and for HTTP a signing
// secret that is no bearer credential.
func checkWebhook(ctx context.Context, q *store.Queries, b webhookBody) error {
	if len(b.URL) > 2000 || textProblem(b.URL) != "" {
		return fieldError("url", "at most 2,000 characters of text")
	}
	if strings.HasPrefix(b.URL, "mailto:") {
		if _, err := webhooks.MailRecipients(b.URL); err != nil {
			return fieldError("url", "%v", err)
		}
	} else if u, err := url.Parse(b.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fieldError("url", "an http:// or https:// URL with a host, or mailto: with email addresses")
	}
	if len(b.Events) == 0 {
		return fieldError("events", "one or more of %v", webhooks.EventTypes)
	}
	for _, e := range b.Events {
		if !slices.Contains(webhooks.EventTypes, e) {
			return fieldError("events", "%q is not one of %v", e, webhooks.EventTypes)
		}
	}
	if b.SecretCredential == "" && strings.HasPrefix(b.URL, "mailto:") {
		return nil // mail is not signed
	}
	if textProblem(b.SecretCredential) != "" {
		return fieldError("secret_credential", "no credential %q", b.SecretCredential)
	}
	cred, err := q.GetCredentialByName(ctx, b.SecretCredential)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fieldError("secret_credential", "no credential %q; create one of kind bearer with POST /api/v1/credentials", b.SecretCredential)
	case err != nil:
		return err
	case cred.Kind != "bearer":
		return fieldError("secret_credential", "credential %q is a %s; the signing secret is a bearer credential", b.SecretCredential, cred.Kind)
	}
	return nil
}

func (s *server) deleteWebhook(c *gin.Context) {
	name := c.Param("name")
	err := s.change(c, "webhook.delete", "webhook", func(q *store.Queries) ([]string, any, error) {
		n, err := q.DeleteWebhook(c.Request.Context(), name)
		if err == nil && n == 0 {
			err = errkind.NotFound("no webhook %q", name)
		}
		return []string{name}, nil, err
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// setWebhookDisabled stops deliveries to a webhook, those under way
// included, or starts them again for events from then on.
func (s *server) setWebhookDisabled(disabled bool) gin.HandlerFunc {
	action := map[bool]string{true: "webhook.disable", false: "webhook.enable"}[disabled]
	return func(c *gin.Context) {
		s.changeWebhook(c, action, nil, func(q *store.Queries) (store.Webhook, error) {
			return q.SetWebhookDisabled(c.Request.Context(), store.SetWebhookDisabledParams{Name: c.Param("name"), Disabled: disabled})
		})
	}
}

// pingWebhook sends a ping event to this webhook alone, to try it; the
// answer names the event, whose delivery the log then shows.
func (s *server) pingWebhook(c *gin.Context) {
	eventID := webhooks.Ping + "/" + rand.Text()
	err := s.change(c, "webhook.ping", "webhook", func(q *store.Queries) ([]string, any, error) {
		hook, err := q.GetWebhook(c.Request.Context(), c.Param("name"))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil, errkind.NotFound("no webhook %q", c.Param("name"))
		}
		if err != nil {
			return nil, nil, err
		}
		payload, err := json.Marshal(map[string]any{"webhook": hook.Name})
		if err != nil {
			return nil, nil, err
		}
		if err := q.RecordWebhookEvent(c.Request.Context(), store.RecordWebhookEventParams{EventID: eventID, Type: webhooks.Ping, Payload: payload}); err != nil {
			return nil, nil, err
		}
		return []string{hook.Name}, gin.H{"event_id": eventID}, q.AddWebhookDelivery(c.Request.Context(), store.AddWebhookDeliveryParams{WebhookID: hook.ID, EventID: eventID})
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"event_id": eventID})
}

// webhookDeliveries is a webhook's delivery log, newest first, 100 at most
// (?status=pending|delivered|failed).
func (s *server) webhookDeliveries(c *gin.Context) {
	ctx, q := c.Request.Context(), store.New(s.pool)
	status := c.Query("status")
	if status != "" && !slices.Contains([]string{"pending", "delivered", "failed"}, status) {
		fail(c, fieldError("status", "pending, delivered or failed"))
		return
	}
	hook, err := q.GetWebhook(ctx, c.Param("name"))
	if errors.Is(err, pgx.ErrNoRows) {
		fail(c, errkind.NotFound("no webhook %q", c.Param("name")))
		return
	}
	if err != nil {
		fail(c, err)
		return
	}
	rows, err := q.WebhookDeliveries(ctx, store.WebhookDeliveriesParams{WebhookID: hook.ID, Status: status})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": rows})
}
