package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"gorm.io/gorm"

	"switchboard/handlers"
	"switchboard/handlers/sitetest"
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
func passkeySite(t *testing.T, db *gorm.DB) *site {
	t.Helper()
	box := &sitetest.Mailbox{}
	local := func(u string) string { return strings.Replace(u, "127.0.0.1", "localhost", 1) }
	srv := sitetest.New(t, db, box, func(c *handlers.Config) { c.BaseURL = local(c.BaseURL) })
	return &site{t: t, base: local(srv.URL), mail: box}
}

func (b *browser) virtualAuthenticator() {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		b.t.Fatalf("WebAuthn.enable: %v", err)
	}
	_, err := chromedp.Call(b.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
	}})
	if err != nil {
		b.t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
}

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
	b.submit(`[data-testid="add-passkey"]`, "/settings/security")
	b.wantTextContains(`[data-testid="flash"]`, "Added the passkey “Laptop”")
	b.wantText(`[data-testid="passkey-name"]`, "Laptop")
	b.screenshot(screenshotPath(t, "security-passkey-"+dbName+".png"))
	if _, ok := s.mail.Latest(email, "Switchboard security: passkey added"); !ok {
		t.Errorf("no email about the new passkey; sent: %v", subjects(s.mail))
	}

	// Passwordless: the passkey alone.
	b.signOut()
	b.wantVisible(`[data-testid="passkey-signin-button"]`)
	b.screenshot(screenshotPath(t, "signin-passkey-"+dbName+".png"))
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
	b.screenshot(screenshotPath(t, "signin-two-factor-passkey-"+dbName+".png"))
	b.submit(`[data-testid="use-passkey"]`, "/")
	b.wantText(nameSel, "Katherine Johnson")
	b.navigate(s.url("/settings/security"))
	b.wantTextContains(`[data-testid="session"]`, "Password + passkey")
	b.wantNoConsoleErrors()
}
