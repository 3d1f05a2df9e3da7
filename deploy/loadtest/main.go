// Command loadtest drives a Switchboard fleet started by deploy/fleet with
// load and faults, and prints what it measured:
//
//	go run ./deploy/loadtest [-connections 256] [-duration 60s] [-faults rolling,postgres,redis,kill9] [-soak 5m]
//
// It signs up a user with an organization and an API key, lifts the
// organization's API limits, then keeps -connections connections busy over
// a mix of dashboard pages and API calls through HAProxy while it restarts
// replicas one by one, restarts PostgreSQL and stops Redis. It fails (exit
// status 1) when a request fails that the fleet should have served: any
// connection error, any 5xx other than a 503 with Retry-After while
// PostgreSQL is down, or billable API requests (answered below 500) served
// and recorded in different numbers (a kill -9 may lose the events still
// queued; that loss is printed, not failed).
package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

type options struct {
	url         string
	connections int
	duration    time.Duration
	faults      map[string]bool
	soak        time.Duration
	root        string
}

func main() {
	var o options
	var faults string
	flag.StringVar(&o.url, "url", "http://127.0.0.1:8480", "the fleet's HAProxy (deploy/fleet up)")
	flag.IntVar(&o.connections, "connections", 256, "concurrent connections")
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "length of the loaded run")
	flag.StringVar(&faults, "faults", "rolling,postgres,redis", "faults during the run: rolling (SIGTERM and restart each replica), postgres (restart), redis (stop, then start), kill9 (one replica)")
	flag.DurationVar(&o.soak, "soak", 0, "after the run, keep a lighter load this long and watch each replica's memory")
	flag.Parse()
	o.faults = map[string]bool{}
	for _, f := range strings.Split(faults, ",") {
		if f = strings.TrimSpace(f); f != "" {
			o.faults[f] = true
		}
	}
	wd, _ := os.Getwd()
	o.root = wd
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	ctx := context.Background()
	acct, err := setUp(o)
	if err != nil {
		return fmt.Errorf("set-up: %w", err)
	}
	fmt.Printf("account %s, %d connections for %s, faults: %s\n", acct.publicID, o.connections, o.duration, strings.Join(keys(o.faults), ", "))
	before, err := recordedAPIRequests(acct)
	if err != nil {
		return err
	}
	mem := newMemoryWatch(o.root)
	mem.sample("before")

	load := newLoad(o, acct)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); load.run(runCtx) }()
	// Every chosen fault happens under load: the load lasts the duration
	// asked for, or longer, until two seconds after the last fault.
	faultErr := injectFaults(ctx, o, load, mem)
	time.Sleep(max(o.duration-load.since(), 2*time.Second))
	stop()
	wg.Wait()
	if load.since() > o.duration+time.Second {
		fmt.Printf("the load ran %s, longer than %s, to hold every fault\n", load.since().Round(time.Second), o.duration)
	}
	mem.sample("after")

	// Usage is written in batches every two seconds; the replicas that were
	// stopped flushed theirs on the way out.
	time.Sleep(5 * time.Second)
	after, err := recordedAPIRequests(acct)
	if err != nil {
		return err
	}
	res := load.result()
	res.print(o)
	mem.print()
	var failures []string
	if faultErr != nil {
		failures = append(failures, faultErr.Error())
	}
	failures = append(failures, res.failures()...)
	recorded := after - before
	fmt.Printf("billable: %d API requests served, %d recorded", res.apiServed, recorded)
	switch {
	case o.faults["kill9"]:
		fmt.Printf(" (kill -9: %d lost, %.3f%%)\n", res.apiServed-recorded, 100*float64(res.apiServed-recorded)/float64(max(res.apiServed, 1)))
	case recorded != res.apiServed:
		// Each API request answered below 500 is recorded once; one that
		// failed (5xx) or was rate limited is not.
		fmt.Println()
		failures = append(failures, fmt.Sprintf("usage recorded %d API requests; %d were served (and %d failed)", recorded, res.apiServed, res.api5xx))
	default:
		fmt.Println(" (none lost)")
	}
	if o.soak > 0 {
		if err := soak(ctx, o, acct, mem); err != nil {
			failures = append(failures, err.Error())
		}
	}
	if len(failures) > 0 {
		return errors.New(strings.Join(failures, "; "))
	}
	fmt.Println("PASS")
	return nil
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// account is what the load runs as.
type account struct {
	base     string
	cookie   string // the signed-in session
	apiKey   string
	publicID string
}

var (
	hiddenField = regexp.MustCompile(`<input[^>]*type="hidden"[^>]*>`)
	attr        = regexp.MustCompile(`(name|value)="([^"]*)"`)
	newKey      = regexp.MustCompile(`id="new-api-key"[^>]*>([^<]+)<`)
)

// browser is a cookie-keeping client that posts forms as a page would,
// with the page's hidden fields (_csrf, _account).
type browser struct {
	base   string
	client *http.Client
}

func (b *browser) get(path string) (string, error) {
	resp, err := b.client.Get(b.base + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(body), err
}

func hidden(page string) url.Values {
	v := url.Values{}
	for _, input := range hiddenField.FindAllString(page, -1) {
		var name, value string
		for _, m := range attr.FindAllStringSubmatch(input, -1) {
			if m[1] == "name" {
				name = m[2]
			} else {
				value = m[2]
			}
		}
		if name == "_csrf" || name == "_account" {
			v.Set(name, value)
		}
	}
	return v
}

func (b *browser) post(formPage, path string, form url.Values) (string, error) {
	page, err := b.get(formPage)
	if err != nil {
		return "", err
	}
	for k, vs := range hidden(page) {
		form[k] = vs
	}
	resp, err := b.client.PostForm(b.base+path, form)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST %s: %s", path, resp.Status)
	}
	return string(body), err
}

func setUp(o options) (account, error) {
	jar, _ := cookiejar.New(nil)
	b := &browser{base: o.url, client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	stamp := time.Now().UnixNano()
	if _, err := b.post("/signup", "/signup", url.Values{"name": {"Load Test"}, "email": {fmt.Sprintf("load-%d@example.com", stamp)}, "password": {"correct horse battery staple"}}); err != nil {
		return account{}, err
	}
	if _, err := b.post("/organizations/new", "/organizations/new", url.Values{"name": {fmt.Sprintf("Load %d", stamp)}}); err != nil {
		return account{}, err
	}
	if _, err := b.post("/indexes/new", "/indexes/new", url.Values{"name": {"load-index"}, "model": {"marengo"}, "marengo_options": {"visual", "audio"}}); err != nil {
		return account{}, err
	}
	page, err := b.post("/settings/api-keys", "/settings/api-keys", url.Values{"name": {"load"}})
	if err != nil {
		return account{}, err
	}
	m := newKey.FindStringSubmatch(page)
	if m == nil {
		return account{}, errors.New("the API keys page showed no new key")
	}
	acct := account{base: o.url, apiKey: strings.TrimSpace(m[1]), publicID: hidden(page).Get("_account")}
	u, _ := url.Parse(o.url)
	for _, c := range jar.Cookies(u) {
		acct.cookie += c.Name + "=" + c.Value + "; "
	}
	// Lift the organization's API limits so that the load measures the
	// fleet, not the plan.
	cmd := exec.Command(filepath.Join(o.root, ".fleet", "switchboard"), "limits", "set", "-account", acct.publicID, "-per-minute", "100000000", "-per-day", "1000000000")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+fleetDatabaseURL())
	if out, err := cmd.CombinedOutput(); err != nil {
		return account{}, fmt.Errorf("limits set: %v: %s", err, out)
	}
	return acct, nil
}

func fleetDatabaseURL() string {
	if v := os.Getenv("FLEET_DATABASE_URL"); v != "" {
		return v
	}
	db := os.Getenv("FLEET_DB")
	if db == "" {
		db = "switchboard_fleet"
	}
	return "postgres://postgres@127.0.0.1:5432/" + db + "?sslmode=disable"
}

// recordedAPIRequests sums the account's recorded API requests from the
// usage export, as a user would read them.
func recordedAPIRequests(acct account) (int64, error) {
	req, _ := http.NewRequest(http.MethodGet, acct.base+"/settings/usage.csv", nil)
	req.Header.Set("Cookie", acct.cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("usage export: %s", resp.Status)
	}
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		return 0, fmt.Errorf("usage export: %w", err)
	}
	var total int64
	for _, f := range rows {
		if len(f) >= 6 && f[3] == "api_requests" {
			n, err := strconv.ParseInt(f[5], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("usage export: quantity %q", f[5])
			}
			total += n
		}
	}
	return total, nil
}
