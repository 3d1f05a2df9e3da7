package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"gorm.io/gorm"

	"switchboard/handlers/idptest"
	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// ssoSignIn goes through the real redirects and POSTs: Switchboard's login
// start, the IdP's login form, and the auto-posted response to the ACS. It
// returns the ACS's answer.
func ssoSignIn(t testing.TB, c *client, idp *idptest.IdP, start, user string) *response {
	t.Helper()
	action, samlResponse, relay := idpAnswer(t, idp, startSSO(t, c, idp, start), user)
	return postACS(t, c, action, samlResponse, relay)
}

// startSSO GETs start (a /sso/{slug}/login or another way in) and returns
// where Switchboard sends the browser: the IdP, with the AuthnRequest.
func startSSO(t testing.TB, c *client, idp *idptest.IdP, start string) string {
	t.Helper()
	r := c.get(start)
	if r.Code != http.StatusFound || !strings.HasPrefix(r.Header.Get("Location"), idp.URL("")) {
		t.Fatalf("%s did not redirect to the IdP: %d %s\n%s", start, r.Code, r.Header.Get("Location"), c.app.logs.String())
	}
	return r.Header.Get("Location")
}

// idpAnswer has user answer the AuthnRequest at location (the IdP address
// Switchboard redirected to) and returns the IdP's auto-posting form: the
// ACS address, the SAMLResponse and the RelayState. It logs in at the IdP
// first, then follows the AuthnRequest: the request is signed for the
// HTTP-Redirect binding, which the IdP's own login form (re-posting it)
// would not carry.
func idpAnswer(t testing.TB, idp *idptest.IdP, location, user string) (action, samlResponse, relay string) {
	t.Helper()
	return idpForm(t, idp.SignedIn(t, user), location)
}

// idpForm GETs an IdP address that answers with the auto-posting response
// form and reads the form.
func idpForm(t testing.TB, browser *http.Client, location string) (action, samlResponse, relay string) {
	t.Helper()
	res, err := browser.Get(location)
	if err != nil {
		t.Fatal(err)
	}
	post, err := goquery.NewDocumentFromReader(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	action, _ = post.Find("form").Attr("action")
	samlResponse, _ = post.Find(`input[name="SAMLResponse"]`).Attr("value")
	relay, _ = post.Find(`input[name="RelayState"]`).Attr("value")
	if samlResponse == "" {
		h, _ := post.Html()
		t.Fatalf("the IdP answered no SAMLResponse (%d): %s", res.StatusCode, h)
	}
	return action, samlResponse, relay
}

// postACS posts a response to the ACS as the IdP's auto-submitting form
// would: cross-site, with no CSRF token. Like a browser, it follows the
// ACS's redirect to finish an SP-initiated sign-in (where the starting
// browser's nonce cookie is checked) and returns that answer.
func postACS(t testing.TB, c *client, action, samlResponse, relay string) *response {
	t.Helper()
	r := postACSOnly(t, c, action, samlResponse, relay)
	if r.Code == http.StatusSeeOther && strings.Contains(r.Location(), "/complete?") {
		return c.get(r.Location())
	}
	return r
}

// postACSOnly posts to the ACS and returns its own answer.
func postACSOnly(t testing.TB, c *client, action, samlResponse, relay string) *response {
	t.Helper()
	u, err := url.Parse(action)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, c.app.srv.URL+u.Path, strings.NewReader(url.Values{"SAMLResponse": {samlResponse}, "RelayState": {relay}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	return c.do(req)
}

// ssoOrg is an organization connected to a test IdP.
func ssoOrg(t testing.TB, app *testApp, jit, enforce bool) (models.User, tenancy.Scope, *client, *idptest.IdP) {
	t.Helper()
	admin, org, ac := orgAdmin(t, app)
	idp := idptest.New(t)
	form := url.Values{"metadata_xml": {idp.Metadata()}, "domains": {"example.com"}, "default_role": {"member"}}
	if jit {
		form.Set("jit", "on")
	}
	if enforce {
		form.Set("enforce", "on")
	}
	r := ac.post("/settings/sso", form)
	if r.Code != http.StatusSeeOther {
		t.Fatalf("saving SSO settings: %d\n%s\nlog:\n%s", r.Code, r.excerpt(), app.logs.String())
	}
	slug := org.Account().SlugOrEmpty()
	idp.RegisterSPFrom(slug, app.srv.URL+"/sso/"+slug+"/metadata")
	// The organization proved it owns example.com, so its IdP speaks for
	// the people there.
	if err := dbtest.Plain(t, app.db).Exec("UPDATE sso_domains SET verified_at = ? WHERE account_id = ?", time.Now().UTC(), org.AccountID()).Error; err != nil {
		t.Fatal(err)
	}
	org, _ = tenancy.LoadScope(t.Context(), app.db, admin.ID, org.Account().PublicID)
	return admin, org, ac, idp
}

func TestSSOFirstSignInWithJITThenAgain(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		_, org, _, idp := ssoOrg(t, app, true, false)
		idp.AddUser("alice", "alice@example.com", "Alice", "Liddell")
		c := app.client()
		r := ssoSignIn(t, c, idp, "/sso/"+org.Account().SlugOrEmpty()+"/login", "alice")
		r.redirectsTo("/")
		home := c.get("/").status(http.StatusOK)
		if got := activeAccount(t, home); got != org.Account().Name {
			t.Fatalf("active account %q after SSO", got)
		}
		alice, err := models.FindUserByEmail(t.Context(), db, "alice@example.com")
		if err != nil || alice.Name != "Alice Liddell" || !alice.Verified() || alice.PasswordHash != "" {
			t.Fatalf("provisioned user %+v, %v", alice, err)
		}
		// The personal account is there too, in the switcher.
		if home.doc().Find(`[data-testid="account-switcher"] button[name="account_id"]`).Length() != 2 {
			t.Fatal("the provisioned user has no personal account in the switcher")
		}
		// A second sign-in reuses the user and the membership.
		c2 := app.client()
		ssoSignIn(t, c2, idp, "/sso/"+org.Account().SlugOrEmpty()+"/login", "alice").redirectsTo("/")
		var n int64
		dbtest.Plain(t, db).Model(&models.User{}).Where("email = ?", "alice@example.com").Count(&n)
		if n != 1 {
			t.Fatalf("%d users for one email", n)
		}
	})
}
