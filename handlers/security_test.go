package handlers_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/handlers"
	"switchboard/handlers/sitetest"
	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

func TestStateChangesNeedTheCSRFToken(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, personal, c := app.user(t)
		cases := []struct {
			path string
			form url.Values
		}{
			{"/organizations/new", url.Values{"name": {"Forged Org"}}},
			{"/settings/profile", url.Values{"name": {"Forged Name"}}},
			{"/accounts/switch", url.Values{"account_id": {personal.Account().PublicID}}},
			{"/signout", url.Values{}},
		}
		for _, tc := range cases {
			form := url.Values{"_account": {personal.Account().PublicID}}
			for k, v := range tc.form {
				form[k] = v
			}
			c.postRaw(tc.path, form).status(http.StatusForbidden)
			form.Set("_csrf", "not-the-token")
			c.postRaw(tc.path, form).status(http.StatusForbidden)
			// A cross-site browser request is refused even with a token field.
			req, _ := http.NewRequest(http.MethodPost, app.srv.URL+tc.path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			c.do(req).status(http.StatusForbidden)
		}
		if n := countOrgs(t, db, u.ID); n != 0 {
			t.Fatal("a forged form created an organization")
		}
		c.get("/").status(http.StatusOK).contains(u.Name).lacks("Forged Name")
		// Signing up and in need the token too.
		visitor := app.client()
		visitor.postRaw("/signup", url.Values{"name": {"X Y"}, "email": {"xy@example.com"}, "password": {"long enough password"}}).status(http.StatusForbidden)
		if _, err := models.FindUserByEmail(t.Context(), db, "xy@example.com"); err == nil {
			t.Fatal("a sign-up without a CSRF token created a user")
		}
	})
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		_, _, c := app.user(t)
		for _, path := range []string{"/", "/signin", "/nope"} {
			h := c.get(path).Header
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("%s: CSP %q lacks %q", path, csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") {
				t.Errorf("%s: CSP allows inline code", path)
			}
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" || h.Get("X-Frame-Options") != "DENY" {
				t.Errorf("%s: headers %v", path, h)
			}
		}
		// No inline script in a page.
		if strings.Contains(c.get("/").Body, "<script>") {
			t.Error("a page carries an inline script")
		}
	})
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		visitor := app.client()
		visitor.get("/no/such/page").status(http.StatusNotFound).contains(`data-testid="error-page"`)
		_, _, c := app.user(t)
		r := c.get("/no/such/page").status(http.StatusNotFound)
		r.contains(`data-testid="error-page"`).contains(`data-testid="profile-menu"`)
		c.get("/static/css/").status(http.StatusNotFound)
		c.get("/static/nope.css").status(http.StatusNotFound)
		req, _ := http.NewRequest(http.MethodDelete, app.srv.URL+"/signin", nil)
		c.do(req).status(http.StatusMethodNotAllowed)
		req, _ = http.NewRequest(http.MethodPut, app.srv.URL+"/settings/profile", nil)
		c.do(req).status(http.StatusMethodNotAllowed)
	})
}

func TestStaticAssets(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		c := app.client()
		page := c.get("/signin").doc()
		href, _ := page.Find(`link[rel="stylesheet"]`).Attr("href")
		src, _ := page.Find(`script[src]`).Attr("src")
		for _, asset := range []string{href, src} {
			r := c.get(asset).status(http.StatusOK)
			if !strings.Contains(r.Header.Get("Cache-Control"), "immutable") || len(r.Body) < 100 {
				t.Errorf("%s: cache %q, %d bytes", asset, r.Header.Get("Cache-Control"), len(r.Body))
			}
		}
		if !strings.Contains(c.get(href).Body, ".bg-indigo-600") {
			t.Error("the stylesheet lacks the classes the views use")
		}
	})
}

func TestReadiness(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ready := &handlers.Readiness{}
		app := newAppWith(t, db, &sitetest.Mailbox{}, func(cfg *handlers.Config) { cfg.Readiness = ready })
		app.client().get("/readyz").status(http.StatusOK).contains("ready")
		ready.Redis = func(context.Context) error { return errors.New("connection refused") }
		// The database counts while Redis is down: every replica stays in.
		app.client().get("/readyz").status(http.StatusOK).contains("redis unavailable")
		// A Redis that does not answer at all (its client dialing again)
		// is not waited for longer than the balancer's check allows.
		var allowed time.Duration
		ready.Redis = func(ctx context.Context) error {
			deadline, ok := ctx.Deadline()
			if allowed = time.Until(deadline); !ok {
				allowed = -1
			}
			<-ctx.Done()
			return ctx.Err()
		}
		app.client().get("/readyz").status(http.StatusOK).contains("redis unavailable")
		if allowed <= 0 || allowed > 500*time.Millisecond {
			t.Errorf("/readyz gave a silent Redis %v (-1: no deadline); the balancer gives the whole check 1 s", allowed)
		}
		ready.Redis = nil
		// A replica opening its connections at start waits before it is sent requests.
		ready.SetWarming(true)
		app.client().get("/readyz").status(http.StatusServiceUnavailable).contains("opening database connections")
		app.client().get("/healthz").status(http.StatusOK)
		ready.SetWarming(false)
		app.client().get("/readyz").status(http.StatusOK).contains("ready")
		ready.BeginDrain()
		app.client().get("/readyz").status(http.StatusServiceUnavailable).contains("draining")
		// Draining turns the replica away from the balancer, not its users.
		app.client().get("/signin").status(http.StatusOK)
		app.client().get("/healthz").status(http.StatusOK)
	})
}

func TestHealth(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		app.client().get("/healthz").status(http.StatusOK)
		before := tenancy.QueryCount()
		app.client().get("/healthz")
		if n := tenancy.QueryCount() - before; n != 0 {
			t.Errorf("the health check ran %d queries; it should only ping", n)
		}
	})
}

// proxy forwards TCP connections to PostgreSQL and can be cut and restored,
// to play a database outage.
type proxy struct {
	t      testing.TB
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newProxy(t testing.TB, target string) *proxy {
	p := &proxy{t: t, target: target}
	p.start("127.0.0.1:0")
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) start(addr string) {
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may linger briefly after stop
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", p.target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
}

func (p *proxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func TestDatabaseOutageIs503AndRecovers(t *testing.T) {
	t.Parallel()
	dsn := dbtest.PostgresURL(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, u.Host)
	u.Host = p.addr
	db := dbtest.Open(t, u.String())
	if err := tenancy.Migrate(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	app := newApp(t, db)
	_, _, c := app.user(t)
	c.get("/").status(http.StatusOK)

	p.stop()
	outage := c.get("/").status(http.StatusServiceUnavailable).contains("cannot reach its database")
	if outage.Header.Get("Retry-After") == "" {
		t.Error("a 503 during the outage has no Retry-After")
	}
	c.get("/healthz").status(http.StatusOK) // alive: restarting it would not help
	c.get("/readyz").status(http.StatusServiceUnavailable).contains("database unavailable")
	app.client().get("/signin").status(http.StatusOK) // pages without the database still render

	p.start(p.addr)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := c.get("/")
		if r.Code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d ten seconds after the database came back", r.Code)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for c.get("/readyz").Code != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("not ready ten seconds after the database came back")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestFormsMustBeText(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		_, _, c := app.user(t)
		c.post("/indexes/new", url.Values{"name": {"bad\x00name"}, "model": {"marengo"}, "marengo_options": {"visual"}}).status(http.StatusBadRequest)
		c.post("/settings/profile", url.Values{"name": {"bad\xffname"}}).status(http.StatusBadRequest)
		c.get("/indexes?q=%00").status(http.StatusBadRequest)
		c.get("/indexes?q=%FF").status(http.StatusBadRequest)
		c.get("/indexes?q=caf%C3%A9").status(http.StatusOK)
	})
}
