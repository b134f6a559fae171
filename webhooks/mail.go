package webhooks

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/certfleet/certfleet/credentials"
	"github.com/certfleet/certfleet/db/store"
)

// Mailer sends the events of webhooks whose URL is mailto:… through an SMTP
// server: STARTTLS when the server offers it, AUTH PLAIN with a password
// credential when one is named (over TLS, or to localhost).
type Mailer struct {
	// Addr is the SMTP server's host:port; empty, nothing can be mailed.
	Addr string
	From string
	// Credential names the password credential to log in with, if any.
	Credential  string
	Credentials *credentials.Store
}

// MailRecipients reads the addresses of a mailto: URL.
func MailRecipients(url string) ([]string, error) {
	list, ok := strings.CutPrefix(url, "mailto:")
	if !ok {
		return nil, errors.New("not a mailto: URL")
	}
	addresses, err := mail.ParseAddressList(list)
	if err != nil || len(addresses) == 0 {
		return nil, fmt.Errorf("mailto: wants one or more addresses separated by commas: %v", err)
	}
	to := make([]string, len(addresses))
	for i, a := range addresses {
		to[i] = a.Address
	}
	return to, nil
}

// send mails the event; the Message-ID is the event's and the webhook's, so
// that a mail told twice (a retry after a lost answer) is one to the reader's
// client.
func (m *Mailer) send(ctx context.Context, row store.GetWebhookDeliveryRow, webhookID int64, eventID string) error {
	if m == nil || m.Addr == "" {
		return temporal.NewNonRetryableApplicationError("no SMTP server is configured (CERTFLEET_SMTP_ADDR)", ErrRefused, nil)
	}
	to, err := MailRecipients(row.Url)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrRefused, nil)
	}
	var auth smtp.Auth
	if m.Credential != "" {
		login, err := m.Credentials.ByName(ctx, m.Credential)
		if err != nil {
			return err
		}
		host, _, _ := net.SplitHostPort(m.Addr)
		auth = smtp.PlainAuth("", login.Username, login.Value, host)
	}
	msg, err := m.message(row, webhookID, eventID, to)
	if err != nil {
		return err
	}
	err = m.sendMail(ctx, auth, to, msg)
	var reply *textproto.Error
	if errors.As(err, &reply) && reply.Code >= 500 {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("the SMTP server refused it: %d %s", reply.Code, reply.Msg), ErrRefused, nil)
	}
	if err != nil {
		return fmt.Errorf("mail through %s: %w", m.Addr, err)
	}
	return nil
}

// mailTimeout bounds one conversation with the SMTP server.
const mailTimeout = 30 * time.Second

// sendMail is smtp.SendMail within ctx and mailTimeout, so that a server
// that stops answering cannot hold an activity past its timeout.
func (m *Mailer) sendMail(ctx context.Context, auth smtp.Auth, to []string, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, mailTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", m.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(m.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return err
		}
	}
	if ok, _ := c.Extension("AUTH"); ok && auth != nil {
		if err := c.Auth(auth); err != nil {
			return err
		}
	}
	if err := c.Mail(m.From); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func (m *Mailer) message(row store.GetWebhookDeliveryRow, webhookID int64, eventID string, to []string) ([]byte, error) {
	var data bytes.Buffer
	if err := json.Indent(&data, row.Payload, "", "  "); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	header := func(name, value string) { fmt.Fprintf(&b, "%s: %s\r\n", name, value) }
	header("From", m.From)
	header("To", strings.Join(to, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", "[certfleet] "+row.Type+" ("+eventID+")"))
	header("Date", time.Now().UTC().Format(time.RFC1123Z))
	header("Message-ID", fmt.Sprintf("<%s.%d@certfleet>", strings.NewReplacer("/", ".", " ", "").Replace(eventID), webhookID))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header(HeaderEvent, row.Type)
	header(HeaderEventID, eventID)
	b.WriteString("\r\n")
	fmt.Fprintf(&b, "certfleet event %s (%s), at %s:\r\n\r\n", row.Type, eventID, row.EventAt.UTC().Format(time.RFC3339))
	b.WriteString(strings.ReplaceAll(data.String(), "\n", "\r\n"))
	b.WriteString("\r\n")
	return b.Bytes(), nil
}
