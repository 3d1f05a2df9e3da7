package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"gorm.io/gorm"

	"switchboard/handlers/idptest"
	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/sso"
	"switchboard/models/tenancy"
	"switchboard/views/paths"
)

// TestBrowserSCIMManagedMembers: an administrator of an organization with
// a proved domain sees the empty Provisioning section, creates a token,
// maps a group to administrators; the identity provider provisions two
// people, one of them in that group. The members page marks both as
// managed by SCIM and offers no role change or removal for them, while the
// administrator's own row stays theirs.
func TestBrowserSCIMManagedMembers(t *testing.T) {
	chromium := chromiumPath(t)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := newSite(t, db)
		b := newBrowser(ctx, t, chromium)
		scimMembersFlow(t, b, s, db, filepath.Base(t.Name()))
	})
}

func scimMembersFlow(t *testing.T, b *browser, s *site, db *gorm.DB, dbName string) {
	email := dbtest.Unique("grace") + "@example.com"
	b.signUp(s, "Grace Admin", email)
	b.createOrganization("Provisioned Inc")

	// The organization is connected to its IdP and owns example.com.
	admin, err := models.FindUserByEmail(t.Context(), db, email)
	if err != nil {
		t.Fatal(err)
	}
	var orgID string
	if err := dbtest.Plain(t, db).Raw("SELECT public_id FROM accounts WHERE kind = 'organization' AND created_by_id = ?", admin.ID).Scan(&orgID).Error; err != nil || orgID == "" {
		t.Fatalf("the organization: %q, %v", orgID, err)
	}
	org, err := tenancy.LoadScope(t.Context(), db, admin.ID, orgID)
	if err != nil {
		t.Fatal(err)
	}
	idp := idptest.New(t)
	if _, err := sso.SaveSSOConnection(t.Context(), db, org, sso.SSOSettingsInput{
		MetadataXML: idp.Metadata(), Domains: "example.com", DefaultRole: string(tenancy.RoleMember),
	}, tenancy.Actor{UserID: admin.ID, Name: admin.Name}); err != nil {
		t.Fatal(err)
	}
	if _, err := sso.ProveSSODomainByOperator(t.Context(), db, orgID, "example.com", "test"); err != nil {
		t.Fatal(err)
	}

	// No token yet: the empty state.
	b.navigate(s.url(paths.SSOSettings()) + "#provisioning")
	b.wantVisible(`[data-testid="no-scim-tokens"]`)
	if n := b.evalInt(`document.querySelectorAll('[data-testid="scim-no-proved-domain"]').length`); n != 0 {
		t.Error("the section warns of no proved domain though example.com is proved")
	}
	b.shots("scim-empty-" + dbName)

	// A name is required: the refusal is under the field.
	b.submitExpecting(`[data-testid="scim-token-form"] button[type="submit"]`, http.StatusUnprocessableEntity)
	b.wantVisible(`[data-testid="scim-token-form"] #field-name-error`)
	if top := b.evalInt(`Math.round(document.querySelector('#field-name-error').getBoundingClientRect().top)`); top < 0 || top > 900 {
		t.Errorf("the refusal is %d px from the top of the window, out of sight", top)
	}
	b.shots("scim-token-refused-" + dbName)

	b.fill(`[data-testid="scim-token-form"] input[name="name"]`, "Microsoft Entra ID")
	b.submit(`[data-testid="scim-token-form"] button[type="submit"]`, paths.SCIMTokens())
	tokens := b.texts(`#new-scim-token`)
	if len(tokens) != 1 || !strings.HasPrefix(tokens[0], "sbscim_") {
		t.Fatalf("token shown: %q", tokens)
	}
	token := tokens[0]
	// The page comes back scrolled to the new token, not to its top.
	if top := b.evalInt(`Math.round(document.querySelector('#new-scim-token').getBoundingClientRect().top)`); top < 0 || top > 900 {
		t.Errorf("the new token is %d px from the top of the window, out of sight", top)
	}
	b.shots("scim-token-shown-" + dbName)

	// Map a group to administrators.
	b.navigate(s.url(paths.SSOSettings()))
	b.fill(`[data-testid="scim-settings-form"] input[name="admin_group"]`, "Switchboard Admins")
	b.submit(`[data-testid="scim-settings-form"] button[type="submit"]`, paths.SSOSettings())
	b.wantTextContains(`[data-testid="flash"]`, "Switchboard Admins")
	b.shots("scim-settings-" + dbName)

	// The IdP provisions two people and puts one in the administrators group.
	scimCall := func(method, path, body string, want int) map[string]any {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, s.url(path), strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != want {
			t.Fatalf("%s %s answered %d, want %d: %v", method, path, resp.StatusCode, want, out)
		}
		return out
	}
	user := func(userName, given, family string) string {
		out := scimCall(http.MethodPost, paths.SCIMUsers(), `{"userName":"`+userName+`","name":{"givenName":"`+given+`","familyName":"`+family+`"},"active":true}`, http.StatusCreated)
		id, _ := out["id"].(string)
		return id
	}
	lin := user("lin.admin@example.com", "Lin", "Admin")
	user("max.member@example.com", "Max", "Member")
	scimCall(http.MethodPost, paths.SCIMGroups(), `{"displayName":"Switchboard Admins","members":[{"value":"`+lin+`"}]}`, http.StatusCreated)

	b.navigate(s.url(paths.Members()))
	rows := b.memberRows()
	managed := b.evalInt(`document.querySelectorAll('[data-testid="member-table"] [data-testid="scim-managed"]').length`)
	if len(rows) != 3 || managed != 2 {
		t.Fatalf("%d rows, %d marked as managed by SCIM; want 3 and 2: %+v", len(rows), managed, rows)
	}
	// Managed rows offer neither a role change nor a removal; the
	// administrator's own row still offers to leave.
	if n := b.evalInt(`[...document.querySelectorAll('[data-testid="member-table"] tbody tr')].filter(r => r.querySelector('[data-testid="scim-managed"]') && r.querySelector('select, a[href$="/remove"]')).length`); n != 0 {
		t.Fatalf("%d managed rows offer a change by hand", n)
	}
	b.wantTextContains(`[data-testid="member-table"]`, "Managed by your identity provider")
	b.shots("scim-members-" + dbName)
	b.wantNoConsoleErrors()
}

// submitExpecting clicks the submit button sel and wants the page that
// comes back to have the status; the browser's own console line about that
// status is expected, not an error of the page.
func (b *browser) submitExpecting(sel string, status int64) {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatal(err)
	}
	if resp.Status != status {
		b.t.Fatalf("%s answered %d, want %d", sel, resp.Status, status)
	}
	b.statusWasExpected(status)
}

// statusWasExpected forgets the browser's console lines about responses
// with the status, which a test asked for. The lines come on their own
// from the browser, so it waits a moment for one.
func (b *browser) statusWasExpected(status int64) {
	line := fmt.Sprintf("status of %d", status)
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b.mu.Lock()
		kept := b.console[:0]
		for _, m := range b.console {
			if !strings.Contains(m, line) {
				kept = append(kept, m)
			}
		}
		dropped := len(kept) < len(b.console)
		b.console = kept
		b.mu.Unlock()
		if dropped || time.Now().After(deadline) {
			return
		}
	}
}
