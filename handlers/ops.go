package handlers

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"switchboard/models/tenancy"
)

// Readiness says whether this replica should be sent traffic. It stops
// being ready when it begins to drain (SIGTERM), so that the balancer moves
// away while the requests it still sends are served.
type Readiness struct {
	draining atomic.Bool
	warming  atomic.Bool
	// Redis answers when the deployment counts rate limits in Redis; nil
	// when it does not. Redis down does not make a replica unready: rate
	// limits and throttles fall back to the database, and taking every
	// replica out of the balancer at once would stop the whole service.
	// /readyz says so in its body, for operators.
	Redis func(ctx context.Context) error
}

// BeginDrain turns the replica not ready, for good.
func (r *Readiness) BeginDrain() { r.draining.Store(true) }

// Draining reports whether BeginDrain was called.
func (r *Readiness) Draining() bool { return r.draining.Load() }

// SetWarming says whether the replica is still opening its database
// connections at start (tenancy.WarmUp): until it has, it is not ready, so
// that the balancer does not send it a burst to meet cold.
func (r *Readiness) SetWarming(on bool) { r.warming.Store(on) }

// Health answers 200 while the process is alive: a replica whose database
// is down is still alive, and restarting it would not help.
func (d *deps) Health(c echo.Context) error {
	return c.String(http.StatusOK, "ok\n")
}

// redisProbeTimeout bounds /readyz's question to Redis.
const redisProbeTimeout = 250 * time.Millisecond

// Ready answers 200 when this replica can serve: not draining, its
// database connections opened at start, and its database answers and has
// every migration; 503 with the reason otherwise. When Redis is configured
// and does not answer, it is still ready (the database counts instead) and
// says so.
func (d *deps) Ready(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	notReady := func(reason string) error {
		return c.String(http.StatusServiceUnavailable, reason+"\n")
	}
	r := d.cfg.Readiness
	if r.Draining() {
		return notReady("draining")
	}
	if r.warming.Load() {
		return notReady("opening database connections")
	}
	ctx := c.Request().Context()
	if err := tenancy.Ping(ctx, d.db); err != nil {
		return notReady("database unavailable")
	}
	if ok, err := tenancy.MigrationsApplied(ctx, d.db); err != nil || !ok {
		return notReady("migrations pending")
	}
	if r.Redis != nil {
		// Bounded well inside the balancer's check (a second): a Redis that
		// does not answer (its client dials again for about a second) must
		// not make the replica look down.
		redisCtx, cancel := context.WithTimeout(ctx, redisProbeTimeout)
		defer cancel()
		if err := r.Redis(redisCtx); err != nil {
			return c.String(http.StatusOK, "ready; redis unavailable: rate limits and sign-in throttles are counted in the database\n")
		}
	}
	return c.String(http.StatusOK, "ready\n")
}
