package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"gorm.io/gorm"

	"switchboard/handlers"
	"switchboard/handlers/mail"
	"switchboard/handlers/metrics"
	"switchboard/models"
	"switchboard/models/billing"
	"switchboard/models/demo"
	"switchboard/models/ratelimit"
	"switchboard/models/sso"
	"switchboard/models/tenancy"
	"switchboard/models/throttle"
	"switchboard/models/usage"
)

// serve: the dashboard, its metrics listener, the drain on SIGTERM and the
// background jobs.

func serve(ctx context.Context, cfg config, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	log.Info("Switchboard starting", "url", cfg.BaseURL, "database", describeDB(cfg))
	collectGarbageLessOften()
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
	limiter, signIns, ready, closeRedis, err := counters(ctx, cfg, db, key, log)
	if err != nil {
		return err
	}
	defer closeRedis()
	// The recorder outlives the signal and the server: usage is recorded as
	// each request is answered, so its last batch is written after listen
	// has finished the requests in flight, and before the database closes.
	recorder := usage.NewUsageRecorder(db, log, 2*time.Second)
	usageCtx, stopUsage := context.WithCancel(context.WithoutCancel(ctx))
	usageDone := make(chan struct{})
	go func() { recorder.Run(usageCtx); close(usageDone) }()
	defer func() { stopUsage(); <-usageDone; log.Info("usage flushed") }()
	reg, err := newMetrics(db, recorder)
	if err != nil {
		return err
	}
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
		Readiness:   ready,
		Metrics:     reg,
		RequestLog:  cfg.RequestLog,
	}, db, log, mailer)
	if cfg.MetricsAddr != "" {
		stopMetrics, err := serveMetrics(cfg.MetricsAddr, reg, cfg.Profiling, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	ready.SetWarming(true)
	go func() {
		// Bounded: a database slow to accept connections must not keep
		// the replica out of the balancer for long.
		warmCtx, cancel := context.WithTimeout(ctx, warmUpLimit)
		defer cancel()
		tenancy.WarmUp(warmCtx, db)
		ready.SetWarming(false)
	}()
	go tenancy.WatchKeyScopes(ctx, db, log)
	go sweepSessions(ctx, db, log)
	go billingLoop(ctx, db, log)
	return listen(ctx, cfg, router, ready, log)
}

// warmUpLimit bounds how long a starting server opens its database
// connections before it says it is ready anyway.
const warmUpLimit = 10 * time.Second

// counters picks where API rate limits and sign-in throttles are counted:
// the database, or Redis with the database as its fallback while Redis does
// not answer (when REDIS_URL is set; readiness then also asks Redis).
func counters(ctx context.Context, cfg config, db *gorm.DB, key []byte, log *slog.Logger) (ratelimit.RateLimiter, throttle.Throttle, *handlers.Readiness, func(), error) {
	var limiter ratelimit.RateLimiter = ratelimit.NewDBRateLimiter(db)
	var signIns throttle.Throttle = throttle.NewDBThrottle(db, key)
	ready := &handlers.Readiness{}
	if cfg.RedisURL == "" {
		return limiter, signIns, ready, func() {}, nil
	}
	redisLimiter, err := ratelimit.NewRedisRateLimiter(ctx, cfg.RedisURL, cfg.RedisNamespace)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	redisThrottle, err := throttle.NewRedisThrottle(redisLimiter.Client, cfg.RedisNamespace, key)
	if err != nil {
		redisLimiter.Client.Close()
		return nil, nil, nil, nil, err
	}
	ready.Redis = func(ctx context.Context) error { return redisLimiter.Client.Ping(ctx).Err() }
	log.Info("API rate limits and sign-in throttles are counted in Redis (the database while it does not answer)", "namespace", cfg.RedisNamespace)
	return ratelimit.WithFallback(redisLimiter, limiter, log), throttle.WithFallback(redisThrottle, signIns, log), ready,
		func() { redisLimiter.Client.Close() }, nil
}

// newMetrics registers the process's metrics: requests (by the router),
// the database pool and the usage recorder.
func newMetrics(db *gorm.DB, recorder *usage.UsageRecorder) (*metrics.Registry, error) {
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	reg := metrics.New()
	reg.WatchDB(sqlDB)
	reg.WatchStatements(tenancy.QueryCount)
	reg.WatchKeyCache(func() metrics.KeyCacheStats {
		s := tenancy.KeyCacheStatsOf(db)
		return metrics.KeyCacheStats{Live: s.Live, Hits: s.Hits, Misses: s.Misses, Flushes: s.Flushes,
			MembershipHits: s.MembershipHits, MembershipMisses: s.MembershipMisses, SessionHits: s.SessionHits, SessionMisses: s.SessionMisses,
			KeptHits: s.KeptHits, KeptMisses: s.KeptMisses, KeptForgets: s.KeptForgets}
	})
	reg.WatchUsage(func() metrics.UsageStats {
		s := recorder.Stats()
		return metrics.UsageStats{Queued: s.Queued, Written: s.Written, Dropped: s.Dropped, Pending: s.Pending}
	})
	return reg, nil
}

// gcPercent is how much the heap may grow past what was live before the
// garbage collector runs again; Go's default is 100. A server's live heap is
// small (about 20 MB) while every page allocates a hundred kilobytes or more,
// so at 100 the collector ran every few hundred requests and took a seventh
// of the server's CPU. At 400 the organization home page cost 0.22 ms of CPU
// instead of 0.29 (make bench-http), for 20 MB more memory.
const gcPercent = 400

// collectGarbageLessOften sets gcPercent, unless the operator set GOGC.
func collectGarbageLessOften() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

// serveMetrics serves /metrics on addr, a listener of its own, and Go's
// profiles under /debug/pprof/ when profiling is on.
func serveMetrics(addr string, reg *metrics.Registry, profiling bool, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", reg.Handler())
	if profiling {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("metrics served", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}

// listen serves until ctx ends (SIGTERM), then drains: not ready at once,
// so that the balancer moves away, yet serving every request for
// cfg.Drain; then it stops accepting and finishes the requests in flight.
func listen(ctx context.Context, cfg config, router http.Handler, ready *handlers.Readiness, log *slog.Logger) error {
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
	log.Info("Switchboard is ready: open "+cfg.BaseURL, "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	ready.BeginDrain()
	log.Info("draining: not ready, still serving", "for", cfg.Drain.String())
	select {
	case <-time.After(cfg.Drain):
	case err := <-errc:
		return err
	}
	log.Info("shutting down: finishing the requests in flight")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Keep-alive connections closed from here on must not lose a request
	// the balancer has just sent on them: it retries those (empty-response).
	srv.SetKeepAlivesEnabled(false)
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	log.Info("stopped serving")
	return nil
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
