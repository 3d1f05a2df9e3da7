package handlers_test

import (
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"switchboard/handlers"
	"switchboard/handlers/mail"
	"switchboard/handlers/sitetest"
	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/sso"
	"switchboard/models/tenancy"
	"switchboard/models/usage"
)

// testApp is the real router on a real database behind httptest.
type testApp struct {
	t     testing.TB
	usage *usage.UsageRecorder
	e     *echo.Echo
	db    *gorm.DB
	srv   *httptest.Server
	mail  *sitetest.Mailbox
	logs  *sitetest.Log
}

func newApp(t testing.TB, db *gorm.DB, configure ...func(*handlers.Config)) *testApp {
	t.Helper()
	box := &sitetest.Mailbox{}
	app := newAppWith(t, db, box, configure...)
	app.mail = box
	return app
}

// newAppWith runs the router with another mailer (app.mail stays nil).
func newAppWith(t testing.TB, db *gorm.DB, mailer mail.Mailer, configure ...func(*handlers.Config)) *testApp {
	t.Helper()
	site := sitetest.New(t, db, mailer, configure...)
	return &testApp{t: t, db: db, logs: site.Log, usage: site.Usage, e: site.Echo, srv: site.Server}
}

// client is one browser: its own cookie jar, redirects not followed so each
// hop can be asserted.
type client struct {
	t    testing.TB
	app  *testApp
	http *http.Client
}

func (a *testApp) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: a.t, app: a, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// clientFrom is a browser whose connections come from address, a loopback
// address (127.0.0.0/8): the server sees it as the client's address.
func (a *testApp) clientFrom(address string) *client {
	c := a.client()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(address)}}
	transport := &http.Transport{DialContext: dialer.DialContext}
	a.t.Cleanup(transport.CloseIdleConnections)
	c.http.Transport = transport
	return c
}

// manualClock is a clock that tests move by hand.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2031, 3, 14, 15, 9, 0, 0, time.UTC)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// earlyInAMinute returns early in a wall-clock minute, waiting for the next
// one if less than 20 s of this one remain. The API's budget is per minute: a
// test that spends a small budget and expects the refusal after it would see
// the budget renewed if its requests straddled a minute's end.
func earlyInAMinute() {
	if now := time.Now(); now.Second() >= 40 {
		time.Sleep(now.Truncate(time.Minute).Add(time.Minute + time.Second).Sub(now))
	}
}

// response is an answer with its body read.
type response struct {
	t      testing.TB
	Code   int
	Header http.Header
	Body   string
}

// Location is the redirect target's path and query.
func (r *response) Location() string {
	loc := r.Header.Get("Location")
	if u, err := url.Parse(loc); err == nil {
		return u.RequestURI()
	}
	return loc
}

// status fails the test, showing the body, unless the code is want.
func (r *response) status(want int) *response {
	r.t.Helper()
	if r.Code != want {
		r.t.Fatalf("status %d, want %d; body:\n%s", r.Code, want, r.excerpt())
	}
	return r
}

// redirectsTo asserts a 303 to path.
func (r *response) redirectsTo(path string) *response {
	r.t.Helper()
	r.status(http.StatusSeeOther)
	if got := r.Location(); got != path {
		r.t.Fatalf("redirect to %q, want %q", got, path)
	}
	return r
}

// excerpt is the page's main content (or its start), for failure messages.
func (r *response) excerpt() string {
	body := r.Body
	if i := strings.Index(body, `<main`); i >= 0 {
		body = body[i:]
	}
	if len(body) > 4000 {
		body = body[:4000] + "…"
	}
	return body
}

// doc parses the body.
func (r *response) doc() *goquery.Document {
	r.t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(r.Body))
	if err != nil {
		r.t.Fatal(err)
	}
	return d
}

// duplicateIDs are the id attributes that more than one element of the
// page carries, sorted.
func duplicateIDs(d *goquery.Document) []string {
	seen := map[string]int{}
	d.Find("[id]").Each(func(_ int, s *goquery.Selection) {
		id, _ := s.Attr("id")
		seen[id]++
	})
	var dups []string
	for id, n := range seen {
		if n > 1 {
			dups = append(dups, id)
		}
	}
	sort.Strings(dups)
	return dups
}

// contains asserts the body mentions s.
func (r *response) contains(s string) *response {
	r.t.Helper()
	if !strings.Contains(r.Body, s) {
		r.t.Fatalf("body lacks %q:\n%s", s, r.excerpt())
	}
	return r
}

// lacks asserts the body does not mention s.
func (r *response) lacks(s string) *response {
	r.t.Helper()
	if strings.Contains(r.Body, s) {
		r.t.Fatalf("body mentions %q", s)
	}
	return r
}

func (c *client) do(req *http.Request) *response {
	c.t.Helper()
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return &response{t: c.t, Code: res.StatusCode, Header: res.Header, Body: string(b)}
}

func (c *client) get(path string) *response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.app.srv.URL+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do(req)
}

// follow GETs path and follows redirects, returning the last answer.
func (c *client) follow(path string) *response {
	c.t.Helper()
	r := c.get(path)
	for i := 0; i < 10 && r.Code >= 300 && r.Code < 400; i++ {
		r = c.get(r.Location())
	}
	return r
}

// guard reads the hidden _csrf and _account fields a page's forms carry.
func (c *client) guard(from string) url.Values {
	c.t.Helper()
	page := c.follow(from)
	d := page.doc()
	v := url.Values{}
	if tok, ok := d.Find(`input[name="_csrf"]`).First().Attr("value"); ok {
		v.Set("_csrf", tok)
	} else {
		c.t.Fatalf("no _csrf field on %s (status %d)", from, page.Code)
	}
	if acct, ok := d.Find(`input[name="_account"]`).First().Attr("value"); ok {
		v.Set("_account", acct)
	}
	return v
}

// post submits form as the page at from (default: path) would, with its
// _csrf and _account; fields in form win.
func (c *client) post(path string, form url.Values, from ...string) *response {
	c.t.Helper()
	src := path
	if len(from) > 0 {
		src = from[0]
	}
	body := c.guard(src)
	for k, vs := range form {
		body[k] = vs
	}
	return c.postRaw(path, body)
}

// postRaw submits exactly form, with no guard fields added.
func (c *client) postRaw(path string, form url.Values) *response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.app.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// signUp creates an account through the form and leaves the client signed in.
func (c *client) signUp(name, email string) *response {
	c.t.Helper()
	r := c.post("/signup", url.Values{"name": {name}, "email": {email}, "password": {dbtest.Password}})
	return r.redirectsTo("/")
}

// signIn signs in with the factories' password.
func (c *client) signIn(email string) {
	c.t.Helper()
	c.post("/signin", url.Values{"email": {email}, "password": {dbtest.Password}}).redirectsTo("/")
}

// switchTo makes the account active through the profile menu's form.
func (c *client) switchTo(accountPublicID string) *response {
	c.t.Helper()
	return c.post("/accounts/switch", url.Values{"account_id": {accountPublicID}}, "/")
}

// activeAccount is the name on the switcher's row marked aria-current.
func activeAccount(t testing.TB, r *response) string {
	t.Helper()
	sel := r.doc().Find(`[data-testid="account-switcher"] button[aria-current="true"]`)
	if sel.Length() != 1 {
		t.Fatalf("%d switcher rows are marked active, want 1", sel.Length())
	}
	return strings.TrimSpace(sel.Find("span.min-w-0 span").First().Text())
}

// userScope signs up a user through the models and returns a signed-in
// client for them.
func (a *testApp) user(t testing.TB) (models.User, tenancy.Scope, *client) {
	t.Helper()
	u, scope := dbtest.User(t, a.db)
	c := a.client()
	c.signIn(u.Email)
	return u, scope, c
}

// ssoAccountOf is the account of scope as single sign-on knows it.
func ssoAccountOf(_ testing.TB, _ *gorm.DB, scope tenancy.Scope) sso.SSOAccount {
	return sso.SSOAccount{Account: scope.Account()}
}
