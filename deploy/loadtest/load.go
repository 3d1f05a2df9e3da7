package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// target is one request of the mix.
type target struct {
	path string
	api  bool
}

// mix is what a busy organization does: dashboard pages and API listings.
var mix = []target{
	{"/", false},
	{"/indexes", false},
	{"/settings/members", false},
	{"/settings/usage", false},
	{"/v1.3/indexes", true},
	{"/v1.3/indexes", true},
	{"/v1.3/indexes", true},
	{"/v1.3/indexes?page_limit=5", true},
}

// outcome is one request as the client saw it.
type outcome struct {
	at      time.Duration // since the run began
	latency time.Duration
	status  int // 0: the connection failed
	api     bool
	retry   bool // a Retry-After header came with the answer
	err     string
}

type load struct {
	o      options
	acct   account
	client *http.Client
	start  time.Time

	mu       sync.Mutex
	outcomes []outcome
	// outages are the windows in which PostgreSQL was down, plus a few
	// seconds for the replicas' pools to reconnect.
	outages [][2]time.Duration
}

func newLoad(o options, acct account) *load {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        o.connections,
		MaxIdleConnsPerHost: o.connections,
		MaxConnsPerHost:     o.connections,
		IdleConnTimeout:     90 * time.Second,
	}
	return &load{o: o, acct: acct, start: time.Now(), client: &http.Client{
		Transport:     tr,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (l *load) since() time.Duration { return time.Since(l.start) }

func (l *load) run(ctx context.Context) {
	var wg sync.WaitGroup
	for w := range l.o.connections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []outcome
			for i := w; ctx.Err() == nil; i++ {
				local = append(local, l.do(ctx, mix[i%len(mix)]))
			}
			l.mu.Lock()
			l.outcomes = append(l.outcomes, local...)
			l.mu.Unlock()
		}()
	}
	wg.Wait()
}

func (l *load) do(ctx context.Context, t target) outcome {
	req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, l.acct.base+t.path, nil)
	if t.api {
		req.Header.Set("x-api-key", l.acct.apiKey)
	} else {
		req.Header.Set("Cookie", l.acct.cookie)
	}
	began := time.Now()
	resp, err := l.client.Do(req)
	o := outcome{at: began.Sub(l.start), api: t.api}
	if err != nil {
		o.latency, o.err = time.Since(began), err.Error()
		return o
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	o.latency, o.status, o.retry = time.Since(began), resp.StatusCode, resp.Header.Get("Retry-After") != ""
	return o
}

func (l *load) markOutage(from, to time.Duration) {
	l.mu.Lock()
	l.outages = append(l.outages, [2]time.Duration{from, to})
	l.mu.Unlock()
}

// inOutage reports whether a request that began at and took latency was
// in flight at any time PostgreSQL was down.
func (l *load) inOutage(at, latency time.Duration) bool {
	for _, w := range l.outages {
		if at <= w[1] && at+latency >= w[0] {
			return true
		}
	}
	return false
}

type result struct {
	total, apiServed, outage503 int64
	api5xx                      int64 // API answers 5xx: never recorded as usage
	connErrors, badStatus       int64
	statuses                    map[int]int64
	p50, p90, p99, max          time.Duration
	rate                        float64
	elapsed                     time.Duration // from the start to the last answer
	examples                    []string
	apiRateLimited              int64
}

func (l *load) result() result {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := result{statuses: map[int]int64{}}
	lat := make([]time.Duration, 0, len(l.outcomes))
	var last time.Duration
	for _, o := range l.outcomes {
		r.total++
		if o.api && o.status >= 500 {
			r.api5xx++
		}
		r.statuses[o.status]++
		lat = append(lat, o.latency)
		last = max(last, o.at+o.latency)
		switch {
		case o.status == 0:
			r.connErrors++
			r.example(fmt.Sprintf("at %s: %s", o.at.Round(time.Millisecond), o.err))
		case o.status == http.StatusServiceUnavailable && o.retry && l.inOutage(o.at, o.latency):
			r.outage503++
		case o.status >= 500:
			r.badStatus++
			r.example(fmt.Sprintf("at %s: status %d", o.at.Round(time.Millisecond), o.status))
		case o.api && o.status == http.StatusTooManyRequests:
			r.apiRateLimited++
		case o.status >= 300:
			r.badStatus++
			r.example(fmt.Sprintf("at %s: status %d", o.at.Round(time.Millisecond), o.status))
		case o.api:
			r.apiServed++
		}
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	r.p50, r.p90, r.p99, r.max = pct(0.50), pct(0.90), pct(0.99), pct(1)
	if last > 0 {
		r.rate = float64(r.total) / last.Seconds()
	}
	r.elapsed = last
	return r
}

func (r *result) example(s string) {
	if len(r.examples) < 5 {
		r.examples = append(r.examples, s)
	}
}

func (r result) print(o options) {
	fmt.Printf("requests: %d in %s, %.0f req/s; latency p50 %s, p90 %s, p99 %s, max %s\n",
		r.total, r.elapsed.Round(100*time.Millisecond), r.rate, r.p50.Round(time.Microsecond*100), r.p90.Round(time.Microsecond*100), r.p99.Round(time.Millisecond), r.max.Round(time.Millisecond))
	var codes []string
	for _, s := range slices.Sorted(maps.Keys(r.statuses)) {
		name := fmt.Sprint(s)
		if s == 0 {
			name = "connection error"
		}
		codes = append(codes, fmt.Sprintf("%s: %d", name, r.statuses[s]))
	}
	fmt.Printf("answers: %s\n", strings.Join(codes, ", "))
	fmt.Printf("failed: %d connection errors, %d unexpected statuses; %d expected 503s while PostgreSQL was down; %d API 429s\n",
		r.connErrors, r.badStatus, r.outage503, r.apiRateLimited)
	for _, e := range r.examples {
		fmt.Println("  e.g.", e)
	}
}

func (r result) failures() []string {
	var out []string
	if r.connErrors > 0 {
		out = append(out, fmt.Sprintf("%d connection errors", r.connErrors))
	}
	if r.badStatus > 0 {
		out = append(out, fmt.Sprintf("%d requests failed", r.badStatus))
	}
	if r.apiRateLimited > 0 {
		out = append(out, fmt.Sprintf("%d API requests were rate limited under lifted limits", r.apiRateLimited))
	}
	return out
}
