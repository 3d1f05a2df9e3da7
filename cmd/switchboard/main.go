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
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"switchboard/handlers"
	"switchboard/models/tenancy"
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
	// MetricsAddr is where Prometheus metrics are served; never on Addr.
	// Off when empty.
	MetricsAddr string
	// Profiling serves Go's profiles (net/http/pprof) under /debug/pprof/
	// on the metrics listener, for measuring a server under load. Off by
	// default: a CPU profile costs CPU, and the listener may be reachable
	// by more than the operator.
	Profiling bool
	// Drain is how long a replica keeps serving after SIGTERM, not ready,
	// so that the balancer moves away before it stops.
	Drain time.Duration
	// DBConns is how many PostgreSQL connections serve requests.
	DBConns int
	// RequestLog is how request lines are logged (SWITCHBOARD_REQUEST_LOG).
	RequestLog handlers.RequestLog
}

func main() {
	log, err := newLogger(os.Stdout, env("SWITCHBOARD_LOG_FORMAT", "text"), env("SWITCHBOARD_LOG_LEVEL", "info"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "switchboard:", err)
		os.Exit(2)
	}
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

// newLogger writes structured lines to w: format "text" or "json", at
// level debug, info, warn or error.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("SWITCHBOARD_LOG_LEVEL must be debug, info, warn or error, got %q", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("SWITCHBOARD_LOG_FORMAT must be text or json, got %q", format)
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
	cfg.MetricsAddr = env("SWITCHBOARD_METRICS_ADDR", "")
	if cfg.Profiling, err = strconv.ParseBool(env("SWITCHBOARD_PPROF", "false")); err != nil {
		return cfg, fmt.Errorf("SWITCHBOARD_PPROF must be true or false, got %q", env("SWITCHBOARD_PPROF", ""))
	}
	if cfg.RequestLog, err = handlers.ParseRequestLog(env("SWITCHBOARD_REQUEST_LOG", "info")); err != nil {
		return cfg, err
	}
	if cfg.DBConns, err = strconv.Atoi(env("SWITCHBOARD_DB_CONNS", strconv.Itoa(tenancy.DefaultConns()))); err != nil || cfg.DBConns < 2 {
		return cfg, fmt.Errorf("SWITCHBOARD_DB_CONNS must be a number of connections (2 or more), got %q", env("SWITCHBOARD_DB_CONNS", ""))
	}
	if cfg.Drain, err = time.ParseDuration(env("SWITCHBOARD_DRAIN", "10s")); err != nil || cfg.Drain < 0 {
		return cfg, fmt.Errorf("SWITCHBOARD_DRAIN must be a duration such as 10s, got %q", env("SWITCHBOARD_DRAIN", ""))
	}
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
		fs.StringVar(&cfg.MetricsAddr, "metrics-addr", cfg.MetricsAddr, "address to serve Prometheus metrics on, e.g. 127.0.0.1:9090; off when empty (SWITCHBOARD_METRICS_ADDR)")
		fs.BoolVar(&cfg.Profiling, "pprof", cfg.Profiling, "serve Go's profiles under /debug/pprof/ on the metrics listener (SWITCHBOARD_PPROF)")
		fs.IntVar(&cfg.DBConns, "db-conns", cfg.DBConns, "PostgreSQL connections for requests; the system's pool keeps half as many (SWITCHBOARD_DB_CONNS)")
		fs.DurationVar(&cfg.Drain, "drain", cfg.Drain, "how long to keep serving, not ready, after SIGTERM (SWITCHBOARD_DRAIN)")
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
	db, err := tenancy.OpenWithConns(cfg.DatabaseURL, cfg.DBConns)
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
