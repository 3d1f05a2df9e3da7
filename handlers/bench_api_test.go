package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/handlers"
	"switchboard/handlers/sitetest"
	"switchboard/models/dbtest"
	"switchboard/models/ratelimit"
	"switchboard/models/tenancy"
	"switchboard/models/usage"
)

// apiBenchConns is how many connections the benchmark keeps busy at once.
const apiBenchConns = 32

// apiBenchIndexes is the size of the benchmarked account.
const apiBenchIndexes = 25

// apiKeyAccount is an organization whose owner has an API key, with
// apiBenchIndexes indexes and limits too high to throttle a benchmark.
type apiKeyAccount struct {
	id  int64
	key string
}

func newAPIKeyAccount(tb testing.TB, db *gorm.DB) apiKeyAccount {
	tb.Helper()
	u, _ := dbtest.User(tb, db)
	org := dbtest.Org(tb, db, u)
	perMinute, perDay := int64(1_000_000_000), int64(1_000_000_000)
	if _, err := ratelimit.SetAccountLimits(context.Background(), db, org.Account().PublicID, &perMinute, &perDay); err != nil {
		tb.Fatal(err)
	}
	seedIndexes(tb, db, org, apiBenchIndexes)
	analyze(tb, db)
	return apiKeyAccount{id: org.AccountID(), key: newKey(tb, db, org)}
}

// BenchmarkAPIListIndexes measures GET /v1.3/indexes with one valid key at
// 32 concurrent connections, through the whole stack (HTTP on loopback,
// middleware, key lookup, rate-limit counter, query, JSON), for an account of
// 25 indexes. The load generator runs in the same process as the server,
// and the database on the same machine, so all three share its cores. It
// reports requests per second, p50, p99 and max latency, SQL statements per
// request (each is one round trip: the path uses no transaction; the usage
// recorder's batched writes, every 2 s, are included), and the CPU time
// spent per request by this process (server and load generator: cpu-ms) and,
// when PostgreSQL runs on this machine, by the server processes of the
// connection pool (pg-cpu-ms; its WAL writer and other helpers not
// included). The target, on PostgreSQL on a 2-core machine: at least
// 3,000 req/s, p99 under 25 ms, at most 3 round trips.
//
//	TEST_DATABASE_URL=postgres://... go test -run '^$' -bench APIListIndexes -benchtime 20000x ./handlers/
//
// It skips without TEST_DATABASE_URL; with it, it runs on SQLite too, for
// comparison. The rate limiter is the database's (the default), Redis's when
// REDIS_URL is set (under a namespace of its own), and, as the ceiling the
// others are measured against, none.
func BenchmarkAPIListIndexes(b *testing.B) {
	if os.Getenv("TEST_DATABASE_URL") == "" {
		b.Skip("TEST_DATABASE_URL is not set: the API benchmark's target is for PostgreSQL")
	}
	benchEachDB(b, func(b *testing.B, db *gorm.DB) {
		acct := newAPIKeyAccount(b, db)
		type limiter struct {
			name string
			new  func(b *testing.B) ratelimit.RateLimiter
		}
		limiters := []limiter{{"limiter=db", func(*testing.B) ratelimit.RateLimiter { return ratelimit.NewDBRateLimiter(db) }}}
		if u := os.Getenv("REDIS_URL"); u != "" {
			limiters = append(limiters, limiter{"limiter=redis", func(b *testing.B) ratelimit.RateLimiter {
				ns := fmt.Sprintf("bench-%016x", rand.Uint64())
				r, err := ratelimit.NewRedisRateLimiter(context.Background(), u, ns)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() {
					// Leave no counters behind (the day's would live two
					// days).
					ctx := context.Background()
					keys, _ := r.Client.Keys(ctx, "sb:"+ns+":*").Result()
					if len(keys) > 0 {
						_ = r.Client.Del(ctx, keys...).Err()
					}
					_ = r.Client.Close()
				})
				return r
			}})
		}
		// For reference: the same stack with no counter at all.
		limiters = append(limiters, limiter{"limiter=none", func(*testing.B) ratelimit.RateLimiter { return apiNoLimit{} }})
		for _, l := range limiters {
			b.Run(l.name, func(b *testing.B) {
				benchAPIList(b, db, apiBenchServer(b, db, l.new(b))+"/v1.3/indexes", acct.key)
			})
		}
	})
}

// benchAPIList loads url with key from apiBenchConns connections and
// reports the figures.
func benchAPIList(b *testing.B, db *gorm.DB, url, key string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 2 * apiBenchConns, MaxIdleConnsPerHost: 2 * apiBenchConns}}
	b.Cleanup(client.CloseIdleConnections)

	// The answer is the account's first page, as the SDK expects it.
	var page struct {
		Data     []map[string]any `json:"data"`
		PageInfo map[string]int   `json:"page_info"`
	}
	res, err := apiGet(client, url, key)
	if err != nil {
		b.Fatal(err)
	}
	if err := json.Unmarshal(res, &page); err != nil || len(page.Data) != 10 || page.PageInfo["total_results"] != apiBenchIndexes {
		b.Fatalf("GET /v1.3/indexes answered %s (%v)", res, err)
	}

	// Warm up: open the connections and fill each database connection's
	// statement cache.
	apiLoad(b, client, url, key, 20*apiBenchConns)

	backends := apiPGBackends(b, db)
	before, cpuBefore, pgBefore := tenancy.QueryCount(), apiSelfCPU(b), apiBackendsCPU(backends)
	b.ResetTimer()
	start := time.Now()
	durations := apiLoad(b, client, url, key, b.N)
	elapsed := time.Since(start)
	b.StopTimer()
	queries, cpu, pgCPU := tenancy.QueryCount()-before, apiSelfCPU(b)-cpuBefore, apiCPUSince(pgBefore, apiBackendsCPU(backends))

	slices.Sort(durations)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(ms(apiPercentile(durations, 0.50)), "p50-ms")
	b.ReportMetric(ms(apiPercentile(durations, 0.99)), "p99-ms")
	b.ReportMetric(ms(durations[len(durations)-1]), "max-ms")
	b.ReportMetric(float64(queries)/float64(b.N), "sql/req")
	b.ReportMetric(ms(cpu)/float64(b.N), "cpu-ms/req")
	if len(backends) > 0 {
		b.ReportMetric(ms(pgCPU)/float64(b.N), "pg-cpu-ms/req")
	}
}

// apiBenchServer runs the router as the server command does: the usage
// recorder flushing in the background (every 2 s), the log formatted (to
// nowhere rather than to a terminal), with the rate limiter given.
func apiBenchServer(b *testing.B, db *gorm.DB, limiter ratelimit.RateLimiter) string {
	b.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	recorder := usage.NewUsageRecorder(db, log, 2*time.Second)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); recorder.Run(ctx) }()
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	srv.Config.Handler = handlers.New(handlers.Config{
		BaseURL:     srv.URL,
		SessionKey:  []byte("bench-session-key-0123456789abcdef0123456789"),
		Sessions:    handlers.DefaultSessionLifetime,
		Usage:       recorder,
		RateLimiter: limiter,
	}, db, log, &sitetest.Mailbox{})
	b.Cleanup(func() {
		srv.Close()
		stop()
		<-done
	})
	return srv.URL
}

// apiLoad makes n GET requests from apiBenchConns goroutines, each making
// one request at a time, and returns every request's duration.
func apiLoad(b *testing.B, client *http.Client, url, key string, n int) []time.Duration {
	var next atomic.Int64
	var failures atomic.Int64
	var firstErr sync.Once
	per := make([][]time.Duration, apiBenchConns)
	var wg sync.WaitGroup
	for w := range apiBenchConns {
		per[w] = make([]time.Duration, 0, n/apiBenchConns+1)
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				t0 := time.Now()
				_, err := apiGet(client, url, key)
				per[w] = append(per[w], time.Since(t0))
				if err != nil {
					failures.Add(1)
					firstErr.Do(func() { b.Error(err) })
				}
			}
		})
	}
	wg.Wait()
	if f := failures.Load(); f > 0 {
		b.Fatalf("%d of %d requests failed", f, n)
	}
	return slices.Concat(per...)
}

// apiGet makes one API request and returns its body, which must come with a
// 200.
func apiGet(client *http.Client, url, key string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("x-api-key", key)
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", url, res.StatusCode, body)
	}
	return body, nil
}

// apiPercentile is the duration at fraction p of sorted (nearest rank).
func apiPercentile(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// apiPGBackends are the process IDs of the PostgreSQL server processes
// serving db's connection pool, when the server runs on this machine (its
// processes are in /proc): their CPU time is the database's share of a
// request. Empty for SQLite or a remote server.
func apiPGBackends(b *testing.B, db *gorm.DB) []int {
	b.Helper()
	if tenancy.DialectOfDB(db) != tenancy.Postgres {
		return nil
	}
	sqlDB, err := db.DB()
	if err != nil {
		b.Fatal(err)
	}
	// Hold every connection of the pool at once (the warm-up opened them),
	// so each is asked once.
	ctx := context.Background()
	var pids []int
	for range sqlDB.Stats().OpenConnections {
		conn, err := sqlDB.Conn(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		var pid int
		if err := conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			b.Fatal(err)
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/stat", pid)); err != nil {
			return nil // not on this machine
		}
		pids = append(pids, pid)
	}
	return pids
}

// apiBackendsCPU is the CPU time (user and system) each process has used, from
// /proc/PID/stat (in clock ticks of 10 ms).
func apiBackendsCPU(pids []int) map[int]time.Duration {
	cpu := map[int]time.Duration{}
	for _, pid := range pids {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // gone
		}
		// Fields after the command name, which is in parentheses: state is
		// the first, utime the 12th, stime the 13th.
		f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
		if len(f) < 13 {
			continue
		}
		for _, v := range f[11:13] {
			ticks, _ := strconv.ParseInt(v, 10, 64)
			cpu[pid] += time.Duration(ticks) * 10 * time.Millisecond
		}
	}
	return cpu
}

// apiCPUSince adds up what each process read both times used in between.
func apiCPUSince(before, after map[int]time.Duration) time.Duration {
	var total time.Duration
	for pid, t := range after {
		if t0, ok := before[pid]; ok {
			total += t - t0
		}
	}
	return total
}

// apiNoLimit lets every request through without counting it.
type apiNoLimit struct{}

func (apiNoLimit) Take(_ context.Context, _ int64, l ratelimit.Limits, at time.Time) (ratelimit.RateDecision, error) {
	return ratelimit.RateDecision{Allowed: true, Limit: l.PerMinute, Reset: at.Add(time.Minute)}, nil
}

func (apiNoLimit) Used(context.Context, int64, time.Time) (int64, int64, error) { return 0, 0, nil }

// apiSelfCPU is the CPU time (user and system) this process has used.
func apiSelfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// warmAPIKey lists the key's indexes, in both sort orders, until the key
// answers from the scope cache (the news of the fixtures' own writes may
// flush it a few times first), and returns the statements a list read from
// the database then costs: 2 on PostgreSQL, 3 on SQLite, where every
// request's rate-limit count is a change to the database file, which is all
// SQLite's news can tell (sqliteNews). The first list in each order also
// has PostgreSQL check the tables its kept statement's plan reads, once
// per process (tenancy.Kept), which is not a request's cost.
func warmAPIKey(t *testing.T, app *testApp, db *gorm.DB, key string) int64 {
	t.Helper()
	most := int64(2)
	if tenancy.DialectOfDB(db) == tenancy.SQLite {
		most = 3
	}
	apiCall(t, app, key, http.MethodGet, "/v1.3/indexes?sort_by=updated_at&sort_option=asc", "").status(http.StatusOK)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		before := tenancy.QueryCount()
		apiCall(t, app, key, http.MethodGet, "/v1.3/indexes", "").status(http.StatusOK)
		if n := tenancy.QueryCount() - before; n <= most || time.Now().After(deadline) {
			return most
		}
	}
}

// TestAPIListRoundTrips: GET /v1.3/indexes costs at most 2 SQL statements
// on PostgreSQL (the rate-limit counter, the page with its total; the key
// with its account comes from the scope cache), 3 on SQLite (see
// warmAPIKey), whatever the page, filter or sort, past the end included;
// and on PostgreSQL an unfiltered page asked for again costs only the
// rate-limit counter, its answer kept in memory (tenancy.Kept) until the
// account's indexes change.
// QueryCount counts GORM statements, which are the round trips here: the
// path opens no transaction, whose BEGIN and COMMIT would not be counted,
// and subqueries are part of their statement.
func TestAPIListRoundTrips(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		acct := newAPIKeyAccount(t, db)
		most := warmAPIKey(t, app, db, acct.key)
		// get asks for path and checks it costs at most most statements.
		get := func(path string, most int64) *response {
			t.Helper()
			before := tenancy.QueryCount()
			r := apiCall(t, app, acct.key, http.MethodGet, path, "").status(http.StatusOK)
			n := tenancy.QueryCount() - before
			t.Logf("GET %s: %d SQL statements", path, n)
			if n > most {
				t.Errorf("GET %s makes %d SQL statements, want at most %d", path, n, most)
			}
			return r
		}
		unfiltered := []string{
			"/v1.3/indexes?page=3&page_limit=10",
			"/v1.3/indexes?page_limit=50&sort_by=updated_at&sort_option=asc",
		}
		for _, path := range append(unfiltered, "/v1.3/indexes?index_name=index%2000001&model_family=marengo&model_options=visual") {
			r := get(path, most)
			var page struct {
				Data []json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal([]byte(r.Body), &page); err != nil || len(page.Data) == 0 {
				t.Errorf("GET %s answered %s (%v), want a page of indexes", path, r.Body, err)
			}
		}
		// A page past the end, which the SDK asks for at the end of every
		// listing, still carries the total in the same statement.
		path := "/v1.3/indexes?page=4&page_limit=10"
		r := get(path, most)
		if want := `"total_results":25`; !strings.Contains(r.Body, want) || !strings.Contains(r.Body, `"data":[]`) {
			t.Errorf("GET %s answered %s, want empty data and %s", path, r.Body, want)
		}
		if tenancy.DialectOfDB(db) == tenancy.Postgres {
			for _, path := range append(unfiltered, path) {
				if again := get(path, 1); again.Body == "" {
					t.Errorf("GET %s again answered nothing", path)
				}
			}
		}
	})
}
