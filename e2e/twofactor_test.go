package e2e

import (
	"strings"
	"testing"
	"time"

	"switchboard/models"
)

// TestBrowserTOTP: set up an authenticator app (the test computes the
// codes), sign out, and sign in with the password and then a code.
func TestBrowserTOTP(t *testing.T) {
	browserTest(t, testTimeout, func(t *testing.T, b *browser, s *site, dbName string) {
		email := "grace." + strings.ToLower(dbName) + "." + time.Now().Format("150405.000000") + "@example.com"
		b.signUp(s, "Grace Hopper", email)
		b.navigate(s.url("/settings/security"))
		b.wantVisible(`img[alt="QR code for your authenticator app"]`)
		secret := strings.TrimSpace(b.texts(`#totp-secret`)[0])
		b.screenshot(screenshotPath(t, "security-enrol-"+dbName+".png"))
		code, err := models.TOTPCode(secret, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		b.fill(`form[action="/settings/security/totp"] input[name="code"]`, code)
		// The codes are the answer to the POST itself, never stored to be shown later.
		b.submit(`form[action="/settings/security/totp"] button[type="submit"]`, "/settings/security/totp")
		if codes := b.texts(`#recovery-codes li`); len(codes) != 10 {
			t.Fatalf("%d recovery codes shown", len(codes))
		}
		b.screenshot(screenshotPath(t, "security-recovery-codes-"+dbName+".png"))

		// Sign out from the profile menu.
		b.openMenuByClick()
		b.submit(`[data-testid="profile-menu"] form[action="/signout"] button`, "/signin")
		b.fill(`#field-email`, email)
		b.fill(`#field-password`, "difference engine no. 2")
		b.submit(`[data-testid="signin-form"] button[type="submit"]`, "/signin/two-factor")
		b.screenshot(screenshotPath(t, "signin-two-factor-"+dbName+".png"))
		// The code of the next step: the one used to enrol is spent.
		next, err := models.TOTPCode(secret, time.Now().Add(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		b.fill(`#field-code`, next)
		b.submit(`[data-testid="second-factor-form"] button[type="submit"]`, "/")
		b.wantText(nameSel, "Grace Hopper")
		b.navigate(s.url("/settings/security"))
		b.wantTextContains(`[data-testid="session"]`, "Password + 2FA")
		b.screenshot(screenshotPath(t, "security-on-"+dbName+".png"))
		b.wantNoConsoleErrors()
	})
}
