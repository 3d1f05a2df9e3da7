// Package handlers holds Switchboard's echo handlers and middleware: parse
// the request, call models, render views. router.go lists every route and
// the middleware order.
package handlers

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"switchboard/handlers/mail"
	"switchboard/handlers/metrics"
	"switchboard/models"
	"switchboard/models/ratelimit"
	"switchboard/models/throttle"
	"switchboard/models/usage"
)

// Config is what the handlers need to know about their deployment.
type Config struct {
	// BaseURL is the dashboard's public URL, e.g. https://switchboard.example.com;
	// links in emails start with it and cookies are Secure when it is https.
	BaseURL string
	// SessionKey signs session cookies (at least 32 bytes).
	SessionKey []byte
	// Sessions bounds how long a sign-in lasts.
	Sessions models.SessionLifetime
	// Dev shows error internals on error pages.
	Dev bool
	// APIKeyTTL is how long API keys work (DefaultAPIKeyTTL when zero).
	APIKeyTTL time.Duration
	// RateLimiter counts API requests (the database when nil).
	RateLimiter ratelimit.RateLimiter
	// Throttle counts sign-in attempts and emailed links, for every server
	// of the deployment (the database when nil).
	Throttle throttle.Throttle
	// Clock is the time the throttles count in (time.Now when nil).
	Clock func() time.Time
	// Usage batches the usage of API requests; the caller runs it. One that
	// is never run is created when nil.
	Usage *usage.UsageRecorder
	// AllowPrivateMetadataHosts lets SSO metadata be fetched from private
	// addresses and over http: for tests only.
	AllowPrivateMetadataHosts bool
	// DNSServer (host:port) answers the DNS TXT look-ups that prove SSO
	// domains; the system resolver when empty.
	DNSServer string
	// LookupTXT resolves DNS TXT records to prove SSO domains; when nil,
	// the resolver DNSServer names.
	LookupTXT func(ctx context.Context, name string) ([]string, error)
	// Readiness is what /readyz reports; the server command drains it on
	// SIGTERM. Always ready (while the database is) when nil.
	Readiness *Readiness
	// Metrics counts requests and outcomes; nothing is counted when nil.
	Metrics *metrics.Registry
	// RequestLog says how requests are logged (ParseRequestLog); the zero
	// value logs every request at info.
	RequestLog RequestLog
}

// DefaultSessionLifetime: a week without activity, or 30 days in all.
var DefaultSessionLifetime = models.SessionLifetime{Idle: 7 * 24 * time.Hour, Absolute: 30 * 24 * time.Hour}

func (c Config) secure() bool { return strings.HasPrefix(c.BaseURL, "https://") }

// link makes an absolute URL of a path for emails and logs.
func (c Config) link(path string) string { return strings.TrimRight(c.BaseURL, "/") + path }

// deps are what every area's handlers share.
type deps struct {
	db    *gorm.DB
	cfg   Config
	store *dbStore
	mail  mail.Mailer
	log   *slog.Logger
	csrf  echo.MiddlewareFunc
	// requests counts requests, for the sampled request log.
	requests *atomic.Int64
	// box seals second-factor secrets with a key derived from SessionKey.
	box models.SecretBox
	// passkeys is the dashboard as a WebAuthn relying party; nil when its
	// public URL cannot be one (passkeysOff says why).
	passkeys    *models.PasskeyRP
	passkeysOff string
}
