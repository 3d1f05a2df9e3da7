// Command benchhttp measures Switchboard over HTTP on loopback: it seeds a
// database of its own (one organization with 50 members and 10,000
// indexes; the measured user a regular member of it and of three more),
// runs ANALYZE, starts the server, warms up and runs wrk over the API, the
// organization home, the members page, the index list and a static file.
// For each it prints requests per second, p50 and p99 latency, the
// server's CPU per request (from /proc), PostgreSQL's (the bench database's
// backends, from /proc), SQL statements per request (from the server's
// metrics), how often a second the scope cache was emptied (the same)
// and the server's RSS. Next to wrk's p99 it prints the p99 of the time
// the server spent in its handlers (the request-duration histogram of its
// metrics, to the bucket): what lies between the two was spent queued, in
// the kernel, in Go's scheduler or in wrk, not in the server's code.
//
//	go run ./cmd/benchhttp -db postgres -duration 20s
//
// wrk, the load generator, runs on the same machine and shares its cores.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"switchboard/models/demo"
	"switchboard/models/ratelimit"
	"switchboard/models/tenancy"
	"switchboard/views/paths"
)

type options struct {
	dialect     string
	pgURL       string
	redisURL    string
	bin         string
	duration    time.Duration
	warmup      time.Duration
	conns       int
	threads     int
	indexes     int
	members     int
	logLevel    string
	requestLog  string
	only        string
	keepRunning bool
	profileDir  string
}

func main() {
	var o options
	flag.StringVar(&o.dialect, "db", "postgres", "database: postgres or sqlite")
	flag.StringVar(&o.pgURL, "pg-url", envOr("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		"PostgreSQL server to make the bench database on (its user needs CREATEDB and CREATEROLE)")
	flag.StringVar(&o.redisURL, "redis-url", "", "REDIS_URL for the server (the rate limiter in Redis); empty: the database's")
	flag.StringVar(&o.bin, "bin", "", "the server binary (default: built from ./cmd/switchboard)")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "measured time per target")
	flag.DurationVar(&o.warmup, "warmup", 3*time.Second, "warm-up per target, not measured")
	flag.IntVar(&o.conns, "connections", 32, "wrk connections")
	flag.IntVar(&o.threads, "threads", 2, "wrk threads")
	flag.IntVar(&o.indexes, "indexes", 10_000, "indexes of the measured organization")
	flag.IntVar(&o.members, "members", 50, "members of the measured organization")
	flag.StringVar(&o.logLevel, "log-level", "info", "SWITCHBOARD_LOG_LEVEL of the server")
	flag.StringVar(&o.requestLog, "request-log", "", "SWITCHBOARD_REQUEST_LOG of the server (empty: its default)")
	flag.StringVar(&o.only, "only", "", "comma-separated target names to run (default: all)")
	flag.StringVar(&o.profileDir, "profile", "", "write a CPU profile of the server per target into this folder (TARGET.pprof; read with go tool pprof)")
	flag.BoolVar(&o.keepRunning, "keep", false, "leave the server running at the end, printing how to reach it")
	flag.Parse()
	// An interrupt stops wrk and lets run clean up: the server stops and
	// the bench database is dropped.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchhttp:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// target is one URL wrk hammers.
type target struct {
	name    string
	path    string
	headers []string
}

// result is what one target measured.
type result struct {
	target
	requests         int64
	rps              float64
	p50, p99         time.Duration
	errors           int64
	serverCPU, pgCPU time.Duration
	pgKnown          bool
	statements       float64
	statementsKnown  bool
	// flushes is how often a second the server's scope cache was
	// emptied: each costs the requests that follow the statements it
	// saved them.
	flushes      float64
	flushesKnown bool
	// inServerP99 is the upper bound of the request-duration bucket that
	// holds the 99th percentile of the requests the server answered.
	inServerP99       time.Duration
	inServerP99Known  bool
	rssKB             int64
	measuredFor       time.Duration
	nonSuccessSamples string
}

func run(ctx context.Context, o options) error {
	if err := ensureWrk(); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "benchhttp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	bin := o.bin
	if bin == "" {
		bin = filepath.Join(work, "switchboard")
		fmt.Println("building the server …")
		build := exec.Command("go", "build", "-o", bin, "./cmd/switchboard")
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build the server: %w", err)
		}
	}

	// The database, seeded and analyzed.
	var dsn, dbName string
	switch o.dialect {
	case "sqlite":
		dsn = filepath.Join(work, "bench.db")
	case "postgres":
		dbName = "switchboard_bench"
		var drop func() error
		dsn, drop, err = demo.NewBenchDatabase(ctx, o.pgURL, dbName)
		if err != nil {
			return fmt.Errorf("make the bench database: %w", err)
		}
		if !o.keepRunning {
			defer func() {
				if err := drop(); err != nil {
					fmt.Fprintln(os.Stderr, "benchhttp: drop the bench database:", err)
				}
			}()
		}
	default:
		return fmt.Errorf("-db must be postgres or sqlite, got %q", o.dialect)
	}
	start := time.Now()
	seeded, err := seed(ctx, dsn, o)
	if err != nil {
		return err
	}
	fmt.Printf("seeded %s in %s: 1 organization, %d members, %d indexes; the measured user in %d organizations\n",
		o.dialect, time.Since(start).Round(time.Millisecond), o.members, o.indexes, 4)

	// The server.
	addr, metricsAddr := freeAddr(), freeAddr()
	base := "http://" + addr
	logFile, err := os.Create(filepath.Join(work, "server.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	srv := exec.Command(bin, "serve")
	srv.Env = append(os.Environ(),
		"DATABASE_URL="+dsn,
		"SWITCHBOARD_DATA_DIR="+work,
		"SWITCHBOARD_ADDR="+addr,
		"SWITCHBOARD_BASE_URL="+base,
		"SWITCHBOARD_SESSION_KEY="+randomHex(32),
		"SWITCHBOARD_DEMO=false",
		"SWITCHBOARD_METRICS_ADDR="+metricsAddr,
		"SWITCHBOARD_LOG_LEVEL="+o.logLevel,
		"SWITCHBOARD_DRAIN=0s",
		"SWITCHBOARD_PPROF="+strconv.FormatBool(o.profileDir != ""),
		"REDIS_URL="+o.redisURL,
	)
	if o.requestLog != "" {
		srv.Env = append(srv.Env, "SWITCHBOARD_REQUEST_LOG="+o.requestLog)
	}
	srv.Stdout, srv.Stderr = logFile, logFile
	if err := srv.Start(); err != nil {
		return fmt.Errorf("start the server: %w", err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = srv.Process.Signal(syscall.SIGTERM)
			_ = srv.Wait()
		}
	}
	defer stop()
	if err := waitReady(base, 60*time.Second); err != nil {
		tail, _ := os.ReadFile(logFile.Name())
		return fmt.Errorf("%w; the server's log:\n%s", err, lastLines(tail, 30))
	}

	cookie, err := signIn(base, seeded)
	if err != nil {
		return err
	}
	targets := []target{
		{"api /v1.3/indexes", "/v1.3/indexes", []string{"x-api-key: " + seeded.APIKey}},
		// A filtered list is read from the database each time, its total
		// counted: the cost of a list that is not kept.
		{"api filtered ?index_name=00012", "/v1.3/indexes?index_name=00012", []string{"x-api-key: " + seeded.APIKey}},
		{"/ (org home)", paths.Home(), []string{"Cookie: " + cookie}},
		{"/settings/members", paths.Members(), []string{"Cookie: " + cookie}},
		{"/indexes", paths.Indexes(), []string{"Cookie: " + cookie}},
		{"static 2 KB", "/static/js/app.js", nil},
	}
	if o.only != "" {
		var kept []target
		for _, t := range targets {
			for _, want := range strings.Split(o.only, ",") {
				if strings.Contains(t.name, strings.TrimSpace(want)) {
					kept = append(kept, t)
					break
				}
			}
		}
		targets = kept
	}
	for _, t := range targets {
		if err := check(base, t); err != nil {
			return err
		}
	}

	fmt.Printf("wrk -t%d -c%d, %s per target after %s of warm-up; server pid %d\n", o.threads, o.conns, o.duration, o.warmup, srv.Process.Pid)
	var results []result
	for _, t := range targets {
		if o.warmup > 0 {
			if _, err := wrk(ctx, base, t, o, o.warmup); err != nil {
				return err
			}
		}
		r, err := measure(ctx, base, metricsAddr, srv.Process.Pid, dbName, t, o)
		if err != nil {
			return err
		}
		results = append(results, r)
		fmt.Printf("  %s: %.0f req/s\n", t.name, r.rps)
	}
	fmt.Println()
	printResults(os.Stdout, results, true)
	if o.keepRunning {
		fmt.Printf("\nthe server runs at %s (pid %d, metrics at %s), the database at %s; sign in as %s / %s; API key %s; the measured session's Cookie header: %s\n", base, srv.Process.Pid, metricsAddr, dsn, seeded.Email, seeded.Password, seeded.APIKey, cookie)
		select {}
	}
	return nil
}

// seed migrates the database, seeds the data set, lifts the measured
// organization's rate limits out of the way and runs ANALYZE.
func seed(ctx context.Context, dsn string, o options) (demo.Bench, error) {
	db, err := tenancy.Open(dsn)
	if err != nil {
		return demo.Bench{}, err
	}
	defer tenancy.Close(db)
	if err := tenancy.Migrate(ctx, db); err != nil {
		return demo.Bench{}, err
	}
	b, err := demo.SeedBench(ctx, db, demo.BenchSpec{Members: o.members, Indexes: o.indexes, OtherOrgs: 3})
	if err != nil {
		return demo.Bench{}, fmt.Errorf("seed: %w", err)
	}
	high := int64(1_000_000_000)
	if _, err := ratelimit.SetAccountLimits(ctx, db, b.OrgPublicID, &high, &high); err != nil {
		return demo.Bench{}, err
	}
	if err := demo.Analyze(ctx, db); err != nil {
		return demo.Bench{}, fmt.Errorf("analyze: %w", err)
	}
	return b, nil
}

// ensureWrk installs Debian's wrk when it is missing.
func ensureWrk() error {
	if _, err := exec.LookPath("wrk"); err == nil {
		return nil
	}
	fmt.Println("wrk is missing: installing it with apt-get …")
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "wrk"}} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("install wrk (apt-get %s): %w", strings.Join(args, " "), err)
		}
	}
	return nil
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func waitReady(base string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("the server was not ready within %s", within)
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)
var accountField = regexp.MustCompile(`name="_account" value="([^"]+)"`)

// signIn signs the measured user in through the forms and makes the
// organization active, returning the browser's Cookie header.
func signIn(base string, b demo.Bench) (string, error) {
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	form := func(page string) (url.Values, error) {
		resp, err := client.Get(base + page)
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		v := url.Values{}
		m := csrfField.FindSubmatch(body)
		if m == nil {
			return nil, fmt.Errorf("no _csrf field on %s (status %d)", page, resp.StatusCode)
		}
		v.Set("_csrf", string(m[1]))
		if m := accountField.FindSubmatch(body); m != nil {
			v.Set("_account", string(m[1]))
		}
		return v, nil
	}
	post := func(page, from string, fields url.Values) error {
		v, err := form(from)
		if err != nil {
			return err
		}
		for k, vs := range fields {
			v[k] = vs
		}
		resp, err := client.PostForm(base+page, v)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("POST %s: status %d", page, resp.StatusCode)
		}
		return nil
	}
	if err := post(paths.SignIn(), paths.SignIn(), url.Values{"email": {b.Email}, "password": {b.Password}}); err != nil {
		return "", fmt.Errorf("sign in: %w", err)
	}
	if err := post(paths.SwitchAccount(), paths.Home(), url.Values{"account_id": {b.OrgPublicID}}); err != nil {
		return "", fmt.Errorf("switch to the organization: %w", err)
	}
	u, _ := url.Parse(base)
	var parts []string
	for _, c := range jar.Cookies(u) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; "), nil
}

// check asks for the target once and wants a 200.
func check(base string, t target) error {
	req, _ := http.NewRequest(http.MethodGet, base+t.path, nil)
	for _, h := range t.headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: GET %s answered %d, want 200", t.name, t.path, resp.StatusCode)
	}
	return nil
}

// wrkOut is what wrk printed that the table needs.
type wrkOut struct {
	requests   int64
	rps        float64
	p50, p99   time.Duration
	nonSuccess int64
	errors     string
}

func wrk(ctx context.Context, base string, t target, o options, d time.Duration) (wrkOut, error) {
	args := []string{"-t", strconv.Itoa(o.threads), "-c", strconv.Itoa(o.conns), "-d", fmt.Sprintf("%.0fs", max(1, d.Seconds())), "--latency"}
	for _, h := range t.headers {
		args = append(args, "-H", h)
	}
	args = append(args, base+t.path)
	out, err := exec.CommandContext(ctx, "wrk", args...).CombinedOutput()
	if err != nil {
		return wrkOut{}, fmt.Errorf("wrk %s: %w\n%s", t.path, err, out)
	}
	return parseWrk(out)
}

var (
	wrkRequests   = regexp.MustCompile(`(\d+) requests in`)
	wrkRPS        = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	wrkPercentile = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s|m)\s*$`)
	wrkNon2xx     = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSocketErrs = regexp.MustCompile(`Socket errors:[^\n]*`)
)

func parseWrk(out []byte) (wrkOut, error) {
	var w wrkOut
	m := wrkRequests.FindSubmatch(out)
	r := wrkRPS.FindSubmatch(out)
	if m == nil || r == nil {
		return w, fmt.Errorf("could not read wrk's output:\n%s", out)
	}
	w.requests, _ = strconv.ParseInt(string(m[1]), 10, 64)
	w.rps, _ = strconv.ParseFloat(string(r[1]), 64)
	for _, p := range wrkPercentile.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(p[2]), 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute}[string(p[3])]
		d := time.Duration(v * float64(unit))
		if string(p[1]) == "50" {
			w.p50 = d
		} else {
			w.p99 = d
		}
	}
	if n := wrkNon2xx.FindSubmatch(out); n != nil {
		w.nonSuccess, _ = strconv.ParseInt(string(n[1]), 10, 64)
	}
	if e := wrkSocketErrs.Find(out); e != nil {
		w.errors = string(e)
	}
	return w, nil
}

// measure runs wrk once over t, reading the server's and PostgreSQL's CPU
// and the statement counter around it.
func measure(ctx context.Context, base, metricsAddr string, pid int, dbName string, t target, o options) (result, error) {
	metrics0 := readMetrics(metricsAddr)
	cpu0, pg0 := procCPU(pid), backendsCPU(pgBackends(dbName))
	began := time.Now()
	profiled := make(chan error, 1)
	if o.profileDir != "" {
		go func() { profiled <- profile(metricsAddr, t, o) }()
	} else {
		profiled <- nil
	}
	w, err := wrk(ctx, base, t, o, o.duration)
	if err != nil {
		return result{}, err
	}
	if err := <-profiled; err != nil {
		return result{}, err
	}
	took := time.Since(began)
	cpu1, pg1 := procCPU(pid), backendsCPU(pgBackends(dbName))
	metrics1 := readMetrics(metricsAddr)
	r := result{target: t, requests: w.requests, rps: w.rps, p50: w.p50, p99: w.p99, errors: w.nonSuccess,
		serverCPU: cpu1 - cpu0, rssKB: rss(pid), measuredFor: took, nonSuccessSamples: w.errors}
	if len(pg0)+len(pg1) > 0 {
		// Backends that were there before count what they used since;
		// those that started during the run, all they used. (One that
		// ended during the run is lost: the pools keep theirs open.)
		r.pgKnown = true
		for p, c := range pg1 {
			r.pgCPU += c - pg0[p]
		}
	}
	if n, ok := delta(metrics0, metrics1, statementsMetric); ok && w.requests > 0 {
		r.statements, r.statementsKnown = n/float64(w.requests), true
	}
	if n, ok := delta(metrics0, metrics1, flushesMetric); ok {
		r.flushes, r.flushesKnown = n/took.Seconds(), true
	}
	r.inServerP99, r.inServerP99Known = bucketQuantile(metrics0, metrics1, 0.99)
	return r, nil
}

// profile writes a CPU profile of the server over the measured run into
// the profile folder, named after the target.
func profile(metricsAddr string, t target, o options) error {
	seconds := max(1, int(o.duration.Seconds())-1)
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", metricsAddr, seconds))
	if err != nil {
		return fmt.Errorf("profile %s: %w", t.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile %s: the server answered %d", t.name, resp.StatusCode)
	}
	if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
		return err
	}
	name := strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(t.name), "-"), "-")
	f, err := os.Create(filepath.Join(o.profileDir, name+".pprof"))
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

func printResults(out io.Writer, rs []result, header bool) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	if header {
		fmt.Fprintln(tw, "target\treq/s\tp50 ms\tp99 ms\tin-server p99 ms\tserver CPU ms/req\tPG CPU ms/req\tstatements/req\tcache flushes/s\tRSS MB\tnon-2xx\t")
	}
	for _, r := range rs {
		n := float64(max(r.requests, 1))
		pg, st, fl, in := "n/a", "n/a", "n/a", "n/a"
		if r.inServerP99Known {
			in = fmt.Sprintf("≤ %g", ms(r.inServerP99))
		}
		if r.pgKnown {
			pg = fmt.Sprintf("%.3f", ms(r.pgCPU)/n)
		}
		if r.statementsKnown {
			st = fmt.Sprintf("%.2f", r.statements)
		}
		if r.flushesKnown {
			fl = fmt.Sprintf("%.2f", r.flushes)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.2f\t%s\t%.3f\t%s\t%s\t%s\t%.0f\t%d\t\n", r.name, r.rps, ms(r.p50), ms(r.p99), in,
			ms(r.serverCPU)/n, pg, st, fl, float64(r.rssKB)/1024, r.errors)
	}
	tw.Flush()
	for _, r := range rs {
		if r.nonSuccessSamples != "" {
			fmt.Fprintf(out, "  %s: %s\n", r.name, r.nonSuccessSamples)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// procCPU is a process's user and system CPU time, from /proc/PID/stat.
func procCPU(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// After the command name, in parentheses: state is the first field,
	// utime the 12th, stime the 13th, in clock ticks (100 a second).
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	var total time.Duration
	for _, v := range f[11:13] {
		ticks, _ := strconv.ParseInt(v, 10, 64)
		total += time.Duration(ticks) * 10 * time.Millisecond
	}
	return total
}

// pgBackends are the PostgreSQL server processes connected to the bench
// database, found by their process titles ("postgres: user db host …").
func pgBackends(dbName string) []int {
	if dbName == "" {
		return nil
	}
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		title := string(bytes.TrimRight(cmd, "\x00"))
		if strings.HasPrefix(title, "postgres: ") && strings.Contains(title, " "+dbName+" ") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// backend is a process, told apart from a later one with the same pid by
// its start time.
type backend struct {
	pid   int
	start string
}

func backendsCPU(pids []int) map[backend]time.Duration {
	cpu := map[backend]time.Duration{}
	for _, p := range pids {
		cpu[backend{p, procStart(p)}] = procCPU(p)
	}
	return cpu
}

// procStart is a process's start time, in clock ticks since boot (the 22nd
// field of /proc/PID/stat).
func procStart(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// rss is a process's resident set, in kB.
func rss(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// The server's metrics measure reads around each target.
const (
	statementsMetric = "switchboard_sql_statements_total"
	flushesMetric    = "switchboard_api_key_cache_flushes_total"
	durationMetric   = "switchboard_http_request_duration_seconds"
)

// serverMetrics is one read of the server's metrics, of those measure
// keeps; what the server does not export is absent (the zero value: a read
// that found none).
type serverMetrics struct {
	// counters holds statementsMetric and flushesMetric.
	counters map[string]float64
	// durations holds the request-duration histogram summed over routes
	// and methods (one target runs at a time): requests answered within
	// each finite bucket's upper bound (seconds), and in all.
	durations map[float64]float64
	answered  float64
}

// bucketQuantile is the upper bound of the request-duration bucket that
// holds quantile q of the requests answered between two reads; false when
// there were none, the server lacks the histogram, or the quantile lies
// beyond its last finite bucket.
func bucketQuantile(before, after serverMetrics, q float64) (time.Duration, bool) {
	answered := after.answered - before.answered
	if answered <= 0 {
		return 0, false
	}
	for _, le := range slices.Sorted(maps.Keys(after.durations)) {
		if after.durations[le]-before.durations[le] >= q*answered {
			return time.Duration(le * float64(time.Second)), true
		}
	}
	return 0, false
}

// delta is how much a counter grew between two reads; false when either
// read lacks it.
func delta(before, after serverMetrics, name string) (float64, bool) {
	b, okB := before.counters[name]
	a, okA := after.counters[name]
	return a - b, okA && okB
}

// readMetrics reads the server's metrics; a read that fails has none.
func readMetrics(metricsAddr string) serverMetrics {
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		return serverMetrics{}
	}
	defer resp.Body.Close()
	return parseMetrics(resp.Body)
}

// parseMetrics reads Prometheus's text format.
func parseMetrics(r io.Reader) serverMetrics {
	m := serverMetrics{counters: map[string]float64{}, durations: map[float64]float64{}}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return m
	}
	for _, name := range []string{statementsMetric, flushesMetric} {
		if f, ok := families[name]; ok {
			for _, s := range f.GetMetric() {
				m.counters[name] += s.GetCounter().GetValue() + s.GetUntyped().GetValue()
			}
		}
	}
	if f, ok := families[durationMetric]; ok {
		for _, s := range f.GetMetric() {
			h := s.GetHistogram()
			m.answered += float64(h.GetSampleCount())
			for _, b := range h.GetBucket() {
				if !math.IsInf(b.GetUpperBound(), 1) {
					m.durations[b.GetUpperBound()] += float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return m
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
