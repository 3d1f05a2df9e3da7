package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"gorm.io/gorm"

	"switchboard/handlers"
	"switchboard/handlers/sitetest"
	"switchboard/models"
	"switchboard/models/dbtest"
)

// TestBrowserPasskeys: with a virtual authenticator (CTAP2, built in, with
// discoverable credentials and user verification), register a passkey on
// Settings › Security, sign out, sign in with the passkey alone, sign out
// again and sign in with the password and the passkey as the second factor.
func TestBrowserPasskeys(t *testing.T) {
	chromium := chromiumPath(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*testTimeout)
	defer cancel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := passkeySite(t, db)
		b := newBrowser(ctx, t, chromium)
		b.virtualAuthenticator()
		passkeyFlow(t, b, s, filepath.Base(t.Name()))
	})
}

// passkeySite runs the dashboard at http://localhost:port: browsers offer
// WebAuthn to a domain name (localhost counts as secure), never to an IP
// address.
func passkeySite(t *testing.T, db *gorm.DB, configure ...func(*handlers.Config)) *site {
	t.Helper()
	box := &sitetest.Mailbox{}
	local := func(u string) string { return strings.Replace(u, "127.0.0.1", "localhost", 1) }
	srv := sitetest.New(t, db, box, func(c *handlers.Config) {
		c.BaseURL = local(c.BaseURL)
		for _, f := range configure {
			f(c)
		}
	})
	return &site{t: t, base: local(srv.URL), mail: box}
}

// virtualAuthenticator gives the tab a platform authenticator that keeps
// discoverable credentials and verifies its user.
func (b *browser) virtualAuthenticator() webauthn.AuthenticatorID {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		b.t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(b.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
	}})
	if err != nil {
		b.t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

// waitFor waits, a few seconds at most, until the script js is true: the
// page's scripts answer after a round trip.
func (b *browser) waitFor(js string) {
	b.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !b.evalBool(js); {
		if time.Now().After(deadline) {
			b.t.Fatalf("still false after 5s: %s", js)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// signOut signs out from the profile menu.
func (b *browser) signOut() {
	b.t.Helper()
	b.openMenuByClick()
	b.submit(`[data-testid="profile-menu"] form[action="/signout"] button`, "/signin")
}

func passkeyFlow(t *testing.T, b *browser, s *site, dbName string) {
	email := dbtest.Unique("katherine.johnson") + "@example.com"
	b.signUp(s, "Katherine Johnson", email)
	b.navigate(s.url("/settings/security"))
	b.wantVisible(`[data-testid="no-passkeys"]`)
	b.fill(`[data-testid="add-passkey-form"] input[name="name"]`, "Laptop")
	// Adding a passkey takes the password: a wrong one is refused before
	// the browser is asked for a passkey, with the message under the
	// field, which is marked invalid, emptied and focused.
	password := `[data-testid="add-passkey-form"] input[name="current_password"]`
	b.fill(password, "not my password")
	b.do(chromedp.Click(chromedp.CSS(`[data-testid="add-passkey"]`)))
	b.waitFor(`document.querySelector('#field-passkey-add-password-error') !== null`)
	b.wantText(`#field-passkey-add-password-error`, "That is not your current password.")
	if !b.evalBool(`(() => { const f = document.querySelector('` + password + `'); return f.getAttribute('aria-invalid') === 'true' && f.getAttribute('aria-describedby') === 'field-passkey-add-password-error' && document.activeElement === f && f.value === ''; })()`) {
		t.Error("the password field is not marked invalid, described by its message, emptied and focused")
	}
	if msg := b.evalBool(`document.querySelector('[data-testid="add-passkey-form"] [data-testid="passkey-message"]').textContent !== ''`); msg {
		t.Error("the wrong password is told twice: under the field and in the form's message")
	}
	b.statusWasExpected(422)
	b.shots("security-passkey-wrong-password-" + dbName)
	if n := b.evalInt(`document.querySelectorAll('[data-testid="passkey"]').length`); n != 0 {
		t.Fatalf("%d passkeys after a wrong password", n)
	}
	b.fill(password, "difference engine no. 2")
	// The first second factor comes with recovery codes, shown once.
	b.submit(`[data-testid="add-passkey"]`, "/settings/security/passkeys")
	b.wantTextContains(`[data-testid="passkey-added"]`, "Added the passkey “Laptop”")
	b.wantText(`[data-testid="passkey-name"]`, "Laptop")
	if codes := b.texts(`#recovery-codes li`); len(codes) != 10 {
		t.Fatalf("%d recovery codes shown", len(codes))
	}
	b.screenshot(screenshotPath(t, "security-passkey-"+dbName+".png"))
	b.navigate(s.url("/settings/security"))
	if _, ok := s.mail.Latest(email, "Switchboard security: passkey added"); !ok {
		t.Errorf("no email about the new passkey; sent: %v", subjects(s.mail))
	}

	// Renaming and removing open in place; removing names what is lost.
	b.do(chromedp.Click(chromedp.CSS(`[data-testid="passkey-rename"] summary`)), chromedp.Click(chromedp.CSS(`[data-testid="passkey-remove"] summary`)))
	b.wantVisible(`[data-testid="passkey-remove"] input[name="current_password"]`)
	b.shots("security-passkey-manage-" + dbName)
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid="passkey-rename"] input[name="name"]').value = ''`))
	b.fill(`[data-testid="passkey-rename"] input[name="name"]`, "Work laptop")
	b.submit(`[data-testid="passkey-rename"] button[type="submit"]`, "/settings/security")
	b.wantText(`[data-testid="passkey-name"]`, "Work laptop")

	// Passwordless: the passkey alone.
	b.signOut()
	b.wantVisible(`[data-testid="passkey-signin-button"]`)
	b.screenshot(screenshotPath(t, "signin-passkey-"+dbName+".png"))
	// A browser without WebAuthn is told so, and stays on the page.
	b.do(chromedp.Evaluate[chromedp.Void](`delete window.PublicKeyCredential; window.PublicKeyCredential = undefined`),
		chromedp.Click(chromedp.CSS(`[data-testid="passkey-signin-button"]`)))
	b.wantTextContains(`[data-testid="passkey-signin"] [data-testid="passkey-message"]`, "This browser cannot use passkeys")
	b.screenshot(screenshotPath(t, "signin-passkey-unsupported-"+dbName+".png"))
	b.navigate(s.url("/signin"))
	b.submit(`[data-testid="passkey-signin-button"]`, "/")
	b.wantText(nameSel, "Katherine Johnson")
	b.navigate(s.url("/settings/security"))
	b.wantTextContains(`[data-testid="session"]`, "Passkey")
	b.screenshot(screenshotPath(t, "security-signed-in-with-passkey-"+dbName+".png"))

	// The password, then the passkey as the second factor.
	b.signOut()
	b.fill(`#field-email`, email)
	b.fill(`#field-password`, "difference engine no. 2")
	b.submit(`[data-testid="signin-form"] button[type="submit"]`, "/signin/two-factor")
	b.wantVisible(`[data-testid="use-passkey"]`)
	b.shots("signin-two-factor-passkey-" + dbName)
	// The person cancels the browser's dialog (it answers NotAllowedError):
	// the page says so, and the step stays open.
	b.do(chromedp.Evaluate[chromedp.Void](`navigator.credentials.get = () => Promise.reject(new DOMException("cancelled", "NotAllowedError"))`),
		chromedp.Click(chromedp.CSS(`[data-testid="use-passkey"]`)))
	b.waitFor(`document.querySelector('[data-testid="second-factor-passkey"] [data-testid="passkey-message"]').textContent !== ''`)
	b.wantTextContains(`[data-testid="second-factor-passkey"] [data-testid="passkey-message"]`, "cancelled or timed out")
	b.screenshot(screenshotPath(t, "signin-two-factor-passkey-cancelled-"+dbName+".png"))
	b.navigate(s.url("/signin/two-factor"))
	b.submit(`[data-testid="use-passkey"]`, "/")
	b.wantText(nameSel, "Katherine Johnson")
	b.navigate(s.url("/settings/security"))
	b.wantTextContains(`[data-testid="session"]`, "Password + passkey")
	b.wantNoConsoleErrors()
}

// TestBrowserPasskeyPasswordServesTheApp: a quarter of an hour after
// signing in, setting up the authenticator app asks for the password; once
// adding a passkey has taken the password, the app's form asks for the
// code alone, and the code alone turns it on.
func TestBrowserPasskeyPasswordServesTheApp(t *testing.T) {
	chromium := chromiumPath(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*testTimeout)
	defer cancel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		var ahead atomic.Int64 // how far the server's clock runs ahead
		now := func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
		s := passkeySite(t, db, func(c *handlers.Config) { c.Clock = now })
		b := newBrowser(ctx, t, chromium)
		b.virtualAuthenticator()
		dbName := filepath.Base(t.Name())

		b.signUp(s, "Mary Jackson", dbtest.Unique("mary.jackson")+"@example.com")
		ahead.Store(int64(16 * time.Minute))
		b.navigate(s.url("/settings/security"))
		b.wantVisible(`#field-totp-password`)

		b.fill(`[data-testid="add-passkey-form"] input[name="name"]`, "Laptop")
		b.fill(`[data-testid="add-passkey-form"] input[name="current_password"]`, "difference engine no. 2")
		b.submit(`[data-testid="add-passkey"]`, "/settings/security/passkeys")
		b.wantTextContains(`[data-testid="passkey-added"]`, "Added the passkey “Laptop”")

		b.navigate(s.url("/settings/security"))
		if b.evalBool(`document.querySelector('#field-totp-password') !== null`) {
			t.Fatal("the app's form asks for the password that adding the passkey just took")
		}
		b.shots("security-app-after-passkey-" + dbName)
		secret := strings.TrimSpace(b.texts(`#totp-secret`)[0])
		code, err := models.TOTPCode(secret, now())
		if err != nil {
			t.Fatal(err)
		}
		b.fill(`form[action="/settings/security/totp"] input[name="code"]`, code)
		b.submit(`form[action="/settings/security/totp"] button[type="submit"]`, "/settings/security/totp")
		b.wantVisible(`[data-testid="totp-on"]`)
		b.wantNoConsoleErrors()
	})
}
