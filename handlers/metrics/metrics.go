// Package metrics is what a replica tells Prometheus: its requests by route,
// the database pool, rate-limit decisions, usage events, sign-in and SSO
// outcomes, and the Go runtime. It is served on a listener of its own
// (SWITCHBOARD_METRICS_ADDR), never on the public port.
package metrics

import (
	"database/sql"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "switchboard"

// Registry holds one process's metrics. Its methods are safe for
// concurrent use; a nil *Registry records nothing.
type Registry struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	inFlight  prometheus.Gauge
	rateLimit *prometheus.CounterVec
	signIns   *prometheus.CounterVec
	sso       *prometheus.CounterVec
}

// New makes a registry with the Go runtime and process collectors.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	r.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "http_requests_total",
		Help: "HTTP requests answered, by route template, method and status class.",
	}, []string{"route", "method", "code"})
	r.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by route template and method.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "method"})
	r.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "http_requests_in_flight",
		Help: "HTTP requests being answered now.",
	})
	r.rateLimit = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "rate_limit_decisions_total",
		Help: "API rate-limit decisions, by outcome (allowed, limited, error).",
	}, []string{"outcome"})
	r.signIns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "sign_ins_total",
		Help: "Password sign-in attempts, by outcome.",
	}, []string{"outcome"})
	r.sso = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "sso_assertions_total",
		Help: "SAML responses received, by outcome.",
	}, []string{"outcome"})
	r.reg.MustRegister(r.requests, r.latency, r.inFlight, r.rateLimit, r.signIns, r.sso,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// WatchDB reports the database pool's statistics.
func (r *Registry) WatchDB(db *sql.DB) {
	r.reg.MustRegister(collectors.NewDBStatsCollector(db, namespace))
}

// WatchStatements reports how many SQL statements the process has run (as
// the benchmarks count them: transaction control and the walls' settings
// not included), read from count at each scrape.
func (r *Registry) WatchStatements(count func() int64) {
	r.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Name: "sql_statements_total",
		Help: "SQL statements run (transaction control and the row-security settings not included)."},
		func() float64 { return float64(count()) }))
}

// UsageStats are a usage recorder's counters since it was made.
type UsageStats struct{ Queued, Written, Dropped, Pending int64 }

// WatchUsage reports the usage recorder's events, read from stats at each
// scrape.
func (r *Registry) WatchUsage(stats func() UsageStats) {
	counter := func(name, help string, read func(UsageStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help},
			func() float64 { return float64(read(stats())) })
	}
	r.reg.MustRegister(
		counter("usage_events_queued_total", "API usage events taken to be written.", func(s UsageStats) int64 { return s.Queued }),
		counter("usage_events_written_total", "API usage events written to the database.", func(s UsageStats) int64 { return s.Written }),
		counter("usage_events_dropped_total", "API usage events given up (a full queue, a long outage).", func(s UsageStats) int64 { return s.Dropped }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "usage_events_pending",
			Help: "API usage events waiting for the next batch."}, func() float64 { return float64(stats().Pending) }),
	)
}

// KeyCacheStats are the scope cache's state and counters: API keys'
// scopes and users' memberships.
type KeyCacheStats struct {
	Live                             bool
	Hits, Misses, Flushes            int64
	MembershipHits, MembershipMisses int64
	SessionHits, SessionMisses       int64
	// Kept pages of lists (tenancy.Kept).
	KeptHits, KeptMisses, KeptForgets int64
}

// WatchKeyCache reports the scope cache, read from stats at each scrape.
func (r *Registry) WatchKeyCache(stats func() KeyCacheStats) {
	counter := func(name, help string, read func(KeyCacheStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help},
			func() float64 { return float64(read(stats())) })
	}
	r.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "api_key_cache_live",
			Help: "1 while the API key cache hears the database's change notifications and answers; 0 while every key is read from the database."},
			func() float64 {
				if stats().Live {
					return 1
				}
				return 0
			}),
		counter("api_key_cache_hits_total", "API keys answered from the key cache.", func(s KeyCacheStats) int64 { return s.Hits }),
		counter("api_key_cache_misses_total", "API keys the live key cache did not hold, read from the database.", func(s KeyCacheStats) int64 { return s.Misses }),
		counter("api_key_cache_flushes_total", "Times the key cache forgot every key and membership: a change to what they are read from, or its channel reconnecting.", func(s KeyCacheStats) int64 { return s.Flushes }),
		counter("memberships_cache_hits_total", "Users' memberships (a page's check of its account) answered from the cache.", func(s KeyCacheStats) int64 { return s.MembershipHits }),
		counter("sessions_cache_hits_total", "Signed-in sessions, with their users, answered from the cache.", func(s KeyCacheStats) int64 { return s.SessionHits }),
		counter("sessions_cache_misses_total", "Sessions the live cache did not hold, read from the database.", func(s KeyCacheStats) int64 { return s.SessionMisses }),
		counter("memberships_cache_misses_total", "Users' memberships the live cache did not hold, read from the database.", func(s KeyCacheStats) int64 { return s.MembershipMisses }),
		counter("kept_lists_hits_total", "Pages of lists (members, indexes) answered from memory.", func(s KeyCacheStats) int64 { return s.KeptHits }),
		counter("kept_lists_misses_total", "Pages of lists the live cache did not hold, read from the database.", func(s KeyCacheStats) int64 { return s.KeptMisses }),
		counter("kept_lists_forgets_total", "Times one account's kept pages, or every account's, were forgotten on news of their rows (a flush of the scope cache forgets them too).", func(s KeyCacheStats) int64 { return s.KeptForgets }),
	)
}

// Handler serves the metrics in Prometheus's text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}

// Middleware counts and times every request by its route template (never
// the raw path, whose IDs would make a series per resource).
func (r *Registry) Middleware(next echo.HandlerFunc) echo.HandlerFunc {
	if r == nil {
		return next
	}
	return func(c echo.Context) error {
		r.inFlight.Inc()
		start := time.Now()
		err := next(c)
		if err != nil {
			// The error handler writes the status; let it run first.
			c.Error(err)
		}
		r.inFlight.Dec()
		route := c.Path()
		if route == "" || c.Response().Status == http.StatusNotFound && route == "/*" {
			route = "unmatched"
		}
		method := c.Request().Method
		r.requests.WithLabelValues(route, method, strconv.Itoa(c.Response().Status/100)+"xx").Inc()
		r.latency.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
		return nil
	}
}

// RateLimit counts one API rate-limit decision: "allowed", "limited" or
// "error".
func (r *Registry) RateLimit(outcome string) {
	if r != nil {
		r.rateLimit.WithLabelValues(outcome).Inc()
	}
}

// SignIn counts one password sign-in attempt by outcome, e.g. "success",
// "bad_credentials", "throttled".
func (r *Registry) SignIn(outcome string) {
	if r != nil {
		r.signIns.WithLabelValues(outcome).Inc()
	}
}

// SSO counts one SAML response by outcome: "success" or "refused".
func (r *Registry) SSO(outcome string) {
	if r != nil {
		r.sso.WithLabelValues(outcome).Inc()
	}
}
