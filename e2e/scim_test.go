package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"switchboard/models/dbtest"
	"switchboard/views/paths"
)

// TestBrowserSCIMToken: an administrator creates a SCIM token on Settings ›
// Single sign-on, sees it once, and revokes it after confirming.
func TestBrowserSCIMToken(t *testing.T) {
	browserTest(t, testTimeout, scimTokenFlow)
}

func scimTokenFlow(t *testing.T, b *browser, s *site, dbName string) {
	b.signUp(s, "Ida Admin", dbtest.Unique("ida")+"@example.com")
	b.createOrganization("Provisioned Inc")
	b.navigate(s.url(paths.SSOSettings()))
	b.wantTextContains(`[data-testid="scim-provisioning"] h2`, "Provisioning")
	// No domain is proved: the section says what that leaves the IdP.
	b.wantTextContains(`[data-testid="scim-no-proved-domain"]`, "cannot add anyone new")
	b.fill(`[data-testid="scim-token-form"] input[name="name"]`, "Okta")
	b.submit(`[data-testid="scim-token-form"] button[type="submit"]`, paths.SCIMTokens())
	b.wantVisible(`#new-scim-token`)
	if token := b.texts(`#new-scim-token`); len(token) != 1 || !strings.HasPrefix(token[0], "sbscim_") {
		t.Fatalf("token shown: %q", token)
	}
	b.shots("scim-token-" + dbName)
	// Reloading the settings shows the token's name, not the token.
	b.navigate(s.url(paths.SSOSettings()))
	b.wantTextContains(`[data-testid="scim-token"]`, "Okta")
	if n := b.evalInt(`document.querySelectorAll("#new-scim-token").length`); n != 0 {
		t.Fatal("the token is shown again")
	}
	// Revoking asks first; accepting revokes.
	if !b.evalBool(`(window.confirm = function (m) { window.__asked = m; return true; }, true)`) {
		t.Fatal("could not answer the confirmation")
	}
	b.submit(`[data-testid="scim-token"] form button[type="submit"]`, paths.SSOSettings())
	b.wantVisible(`[data-testid="no-scim-tokens"]`)
	b.shots("scim-revoked-" + filepath.Base(dbName))
	b.wantNoConsoleErrors()
}
