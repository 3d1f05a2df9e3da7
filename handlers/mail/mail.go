// Package mail sends Switchboard's emails: over SMTP when a server is
// configured, and otherwise into the log.
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	netmail "net/mail"
	"net/smtp"
	"net/url"
	"strings"
	"time"
)

// Message is a plain-text email with the one link it is about.
type Message struct {
	To      string
	Subject string
	Body    string
	Link    string
}

// Mailer sends messages.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// Why New refused its configuration.
var (
	// ErrInvalidFrom: the From address is not an email address.
	ErrInvalidFrom = errors.New("mail from address is not an email address")
	// ErrInvalidURL: the SMTP URL is not smtp://… or smtps://… with a host.
	ErrInvalidURL = errors.New("smtp url must look like smtp://user:password@host:587")
)

// New sends over SMTP when smtpURL is set (smtp://user:pass@host:587 with
// STARTTLS when offered, smtps://… for TLS from the start), and otherwise
// writes each message's link to the log. A refused configuration is
// ErrInvalidFrom or ErrInvalidURL, wrapped; the URL's password is never
// repeated.
func New(smtpURL, from string, log *slog.Logger) (Mailer, error) {
	if smtpURL == "" {
		return logMailer{log: log}, nil
	}
	if _, err := netmail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrInvalidFrom, from, err)
	}
	u, err := url.Parse(smtpURL)
	if err != nil {
		return nil, ErrInvalidURL // url.Parse's error quotes the URL, password and all
	}
	if (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, fmt.Errorf("%w, got %q", ErrInvalidURL, u.Redacted())
	}
	return &smtpMailer{u: u, from: from}, nil
}

// logMailer is the embedded default: no mail leaves the machine; the link is
// in the log for whoever runs the server.
type logMailer struct{ log *slog.Logger }

func (m logMailer) Send(_ context.Context, msg Message) error {
	m.log.Info("email not sent (no SMTP_URL configured); its link follows", "to", msg.To, "subject", msg.Subject, "link", msg.Link)
	return nil
}

type smtpMailer struct {
	u    *url.URL
	from string
}

func (m *smtpMailer) Send(ctx context.Context, msg Message) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	host := m.u.Hostname()
	conn, err := m.dial(ctx)
	if err != nil {
		return fmt.Errorf("smtp dial: %w", err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp hello: %w", err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok && m.u.Scheme == "smtp" {
		if err := c.StartTLS(&tls.Config{ServerName: host}); err != nil {
			return fmt.Errorf("smtp starttls: %w", err)
		}
	}
	if user := m.u.User; user != nil {
		pass, _ := user.Password()
		if err := c.Auth(smtp.PlainAuth("", user.Username(), pass, host)); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	if err := m.deliver(c, msg); err != nil {
		return err
	}
	return c.Quit()
}

// dial connects to the server: with TLS from the start for smtps.
func (m *smtpMailer) dial(ctx context.Context) (net.Conn, error) {
	port := m.u.Port()
	if port == "" {
		port = map[string]string{"smtp": "587", "smtps": "465"}[m.u.Scheme]
	}
	addr := net.JoinHostPort(m.u.Hostname(), port)
	dialer := &net.Dialer{}
	if m.u.Scheme == "smtps" {
		return (&tls.Dialer{NetDialer: dialer, Config: &tls.Config{ServerName: m.u.Hostname()}}).DialContext(ctx, "tcp", addr)
	}
	return dialer.DialContext(ctx, "tcp", addr)
}

// deliver sends the envelope and the message over a ready connection.
func (m *smtpMailer) deliver(c *smtp.Client, msg Message) error {
	envelopeFrom := m.from
	if a, err := netmail.ParseAddress(m.from); err == nil {
		envelopeFrom = a.Address // MAIL FROM takes the bare address, not "Name <address>"
	}
	if err := c.Mail(envelopeFrom); err != nil {
		return fmt.Errorf("smtp MAIL FROM: %w", err)
	}
	if err := c.Rcpt(msg.To); err != nil {
		return fmt.Errorf("smtp RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if _, err := w.Write(formatMessage(m.from, msg)); err != nil {
		return fmt.Errorf("smtp write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp end of data: %w", err)
	}
	return nil
}

// formatMessage renders RFC 5322 headers and a plain-text body with CRLF
// line ends.
func formatMessage(from string, msg Message) []byte {
	var b strings.Builder
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", from)
	header("To", msg.To)
	header("Subject", mime.QEncoding.Encode("utf-8", msg.Subject))
	header("Date", time.Now().UTC().Format(time.RFC1123Z))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	body := strings.ReplaceAll(msg.Body, "\r\n", "\n")
	for _, line := range strings.Split(body, "\n") {
		b.WriteString(line + "\r\n") // net/smtp's data writer does the dot-stuffing
	}
	return []byte(b.String())
}
