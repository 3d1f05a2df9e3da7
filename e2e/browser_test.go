// Package e2e drives the real dashboard in a headless Chromium: the router
// boots in-process behind httptest, on SQLite and (with TEST_DATABASE_URL)
// PostgreSQL, and the browser goes through the pages as a person would.
package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"gorm.io/gorm"

	"switchboard/handlers"
	"switchboard/handlers/sitetest"
	"switchboard/models/dbtest"
)

// testTimeout bounds the whole browser test, both databases included.
const testTimeout = 60 * time.Second

// Selectors of the profile menu.
const (
	menuSel     = `[data-testid="profile-menu"]`
	summarySel  = `[data-testid="profile-menu"] > summary`
	switcherSel = `[data-testid="account-switcher"]`
	avatarSel   = `[data-testid="active-avatar"]`
	nameSel     = `[data-testid="active-account-name"]`
)

// TestBrowserAccountSwitcher is the acceptance flow of the account switcher:
// sign up, create an organization, and switch between the personal account
// and the organization from the profile menu, by mouse and by keyboard.
func TestBrowserAccountSwitcher(t *testing.T) {
	browserTest(t, testTimeout, accountSwitcherFlow)
}

// browserTest runs flow once per database (dbtest.Each), each time on a new
// site in a new browser, all of it within timeout.
func browserTest(t *testing.T, timeout time.Duration, flow func(t *testing.T, b *browser, s *site, dbName string)) {
	t.Helper()
	chromium := chromiumPath(t)
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := newSite(t, db)
		b := newBrowser(ctx, t, chromium)
		flow(t, b, s, filepath.Base(t.Name()))
	})
}

func accountSwitcherFlow(t *testing.T, b *browser, s *site, dbName string) {
	const (
		userName = "Ada Lovelace"
		orgName  = "Analytical Engines"
	)
	email := dbtest.Unique("ada.lovelace") + "@example.com"

	// Sign up through the form: the home page of the personal account.
	b.signUp(s, userName, email)
	b.wantText(avatarSel, "AL")
	b.wantText(nameSel, userName)
	b.wantTextContains(`[data-testid="flash"]`, "Welcome to Switchboard")
	if _, ok := s.mail.Latest(email, "Verify your email"); !ok {
		t.Errorf("no verification email to %s; sent: %v", email, subjects(s.mail))
	}

	// The menu offers "Create organization" while the user has none.
	b.createOrganization(orgName)

	// The organization is the active account now.
	b.wantText(avatarSel, "AE")
	b.wantText(nameSel, orgName)
	b.wantTextContains(`[data-testid="flash"]`, "Created "+orgName)
	if n := b.evalInt(`[...document.querySelectorAll('` + menuSel + ` a')].filter(a => a.getAttribute('href') === '/organizations/new' || a.textContent.includes('Create organization')).length`); n != 0 {
		t.Errorf("the menu still offers Create organization (%d links) after the user created one", n)
	}

	// Keyboard: focus the toggle, Enter opens the menu.
	b.do(chromedp.Focus(chromedp.CSS(summarySel)), chromedp.KeyEvent(kb.Enter))
	b.waitMenuOpen(true)
	b.wantVisible(switcherSel)
	b.wantSwitcher(userName, orgName, orgName)
	b.screenshot(screenshotPath(t, "profile-menu-"+dbName+".png"))

	// Escape closes it and gives the focus back to the toggle.
	b.do(chromedp.KeyEvent(kb.Escape))
	b.waitMenuOpen(false)
	if !b.evalBool(`document.activeElement === document.querySelector('` + summarySel + `')`) {
		t.Error("after Escape the focus is not back on the profile menu's toggle")
	}

	// A click outside closes the open menu too.
	b.openMenuByClick()
	b.do(chromedp.Click(chromedp.CSS(`main h1`)))
	b.waitMenuOpen(false)

	// Switch to the personal account from the menu.
	b.switchTo(userName, "/")
	b.wantText(avatarSel, "AL")
	b.wantText(nameSel, userName)
	b.openMenuByClick()
	b.wantSwitcher(userName, orgName, userName)

	// And back to the organization.
	b.submit(switcherRowSel(orgName), "/")
	b.wantText(avatarSel, "AE")
	b.wantText(nameSel, orgName)
	b.openMenuByClick()
	b.wantSwitcher(userName, orgName, orgName)

	b.wantNoConsoleErrors()
}

// site is the real router on db behind an httptest server.
type site struct {
	t    *testing.T
	base string
	mail *sitetest.Mailbox
}

func newSite(t *testing.T, db *gorm.DB) *site {
	t.Helper()
	return newSiteWith(t, db, func(*handlers.Config) {})
}

// newSiteWith runs the site with a configuration edit has changed.
func newSiteWith(t *testing.T, db *gorm.DB, edit func(*handlers.Config)) *site {
	t.Helper()
	box := &sitetest.Mailbox{}
	return &site{t: t, base: sitetest.New(t, db, box, edit).URL, mail: box}
}

func (s *site) url(path string) string { return s.base + path }

// browser is one headless Chromium with one tab, bound to a test.
type browser struct {
	t       *testing.T
	ctx     context.Context
	mu      sync.Mutex
	console []string // errors and exceptions the pages logged
}

// chromiumPath finds Debian's chromium: without it the test skips, except
// in CI where the browser tests are required.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium not found (%v): the browser tests must run in CI", err)
		}
		t.Skipf("chromium not found (%v); skipping the browser test outside CI", err)
	}
	return p
}

func newBrowser(parent context.Context, t *testing.T, chromium string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(parent, opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil { // starts the browser and opens the tab
		t.Fatalf("start chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.console = append(b.console, fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1))
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// do runs steps, failing the test on the first error.
func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v (at %s)", err, b.location())
	}
}

// run runs one action that returns a value.
func run[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %s: %v (at %s)", what, err, b.location())
	}
	return v
}

func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "unknown page"
	}
	return loc
}

// navigate loads url and expects a 200.
func (b *browser) navigate(u string) {
	b.t.Helper()
	resp := run(b, "navigate to "+u, chromedp.NavigateResponse(u))
	if resp.Status != 200 {
		b.t.Fatalf("GET %s: status %d", u, resp.Status)
	}
}

// submit clicks sel (a submit button or a link), waits for the navigation it
// causes and expects it to end, after any redirects, on wantPath with a 200.
func (b *browser) submit(sel, wantPath string) {
	b.t.Helper()
	if u := b.click(sel); u.Path != wantPath {
		b.t.Fatalf("click %s: landed on %s, want %s", sel, u, wantPath)
	}
}

// click clicks sel, waits for the navigation it causes and expects it to end,
// after any redirects, with a 200; it returns where it landed.
func (b *browser) click(sel string) *url.URL {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("click %s: %v (at %s)", sel, err, b.location())
	}
	u, err := url.Parse(resp.URL)
	if err != nil {
		b.t.Fatal(err)
	}
	if resp.Status != 200 {
		b.t.Fatalf("click %s: landed on %s with status %d, want 200", sel, resp.URL, resp.Status)
	}
	return u
}

// fill types text into the empty field sel once it shows.
func (b *browser) fill(sel, text string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), text))
}

// setChecked clicks the checkbox or radio sel unless it is checked already
// (or, with checked false, unless it is unchecked already).
func (b *browser) setChecked(sel string, checked bool) {
	b.t.Helper()
	if b.evalBool(fmt.Sprintf(`document.querySelector(%q).checked`, sel)) != checked {
		b.do(chromedp.Click(chromedp.CSS(sel)))
	}
	if got := b.evalBool(fmt.Sprintf(`document.querySelector(%q).checked`, sel)); got != checked {
		b.t.Fatalf("%s: checked=%t after a click, want %t", sel, got, checked)
	}
}

// texts is the trimmed text of every element matching sel, in page order.
func (b *browser) texts(sel string) []string {
	b.t.Helper()
	return run(b, "texts of "+sel, chromedp.Evaluate[[]string](
		fmt.Sprintf(`[...document.querySelectorAll(%q)].map(e => e.textContent.trim())`, sel)))
}

// signUp creates a user through the sign-up form; it lands on the home page
// of their personal account.
func (b *browser) signUp(s *site, name, email string) {
	b.t.Helper()
	b.navigate(s.url("/signup"))
	b.fill(`#field-name`, name)
	b.fill(`#field-email`, email)
	b.fill(`#field-password`, "difference engine no. 2")
	b.submit(`[data-testid="signup-form"] button[type="submit"]`, "/")
}

// createOrganization follows the profile menu's "Create organization" link
// and submits the form; the organization becomes the active account.
func (b *browser) createOrganization(name string) {
	b.t.Helper()
	b.openMenuByClick()
	b.wantVisible(`[data-testid="profile-menu"] a[href="/organizations/new"]`)
	b.submit(`[data-testid="profile-menu"] a[href="/organizations/new"]`, "/organizations/new")
	b.fill(`#field-name`, name)
	b.submit(`form[action="/organizations/new"] button[type="submit"]`, "/")
}

// switcherRowSel is the switcher's button for the account named name.
func switcherRowSel(name string) string {
	return switcherSel + ` li[data-account-name="` + name + `"] button[name="account_id"]`
}

// switchTo opens the profile menu and switches to the account named name,
// expecting to land on wantPath.
func (b *browser) switchTo(name, wantPath string) {
	b.t.Helper()
	b.openMenuByClick()
	b.submit(switcherRowSel(name), wantPath)
	b.wantText(nameSel, name)
}

func (b *browser) wantVisible(sel string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.CSS(sel)))
}

// wantText asserts the trimmed visible text of sel.
func (b *browser) wantText(sel, want string) {
	b.t.Helper()
	if got := strings.TrimSpace(run(b, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))); got != want {
		b.t.Errorf("%s shows %q, want %q", sel, got, want)
	}
}

func (b *browser) wantTextContains(sel, want string) {
	b.t.Helper()
	if got := run(b, "text of "+sel, chromedp.Text(chromedp.CSS(sel))); !strings.Contains(got, want) {
		b.t.Errorf("%s shows %q, want it to contain %q", sel, got, want)
	}
}

func (b *browser) evalBool(js string) bool {
	b.t.Helper()
	return run(b, js, chromedp.Evaluate[bool](js))
}

func (b *browser) evalInt(js string) int {
	b.t.Helper()
	return run(b, js, chromedp.Evaluate[int](js))
}

// openMenuByClick clicks the profile menu's toggle and waits for the
// switcher to show.
func (b *browser) openMenuByClick() {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(summarySel)))
	b.waitMenuOpen(true)
	b.wantVisible(switcherSel)
}

// waitMenuOpen waits until the profile menu's <details> is open or closed.
func (b *browser) waitMenuOpen(open bool) {
	b.t.Helper()
	js := fmt.Sprintf(`document.querySelector('%s').open === %t`, menuSel, open)
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		b.t.Fatalf("the profile menu did not become open=%t: %v", open, err)
	}
}

// switcherRow is one account row of the switcher, as the page shows it.
type switcherRow struct {
	Name        string `json:"name"`
	Text        string `json:"text"`
	AriaCurrent string `json:"ariaCurrent"`
	Checkmarks  int    `json:"checkmarks"`
	Visible     bool   `json:"visible"`
}

const switcherRowsJS = `[...document.querySelectorAll('[data-testid="account-switcher"] li')].map(li => {
	const b = li.querySelector('button[name="account_id"]');
	return {
		name: li.getAttribute('data-account-name') || '',
		text: b ? b.textContent.replace(/\s+/g, ' ').trim() : '',
		ariaCurrent: (b && b.getAttribute('aria-current')) || '',
		checkmarks: b ? b.querySelectorAll('svg').length : 0,
		visible: !!b && b.getClientRects().length > 0,
	};
})`

// wantSwitcher asserts the open switcher lists the personal account, then
// the organization, with exactly one row marked current, active, and the
// checkmark inside that row only.
func (b *browser) wantSwitcher(personal, org, active string) {
	b.t.Helper()
	rows := run(b, "switcher rows", chromedp.Evaluate[[]switcherRow](switcherRowsJS))
	if len(rows) != 2 {
		b.t.Fatalf("switcher has %d rows, want 2: %+v", len(rows), rows)
	}
	if rows[0].Name != personal || !strings.Contains(rows[0].Text, "Personal") {
		b.t.Errorf("first switcher row is %+v, want the personal account %q", rows[0], personal)
	}
	if rows[1].Name != org || !strings.Contains(rows[1].Text, "Organization") {
		b.t.Errorf("second switcher row is %+v, want the organization %q", rows[1], org)
	}
	current := 0
	for _, r := range rows {
		if !r.Visible {
			b.t.Errorf("switcher row %q is not visible in the open menu", r.Name)
		}
		if r.AriaCurrent != "" {
			current++
			if r.AriaCurrent != "true" || r.Name != active {
				b.t.Errorf("row %q has aria-current=%q; only %q should, with \"true\"", r.Name, r.AriaCurrent, active)
			}
		}
		wantChecks := 0
		if r.Name == active {
			wantChecks = 1
			if r.AriaCurrent != "true" {
				b.t.Errorf("the active account's row %q lacks aria-current=\"true\"", r.Name)
			}
		}
		if r.Checkmarks != wantChecks {
			b.t.Errorf("row %q has %d checkmarks, want %d", r.Name, r.Checkmarks, wantChecks)
		}
	}
	if current != 1 {
		b.t.Errorf("%d switcher rows carry aria-current, want exactly 1", current)
	}
	// Nothing outside the rows claims to be current either.
	if n := b.evalInt(`document.querySelectorAll('[data-testid="account-switcher"] [aria-current]').length`); n != 1 {
		b.t.Errorf("%d elements in the switcher carry aria-current, want 1", n)
	}
	// The checkmark is an svg inside the current row's button.
	b.do(chromedp.WaitVisible(chromedp.CSS(`[data-testid="account-switcher"] button[aria-current="true"] svg`)))
}

// screenshot saves a full-page PNG.
func (b *browser) screenshot(path string) {
	b.t.Helper()
	png := run(b, "screenshot", chromedp.FullScreenshot(100))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}

func (b *browser) wantNoConsoleErrors() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.console {
		b.t.Errorf("browser console: %s", m)
	}
}

// screenshotPath is name in $E2E_SCREENSHOTS, or in the test's temp folder.
func screenshotPath(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("E2E_SCREENSHOTS")
	if dir == "" {
		return filepath.Join(t.TempDir(), name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// subjects lists every message sent, as "to: subject".
func subjects(m *sitetest.Mailbox) []string {
	var out []string
	for _, msg := range m.Messages() {
		out = append(out, msg.To+": "+msg.Subject)
	}
	return out
}
