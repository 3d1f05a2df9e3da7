// Package sitetest runs the real router on a real database behind an
// httptest server, with its log and mail kept for the test to read. The
// handlers' tests and the browser tests share it.
package sitetest

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"switchboard/handlers"
	"switchboard/handlers/mail"
	"switchboard/models/tenancy"
	"switchboard/models/usage"
)

// Site is one running dashboard.
type Site struct {
	URL    string
	Server *httptest.Server
	Echo   *echo.Echo
	Log    *Log
	Usage  *usage.UsageRecorder // flushed by the tests themselves
}

// New starts the router on db, sending mail through mailer, with the
// configuration changed by each of configure. Everything stops when the
// test ends; a failed test prints the server's log.
func New(t testing.TB, db *gorm.DB, mailer mail.Mailer, configure ...func(*handlers.Config)) *Site {
	t.Helper()
	logs := &Log{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// The configuration needs the server's URL, so the handler is set after
	// the start.
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	s := &Site{URL: srv.URL, Server: srv, Log: logs, Usage: usage.NewUsageRecorder(db, log, time.Hour)}
	cfg := handlers.Config{
		BaseURL:    srv.URL,
		SessionKey: []byte("test-session-key-0123456789abcdef0123456789"),
		Sessions:   handlers.DefaultSessionLifetime,
		Usage:      s.Usage,
	}
	for _, f := range configure {
		f(&cfg)
	}
	s.Echo = handlers.New(cfg, db, log, mailer)
	srv.Config.Handler = s.Echo
	// API keys are cached as a server caches them (on PostgreSQL), so that
	// every test of a revocation also tests the cache's news.
	watch, stopWatching := context.WithCancel(context.Background())
	watching := make(chan struct{})
	go func() { tenancy.WatchKeyScopes(watch, db, log); close(watching) }()
	t.Cleanup(func() {
		stopWatching()
		<-watching
		srv.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return s
}

// Log collects a server's log; it is safe for concurrent use.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Len is the log's length so far, to read what comes after.
func (l *Log) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Len()
}

func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Mailbox keeps every message instead of sending it.
type Mailbox struct {
	mu   sync.Mutex
	sent []mail.Message
}

func (m *Mailbox) Send(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, msg)
	return nil
}

// Messages is every message sent so far, oldest first.
func (m *Mailbox) Messages() []mail.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]mail.Message(nil), m.sent...)
}

// Latest is the newest message to an address whose subject contains
// subject.
func (m *Mailbox) Latest(to, subject string) (mail.Message, bool) {
	sent := m.Messages()
	for i := len(sent) - 1; i >= 0; i-- {
		if sent[i].To == to && strings.Contains(sent[i].Subject, subject) {
			return sent[i], true
		}
	}
	return mail.Message{}, false
}

// Last is Latest, failing the test when there is no such message.
func (m *Mailbox) Last(t testing.TB, to, subject string) mail.Message {
	t.Helper()
	msg, ok := m.Latest(to, subject)
	if !ok {
		t.Fatalf("no message to %s about %q (sent: %d)", to, subject, len(m.Messages()))
	}
	return msg
}
