package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"switchboard/handlers/idptest"
)

// TestBrowserSSOSettingsRisks: an administrator connects an IdP in
// Settings › Single sign-on. Turning on sign-ins started at the IdP says,
// in one sentence, that they are open to login CSRF, and saving without
// ticking the confirmation is refused with the message under it and the
// form as it was. Confirmed, it saves; accepting SHA-1 signatures then
// shows a warning at the top of the form until it is turned off.
func TestBrowserSSOSettingsRisks(t *testing.T) {
	browserTest(t, testTimeout, ssoSettingsFlow)
}

func ssoSettingsFlow(t *testing.T, b *browser, s *site, dbName string) {
	idp := idptest.New(t)
	b.signUp(s, "Charles Babbage", "charles@example.com")
	b.createOrganization("Analytical Engines")
	b.navigate(s.url("/settings/sso"))
	b.wantTextContains(`[data-testid="sso-idp-initiated-risk"]`, "login CSRF")
	md, _ := json.Marshal(idp.Metadata())
	b.evalString(`document.querySelector('#field-metadata_xml').value = ` + string(md))
	b.fill(`#field-domains`, "example.com")
	b.setChecked(`input[name="allow_idp_initiated"]`, true)

	resp, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(`[data-testid="sso-form"] button[type="submit"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 422 {
		t.Fatalf("saving without the confirmation answered %d, want 422", resp.Status)
	}
	// The browser reports the 422 itself in the console: expected here.
	b.mu.Lock()
	kept := b.console[:0]
	for _, m := range b.console {
		if !strings.Contains(m, "status of 422") {
			kept = append(kept, m)
		}
	}
	b.console = kept
	b.mu.Unlock()
	b.wantTextContains(`#field-confirm_idp_initiated-error`, "login CSRF")
	if !b.evalBool(`document.querySelector('input[name="allow_idp_initiated"]').checked`) ||
		b.evalString(`document.querySelector('#field-domains').value`) != "example.com" {
		t.Fatal("the refused form lost what was entered")
	}
	if b.evalString(`document.querySelector('input[name="confirm_idp_initiated"]').getAttribute('aria-invalid')`) != "true" {
		t.Error("the unticked confirmation is not marked invalid")
	}
	b.shots("sso-settings-confirm-" + dbName)

	b.setChecked(`input[name="confirm_idp_initiated"]`, true)
	b.setChecked(`input[name="allow_sha1"]`, true)
	b.submit(`[data-testid="sso-form"] button[type="submit"]`, "/settings/sso")
	b.wantTextContains(`[data-testid="sso-sha1-warning"]`, "SHA-1 signatures are accepted")
	b.shots("sso-settings-sha1-" + dbName)

	b.setChecked(`input[name="allow_sha1"]`, false)
	b.submit(`[data-testid="sso-form"] button[type="submit"]`, "/settings/sso")
	if b.evalBool(`document.querySelector('[data-testid="sso-sha1-warning"]') !== null`) {
		t.Fatal("the SHA-1 warning stays after turning SHA-1 off")
	}
	b.wantNoConsoleErrors()
}
