package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"gorm.io/gorm"

	"switchboard/handlers/idptest"
	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/sso"
	"switchboard/models/tenancy"
)

// ssoTestTimeout bounds TestBrowserSSOSignIn, both databases included.
const ssoTestTimeout = 60 * time.Second

// TestBrowserSSOSignIn: an organization signs its members in through its
// SAML identity provider (an in-process crewjam samlidp). A person who has
// never used Switchboard, already signed in at the IdP, opens the sign-in
// page, chooses "Sign in with SSO" and types their work email; the browser
// follows the redirect with the AuthnRequest to the IdP and the IdP's
// auto-posted response back to the ACS, and lands in the organization: its
// name and initials in the profile menu, the checkmark on its row of the
// switcher, the personal account beside it.
//
// The IdP runs at http://localhost:port and Switchboard at
// http://127.0.0.1:port: two sites, so the response comes back in a
// cross-site POST, without Switchboard's SameSite=Lax cookies, as in
// production.
func TestBrowserSSOSignIn(t *testing.T) {
	chromium := chromiumPath(t)
	ctx, cancel := context.WithTimeout(t.Context(), ssoTestTimeout)
	defer cancel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := newSite(t, db)
		b := newBrowser(ctx, t, chromium)
		ssoSignInFlow(t, b, s, db, filepath.Base(t.Name()))
	})
}

func ssoSignInFlow(t *testing.T, b *browser, s *site, db *gorm.DB, dbName string) {
	const (
		orgName  = "Analytical Engines"
		userName = "Ada Lovelace"
		email    = "ada.lovelace@example.com"
	)
	// The organization, administered by someone else, connected to its IdP
	// with just-in-time provisioning in its proved domain.
	owner, _ := dbtest.UserNamed(t, db, "Charles Babbage", "charles.babbage@example.com")
	acct, err := models.CreateOrganization(t.Context(), db, owner.ID, orgName)
	if err != nil {
		t.Fatal(err)
	}
	org, err := tenancy.LoadScope(t.Context(), db, owner.ID, acct.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	// The IdP is http://localhost:port to browsers: another site than
	// Switchboard's 127.0.0.1.
	idp := idptest.NewWith(t, idptest.Options{Host: "localhost"})
	if _, err := sso.SaveSSOConnection(t.Context(), db, org, sso.SSOSettingsInput{
		MetadataXML: idp.Metadata(), Domains: "example.com, engines.example", JIT: true, DefaultRole: string(tenancy.RoleMember),
	}, tenancy.Actor{UserID: owner.ID, Name: owner.Name}); err != nil {
		t.Fatalf("save the SSO connection: %v", err)
	}
	// The organization owns example.com, as its operator attests.
	if _, err := sso.ProveSSODomainByOperator(t.Context(), db, acct.PublicID, "example.com", "test"); err != nil {
		t.Fatal(err)
	}
	idp.RegisterSPFrom(acct.SlugOrEmpty(), s.url("/sso/"+acct.SlugOrEmpty()+"/metadata"))
	idp.AddUser("ada", email, "Ada", "Lovelace")

	// Every document the browser loads or posts, redirects included.
	var mu sync.Mutex
	var documents []string
	if err := chromedp.Listen(b.ctx, func(ev any) {
		if ev, ok := ev.(*network.EventRequestWillBeSent); ok && ev.Type == network.ResourceTypeDocument {
			mu.Lock()
			documents = append(documents, ev.Request.Method+" "+ev.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}

	// Ada is signed in at her IdP already, from its own login form. (The
	// AuthnRequest is signed for the HTTP-Redirect binding; samlidp's login
	// form in the middle of a flow re-posts it without the signature, which
	// samlidp itself then refuses.)
	b.navigate(idp.URL("/login"))
	b.fill(`input[name="user"]`, "ada")
	b.fill(`input[name="password"]`, idptest.Password)
	if u := b.click(`form input[type="submit"]`); u.Path != "/login" {
		t.Fatalf("the IdP's login form landed on %s", u)
	}
	b.wantTextContains(`body`, email) // samlidp answers with the session

	// Sign in with SSO from Switchboard's sign-in page.
	b.navigate(s.url("/signin"))
	b.submit(`a[data-testid="sso-link"]`, "/signin/sso")
	b.wantText(`main h1, h1`, "Sign in with SSO")
	b.fill(`#field-email`, email)
	b.shots("sso-discovery-" + dbName)
	mu.Lock()
	documents = nil
	mu.Unlock()
	// Continue: the browser goes to the IdP and comes back by the IdP's
	// auto-submitted form; wait for the first page of Switchboard's after it.
	landed := run(b, "Continue to the IdP and back", chromedp.WaitEvent(page.FrameNavigated, func(ev page.EventFrameNavigated) bool {
		return ev.Frame.ParentID == "" && strings.HasPrefix(ev.Frame.URL, s.base+"/")
	}, chromedp.Click(chromedp.CSS(`[data-testid="sso-discovery"] button[type="submit"]`))))
	mu.Lock()
	trail := append([]string(nil), documents...)
	mu.Unlock()
	if landed.Frame.URL != s.url("/") {
		t.Fatalf("SSO sign-in landed on %s, want %s; documents: %q\npage: %s", landed.Frame.URL, s.url("/"), trail, b.evalString(`document.body.innerText`))
	}
	// FrameNavigated fires when the new document commits, before it has
	// loaded; a query for its nodes then can meet the old document's node
	// ids. Wait, by script, until the landed page has loaded.
	b.waitFor(fmt.Sprintf(`document.readyState === "complete" && location.href === %q`, landed.Frame.URL))
	slug := acct.SlugOrEmpty()
	want := []string{
		"POST " + s.url("/signin/sso"),
		"GET " + s.url("/sso/"+slug+"/login"),
		"GET " + idp.URL("/sso?SAMLRequest="),
		"POST " + s.url("/sso/"+slug+"/acs"),
		"GET " + s.url("/sso/"+slug+"/complete?request="),
		"GET " + s.url("/"),
	}
	if len(trail) != len(want) {
		t.Errorf("the browser loaded %q, want %q (the IdP's page by its query)", trail, want)
	} else {
		for i := range want {
			if !strings.HasPrefix(trail[i], want[i]) {
				t.Errorf("document %d of the sign-in is %q, want %q…", i+1, trail[i], want[i])
			}
		}
	}

	// The organization is the active account: name, initials, checkmark.
	b.wantText(avatarSel, initials(orgName))
	b.wantText(nameSel, orgName)
	b.shots("sso-landed-" + dbName)
	b.openMenuByClick()
	b.wantSwitcher(userName, orgName, orgName)
	b.shots("sso-switcher-" + dbName)

	// Just-in-time provisioning made Ada a verified user and a member.
	ada, err := models.FindUserByEmail(t.Context(), db, email)
	if err != nil || ada.Name != userName || !ada.Verified() {
		t.Errorf("the SSO sign-in provisioned %+v (%v), want %s, verified", ada, err, userName)
	}

	// The owner's SSO page tells the proved domain from the unproved one.
	// (The profile menu is still open.)
	b.submit(`form[action="/signout"] button[type="submit"]`, "/signin")
	b.fill(`#field-email`, owner.Email)
	b.fill(`#field-password`, dbtest.Password)
	b.submit(`form[action="/signin"] button[type="submit"]`, "/")
	b.switchTo(orgName, "/")
	b.navigate(s.url("/settings/sso"))
	if got := b.texts(`[data-testid="sso-domain"] > div`); len(got) != 2 || !strings.Contains(got[0], "engines.example") || !strings.Contains(got[0], "Not proved") ||
		!strings.Contains(got[1], "example.com") || !strings.Contains(got[1], "Proved") || strings.Contains(got[1], "Not proved") {
		t.Errorf("the SSO page's domains read %q, want engines.example not proved, then example.com proved", got)
	}
	b.wantTextContains(`[data-testid="sso-domain-help"]`, "Only a proved domain")
	b.shots("sso-domains-" + dbName)
	// The owner's profile offers to link an identity at the organization's
	// IdP.
	b.navigate(s.url("/settings/profile"))
	b.wantTextContains(`[data-testid="sso-link"]`, orgName)
	b.wantTextContains(`[data-testid="sso-link"]`, "Not linked")
	b.shots("sso-profile-links-" + dbName)
	b.wantNoConsoleErrors()
}
