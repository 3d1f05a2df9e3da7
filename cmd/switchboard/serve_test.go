package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard/handlers/sitetest"
	"switchboard/models/dbtest"
	"switchboard/models/usage"
)

// freeAddr is a loopback address no one listens on, on a port below the
// kernel's ephemeral range: a port from the range (what listening on :0
// gives) can be taken, before the server binds it, as the local port of an
// outgoing connection, as when replicas started together open their
// database connections.
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 100 {
		port := 10000 + rand.IntN(ephemeralPortsFrom(t)-10000)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // taken: another one
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	t.Fatal("no free port below the ephemeral range in 100 tries")
	return ""
}

// ephemeralPortsFrom is the first port of the kernel's ephemeral range.
func ephemeralPortsFrom(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768 // Linux's default
	}
	from, err := strconv.Atoi(strings.Fields(string(b))[0])
	if err != nil || from <= 10001 {
		t.Fatalf("the ephemeral port range %q leaves no room below it", b)
	}
	return from
}

func get(url string) (int, string) {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestDrainAndMetrics serves on the embedded default with metrics on their
// own listener, then cancels serve's context as SIGTERM does: /readyz turns
// 503 at once while pages are still served for the drain, and serve returns
// soon after it.
func TestDrainAndMetrics(t *testing.T) {
	dir := t.TempDir()
	addr, metricsAddr := freeAddr(t), freeAddr(t)
	cfg := config{DataDir: dir, DatabaseURL: filepath.Join(dir, "switchboard.db"), Addr: addr, BaseURL: "http://" + addr,
		Demo: "false", MetricsAddr: metricsAddr, Drain: 1500 * time.Millisecond, DBConns: 4, APIKeyDays: 90, RedisNamespace: "test"}
	logs := &sitetest.Log{}
	log, err := newLogger(logs, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, log) }()
	base := "http://" + addr
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if code, _ := get(base + "/readyz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 20 s; log:\n%s", logs.String())
		}
	}
	get(base + "/signin")
	get(base + "/indexes/0123") // an ID in the path must not become a label

	code, metrics := get("http://" + metricsAddr + "/metrics")
	if code != http.StatusOK || !strings.Contains(metrics, `switchboard_http_request_duration_seconds_bucket{method="GET",route="/signin"`) {
		t.Fatalf("metrics: %d\n%.2000s", code, metrics)
	}
	for _, want := range []string{"switchboard_http_requests_total", "switchboard_http_requests_in_flight", "switchboard_usage_events_dropped_total", "switchboard_api_key_cache_live",
		"go_sql_max_open_connections", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// (A label's value, not any number: a sample's value may hold the
	// digits.)
	if regexp.MustCompile(`="[^"]*0123[^"]*"`).MatchString(metrics) {
		t.Error("a raw path became a metric label")
	}
	if code, _ := get(base + "/metrics"); code == http.StatusOK {
		t.Error("metrics are served on the public port")
	}
	promtool(t, metrics)

	// Every request line is JSON with its request id and route.
	var line map[string]any
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `"msg":"request"`) && strings.Contains(l, `"/signin"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line["request_id"] == "" || line["request_id"] == nil || line["route"] != "/signin" {
		t.Errorf("request line: %v", line)
	}

	began := time.Now()
	cancel()
	time.Sleep(200 * time.Millisecond)
	if code, body := get(base + "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "draining") {
		t.Errorf("during the drain /readyz is %d %q, want 503 draining", code, body)
	}
	if code, _ := get(base + "/signin"); code != http.StatusOK {
		t.Errorf("during the drain a page is %d, want 200", code)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(began); took < cfg.Drain {
			t.Errorf("serve returned %s after the signal, before its %s drain", took, cfg.Drain)
		}
	case <-time.After(cfg.Drain + 15*time.Second):
		t.Fatal("serve did not return after the drain")
	}
	if code, _ := get(base + "/healthz"); code != 0 {
		t.Errorf("still serving after shutdown: %d", code)
	}
	for _, phase := range []string{"draining", "shutting down", "usage flushed"} {
		if !strings.Contains(logs.String(), phase) {
			t.Errorf("the log does not say %q", phase)
		}
	}
}

// A request still being answered when the server stops is billed: usage is
// recorded as each request is answered, so the recorder's last batch must
// wait for the requests in flight.
func TestRequestInFlightAtShutdownIsBilled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switchboard.db")
	server := startReplicas(t, 1, path)
	db := dbtest.Open(t, path)
	owner, _ := dbtest.User(t, db)
	org := dbtest.Org(t, db, owner)
	key := dbtest.NewAPIKey(t, db, org, "in flight")

	// While the test holds SQLite's write lock, the request waits in the
	// rate limiter, which writes.
	sqlDB, err := dbtest.Plain(t, db).DB()
	if err != nil {
		t.Fatal(err)
	}
	lock, err := sqlDB.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	answered := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, server.bases[0]+"/v1.3/indexes", nil)
		req.Header.Set("x-api-key", key.Secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- 0
			return
		}
		res.Body.Close()
		answered <- res.StatusCode
	}()
	time.Sleep(500 * time.Millisecond) // the request is in
	go func() {
		time.Sleep(500 * time.Millisecond) // past the drain: shutting down
		_, _ = lock.ExecContext(context.Background(), "ROLLBACK")
	}()
	server.stop()
	if code := <-answered; code != http.StatusOK {
		t.Fatalf("the request in flight was answered %d, want 200; log:\n%s", code, logs(server.logs[0]))
	}
	log := logs(server.logs[0])
	if stopping, answer := strings.Index(log, "shutting down"), strings.Index(log, "route=/v1.3/indexes"); stopping < 0 || answer < stopping {
		t.Fatalf("the request was answered before the server began to stop; log:\n%s", log)
	}
	var n int64
	dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT COALESCE(SUM(quantity), 0) FROM usage_daily WHERE account_id = ? AND metric = ?",
		org.AccountID(), usage.MetricAPIRequests).Scan(&n).Error)
	if n != 1 {
		t.Fatalf("%d API requests billed, want the one answered while stopping", n)
	}
}

// promtool checks metrics with Prometheus's own linter; CI installs it.
func promtool(t *testing.T, metrics string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is missing (apt-get install prometheus)")
		}
		t.Log("promtool is missing; metrics not linted")
		return
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(metrics)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestLogOptions(t *testing.T) {
	if _, err := newLogger(io.Discard, "xml", "info"); err == nil {
		t.Error("an unknown log format was accepted")
	}
	if _, err := newLogger(io.Discard, "json", "loud"); err == nil {
		t.Error("an unknown log level was accepted")
	}
	var buf bytes.Buffer
	log, err := newLogger(&buf, "json", "warn")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown")
	if strings.Contains(buf.String(), "hidden") || !strings.Contains(buf.String(), `"msg":"shown"`) {
		t.Errorf("level warn in JSON wrote %q", buf.String())
	}
}

// TestGarbageCollectorTarget: the server collects garbage at gcPercent,
// unless the operator's GOGC says otherwise.
func TestGarbageCollectorTarget(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	t.Setenv("GOGC", "")
	collectGarbageLessOften()
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("without GOGC: the target is %d%%, want %d%%", got, gcPercent)
	}

	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150) // as the runtime reads it at start
	collectGarbageLessOften()
	if got := debug.SetGCPercent(100); got != 150 {
		t.Errorf("with GOGC=150: the target is %d%%, want the operator's 150%%", got)
	}
}
