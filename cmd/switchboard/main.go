// Command switchboard runs the Switchboard dashboard.
//
//	switchboard [serve] [flags]   run the dashboard (the default)
//	switchboard migrate           apply database migrations and exit
//	switchboard limits set -account ID|SLUG [-per-minute N] [-per-day N]
//	                              give an account its own API limits (Enterprise)
//	switchboard sso verify-domain -account ID|SLUG -domain D
//	                              prove an organization's SSO domain without DNS
//	switchboard billing close -month YYYY-MM
//	                              close a month that has ended into invoices
//
// Configuration comes from the environment; every variable is also a flag of
// serve (flags win). See README.md.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gorm.io/gorm"

	"switchboard/handlers"
	"switchboard/handlers/mail"
	"switchboard/models"
	"switchboard/models/billing"
	"switchboard/models/demo"
	"switchboard/models/ratelimit"
	"switchboard/models/sso"
	"switchboard/models/tenancy"
	"switchboard/models/throttle"
	"switchboard/models/usage"
)

// config is everything the process reads from its environment and flags.
type config struct {
	DatabaseURL string
	DataDir     string
	Addr        string
	BaseURL     string
	SessionKey  string
	Demo        string // "true", "false" or "" (on for the embedded default)
	SMTPURL     string
	MailFrom    string
	Dev         bool
	RedisURL    string
	// RedisNamespace separates this deployment's rate-limit and throttle
	// counters from those of others sharing the Redis database (default:
	// the base URL's host, which every server of a deployment shares).
	RedisNamespace string
	APIKeyDays     int
	// DNSServer (host:port) answers the TXT look-ups that prove SSO
	// domains instead of the system resolver.
	DNSServer string
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))
	slog.SetDefault(log)
	if err := run(context.Background(), os.Args[1:], log); err != nil {
		log.Error("switchboard stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, log *slog.Logger) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	cfg, err := parseConfig(cmd, args)
	if err != nil {
		return err
	}
	switch cmd {
	case "serve":
		return serve(ctx, cfg, log)
	case "migrate":
		db, err := openDB(ctx, cfg, log)
		if err != nil {
			return err
		}
		log.Info("migrations applied")
		return closeDB(db)
	case "limits":
		return setLimits(ctx, cfg, args, log)
	case "billing":
		return billingCommand(ctx, cfg, args, log)
	case "sso":
		return ssoCommand(ctx, cfg, args, log)
	default:
		return fmt.Errorf("unknown command %q (want serve, migrate, limits, billing or sso)", cmd)
	}
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// parseConfig reads the environment, then the command's flags over it.
func parseConfig(cmd string, args []string) (config, error) {
	cfg := config{
		DatabaseURL: env("DATABASE_URL", ""),
		DataDir:     env("SWITCHBOARD_DATA_DIR", "./data"),
		Addr:        env("SWITCHBOARD_ADDR", "127.0.0.1:8080"),
		BaseURL:     env("SWITCHBOARD_BASE_URL", ""),
		SessionKey:  env("SWITCHBOARD_SESSION_KEY", ""),
		Demo:        env("SWITCHBOARD_DEMO", ""),
		SMTPURL:     env("SMTP_URL", ""),
		MailFrom:    env("SWITCHBOARD_MAIL_FROM", "Switchboard <no-reply@switchboard.localhost>"),
	}
	cfg.Dev, _ = strconv.ParseBool(env("SWITCHBOARD_DEV", "false"))
	cfg.RedisURL = env("REDIS_URL", "")
	cfg.RedisNamespace = env("REDIS_NAMESPACE", "")
	cfg.DNSServer = env("SWITCHBOARD_DNS_SERVER", "")
	days, err := strconv.Atoi(env("SWITCHBOARD_API_KEY_DAYS", "90"))
	if err != nil || days < 1 {
		return cfg, fmt.Errorf("SWITCHBOARD_API_KEY_DAYS must be a number of days, got %q", env("SWITCHBOARD_API_KEY_DAYS", ""))
	}
	cfg.APIKeyDays = days
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.StringVar(&cfg.DatabaseURL, "database-url", cfg.DatabaseURL, "postgres:// URL or SQLite file (DATABASE_URL; default switchboard.db in the data folder)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "folder for the SQLite database and generated keys (SWITCHBOARD_DATA_DIR)")
	if cmd == "serve" {
		fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "address to listen on (SWITCHBOARD_ADDR)")
		fs.StringVar(&cfg.BaseURL, "base-url", cfg.BaseURL, "public URL of the dashboard (SWITCHBOARD_BASE_URL; default http://ADDR)")
		fs.StringVar(&cfg.SessionKey, "session-key", cfg.SessionKey, "secret that signs session cookies, 32+ characters (SWITCHBOARD_SESSION_KEY; generated in the data folder on SQLite)")
		fs.StringVar(&cfg.Demo, "demo", cfg.Demo, "seed a demo into an empty database: true or false (SWITCHBOARD_DEMO; default true on SQLite)")
		fs.StringVar(&cfg.SMTPURL, "smtp-url", cfg.SMTPURL, "smtp://user:pass@host:587 to send email; unset writes links to the log (SMTP_URL)")
		fs.StringVar(&cfg.MailFrom, "mail-from", cfg.MailFrom, "From address of emails (SWITCHBOARD_MAIL_FROM)")
		fs.BoolVar(&cfg.Dev, "dev", cfg.Dev, "show error details on error pages (SWITCHBOARD_DEV)")
		fs.StringVar(&cfg.RedisURL, "redis-url", cfg.RedisURL, "redis:// URL to keep API rate-limit and sign-in throttle counters in Redis instead of the database (REDIS_URL)")
		fs.StringVar(&cfg.RedisNamespace, "redis-namespace", cfg.RedisNamespace, "prefix of this deployment's counters in Redis, shared by all its servers (REDIS_NAMESPACE; default the base URL's host)")
		fs.StringVar(&cfg.DNSServer, "dns-server", cfg.DNSServer, "host:port of the DNS server that proves SSO domains (SWITCHBOARD_DNS_SERVER; default the system resolver)")
		fs.IntVar(&cfg.APIKeyDays, "api-key-days", cfg.APIKeyDays, "days an API key works after it is created or regenerated (SWITCHBOARD_API_KEY_DAYS)")
	}
	if cmd != "limits" && cmd != "billing" && cmd != "sso" { // these have a verb and flags of their own
		if err := fs.Parse(args); err != nil {
			return cfg, err
		}
	}
	if cfg.DatabaseURL == "" {
		cfg.DatabaseURL = filepath.Join(cfg.DataDir, "switchboard.db")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "http://" + cfg.Addr
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.RedisNamespace == "" {
		if u, err := url.Parse(cfg.BaseURL); err == nil && u.Host != "" {
			cfg.RedisNamespace = u.Host
		}
	}
	return cfg, nil
}

func embedded(cfg config) bool { return tenancy.DialectOf(cfg.DatabaseURL) == tenancy.SQLite }

// openDB connects and migrates.
func openDB(ctx context.Context, cfg config, log *slog.Logger) (*gorm.DB, error) {
	if embedded(cfg) {
		if err := os.MkdirAll(filepath.Dir(cfg.DatabaseURL), 0o700); err != nil {
			return nil, err
		}
	}
	db, err := tenancy.Open(cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if err := tenancy.Migrate(ctx, db); err != nil {
		_ = closeDB(db)
		return nil, err
	}
	return db, nil
}

func closeDB(db *gorm.DB) error { return tenancy.Close(db) }

// describeDB names the database for the log without its password.
func describeDB(cfg config) string {
	if !embedded(cfg) {
		return "postgres " + redact(cfg.DatabaseURL)
	}
	abs, err := filepath.Abs(cfg.DatabaseURL)
	if err != nil {
		abs = cfg.DatabaseURL
	}
	return "sqlite " + abs
}

func redact(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	scheme := strings.Index(dsn, "://")
	if at < 0 || scheme < 0 {
		return dsn
	}
	creds := dsn[scheme+3 : at]
	if i := strings.IndexByte(creds, ':'); i >= 0 {
		return dsn[:scheme+3] + creds[:i] + ":***" + dsn[at:]
	}
	return dsn
}

// sessionKey returns the configured key, or on the embedded default one
// generated once and kept in the data folder.
func sessionKey(cfg config) ([]byte, error) {
	if cfg.SessionKey != "" {
		if len(cfg.SessionKey) < 32 {
			return nil, errors.New("SWITCHBOARD_SESSION_KEY must be at least 32 characters")
		}
		return []byte(cfg.SessionKey), nil
	}
	if !embedded(cfg) {
		return nil, errors.New("SWITCHBOARD_SESSION_KEY is required with PostgreSQL (32+ random characters, the same on every server)")
	}
	path := filepath.Join(cfg.DataDir, "session.key")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	key := hex.EncodeToString(raw)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return nil, err
	}
	return []byte(key), nil
}

func serve(ctx context.Context, cfg config, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	log.Info("Switchboard starting", "url", cfg.BaseURL, "database", describeDB(cfg))
	key, err := sessionKey(cfg)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeDB(db)

	seedDemo := cfg.Demo == "true" || (cfg.Demo == "" && embedded(cfg))
	if seedDemo {
		d, seeded, err := demo.SeedDemo(ctx, db)
		if err != nil {
			return fmt.Errorf("seed demo: %w", err)
		}
		if seeded {
			log.Info("Demo sign-in: " + d.Email + " / " + d.Password)
		} else {
			log.Info("demo not seeded: the database already has users (a demo password was printed at its first start; use \"Forgot your password?\" to set a new one)")
		}
	}

	mailer, err := mail.New(cfg.SMTPURL, cfg.MailFrom, log)
	if err != nil {
		return err
	}
	// Sign-in throttles are counted where the API rate limits are.
	var limiter ratelimit.RateLimiter = ratelimit.NewDBRateLimiter(db)
	var signIns throttle.Throttle = throttle.NewDBThrottle(db, key)
	if cfg.RedisURL != "" {
		redisLimiter, err := ratelimit.NewRedisRateLimiter(ctx, cfg.RedisURL, cfg.RedisNamespace)
		if err != nil {
			return err
		}
		defer redisLimiter.Client.Close()
		redisThrottle, err := throttle.NewRedisThrottle(redisLimiter.Client, cfg.RedisNamespace, key)
		if err != nil {
			return err
		}
		limiter, signIns = redisLimiter, redisThrottle
		log.Info("API rate limits and sign-in throttles are counted in Redis", "namespace", cfg.RedisNamespace)
	}
	recorder := usage.NewUsageRecorder(db, log, 2*time.Second)
	usageCtx, stopUsage := context.WithCancel(ctx)
	usageDone := make(chan struct{})
	go func() { recorder.Run(usageCtx); close(usageDone) }()
	defer func() { stopUsage(); <-usageDone }() // the last batch is written before the database closes
	router := handlers.New(handlers.Config{
		BaseURL:     cfg.BaseURL,
		SessionKey:  key,
		Sessions:    handlers.DefaultSessionLifetime,
		Dev:         cfg.Dev,
		APIKeyTTL:   time.Duration(cfg.APIKeyDays) * 24 * time.Hour,
		RateLimiter: limiter,
		Throttle:    signIns,
		Usage:       recorder,
		DNSServer:   cfg.DNSServer,
	}, db, log, mailer)

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           router,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	go sweepSessions(ctx, db, log)
	go billingLoop(ctx, db, log)
	log.Info("Switchboard is ready: open "+cfg.BaseURL, "addr", ln.Addr().String())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// sweepSessions deletes expired sessions, and throttle budgets that are
// full again (in the database; Redis expires its own), every hour.
func sweepSessions(ctx context.Context, db *gorm.DB, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if err := sso.DeleteExpiredSSOState(ctx, db); err != nil && ctx.Err() == nil {
			log.Warn("sweeping expired SSO requests failed", "err", err)
		}
		if _, err := throttle.DeleteFullThrottleBuckets(ctx, db, time.Now()); err != nil && ctx.Err() == nil {
			log.Warn("sweeping throttle counters failed", "err", err)
		}
		if n, err := models.DeleteExpiredSessions(ctx, db, handlers.DefaultSessionLifetime); err != nil {
			if ctx.Err() == nil {
				log.Warn("sweeping expired sessions failed", "err", err)
			}
		} else if n > 0 {
			log.Info("expired sessions deleted", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// setLimits is `switchboard limits set`: an operator gives an account its
// own API limits, as Enterprise agreements do. A limit left out (or -1)
// goes back to the plan's.
func setLimits(ctx context.Context, cfg config, args []string, log *slog.Logger) error {
	if len(args) == 0 || args[0] != "set" {
		return errors.New("usage: switchboard limits set -account ID|SLUG [-per-minute N] [-per-day N]")
	}
	fs := flag.NewFlagSet("limits set", flag.ContinueOnError)
	account := fs.String("account", "", "the account's public ID or slug")
	perMinute := fs.Int64("per-minute", -1, "requests per minute (-1: the plan's)")
	perDay := fs.Int64("per-day", -1, "requests per day (-1: the plan's)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *account == "" {
		return errors.New("-account is required")
	}
	opt := func(v int64) *int64 {
		if v < 0 {
			return nil
		}
		return &v
	}
	db, err := openDB(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeDB(db)
	acct, err := ratelimit.SetAccountLimits(ctx, db, *account, opt(*perMinute), opt(*perDay))
	if err != nil {
		return fmt.Errorf("account %q: %w", *account, err)
	}
	l := ratelimit.LimitsOf(acct)
	log.Info("limits set", "account", acct.PublicID, "name", acct.Name, "per_minute", l.PerMinute, "per_day", l.PerDay)
	return nil
}

// ssoCommand is `switchboard sso verify-domain -account ID|SLUG -domain D`:
// a self-hosted operator proves an organization's domain without DNS.
func ssoCommand(ctx context.Context, cfg config, args []string, log *slog.Logger) error {
	const usage = "usage: switchboard sso verify-domain -account ID|SLUG -domain DOMAIN"
	if len(args) == 0 || args[0] != "verify-domain" {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("sso verify-domain", flag.ContinueOnError)
	account := fs.String("account", "", "the organization's public ID or slug")
	domain := fs.String("domain", "", "a domain the organization listed in its single sign-on settings")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *account == "" || *domain == "" {
		return errors.New(usage)
	}
	db, err := openDB(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeDB(db)
	acct, err := sso.ProveSSODomainByOperator(ctx, db, *account, *domain, "switchboard sso verify-domain")
	if err != nil {
		return fmt.Errorf("account %q: %w", *account, err)
	}
	log.Info("domain proved", "account", acct.PublicID, "name", acct.Name, "domain", *domain)
	return nil
}

// billingCommand is `switchboard billing close -month YYYY-MM`.
func billingCommand(ctx context.Context, cfg config, args []string, log *slog.Logger) error {
	if len(args) == 0 || args[0] != "close" {
		return errors.New("usage: switchboard billing close -month YYYY-MM")
	}
	fs := flag.NewFlagSet("billing close", flag.ContinueOnError)
	month := fs.String("month", "", "the month to close, e.g. 2026-10 (it must have ended)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	m, err := billing.ParseMonth(*month)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeDB(db)
	if err := billing.SnapshotStorage(ctx, db, time.Now()); err != nil {
		return err
	}
	created, err := billing.CloseMonth(ctx, db, m, time.Now())
	if err != nil {
		return err
	}
	log.Info("month closed", "month", m.String(), "invoices_created", created)
	return nil
}

// billingLoop snapshots the video each member holds every hour (the day's
// last snapshot is what storage bills), and closes every ended month of the
// last year into invoices at start-up and then daily. Closing is
// idempotent, so several servers may all do it.
func billingLoop(ctx context.Context, db *gorm.DB, log *slog.Logger) {
	lastClose := time.Time{}
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		now := time.Now().UTC()
		if err := billing.SnapshotStorage(ctx, db, now); err != nil && ctx.Err() == nil {
			log.Warn("storage snapshot failed", "err", err)
		}
		if now.Sub(lastClose) >= 24*time.Hour {
			total := 0
			for m, i := billing.MonthOf(now).Prev(), 0; i < 12; m, i = m.Prev(), i+1 {
				n, err := billing.CloseMonth(ctx, db, m, now)
				if err != nil {
					if ctx.Err() == nil {
						log.Warn("closing a month failed; will retry", "month", m.String(), "err", err)
					}
					break
				}
				total += n
			}
			lastClose = now
			if total > 0 {
				log.Info("past months closed into invoices", "invoices_created", total)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
