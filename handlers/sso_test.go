package handlers_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/crewjam/saml/samlidp"
	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// testIdP is an in-process SAML identity provider.
type testIdP struct {
	t    testing.TB
	srv  *httptest.Server
	idp  *samlidp.Server
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

func newKeyPair(t testing.TB, cn string) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

func newTestIdP(t testing.TB) *testIdP {
	t.Helper()
	i := &testIdP{t: t}
	i.key, i.cert = newKeyPair(t, "test idp")
	i.srv = httptest.NewUnstartedServer(nil)
	i.srv.Start()
	t.Cleanup(i.srv.Close)
	u, _ := url.Parse(i.srv.URL)
	var err error
	i.idp, err = samlidp.New(samlidp.Options{URL: *u, Key: i.key, Certificate: i.cert, Store: &samlidp.MemoryStore{}})
	if err != nil {
		t.Fatal(err)
	}
	i.srv.Config.Handler = i.idp
	return i
}

func (i *testIdP) do(method, path, body string) string {
	i.t.Helper()
	req, _ := http.NewRequest(method, i.srv.URL+path, strings.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		i.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		i.t.Fatalf("IdP %s %s: %d %s", method, path, res.StatusCode, b)
	}
	return string(b)
}

func (i *testIdP) metadata() string { return i.do(http.MethodGet, "/metadata", "") }

func (i *testIdP) addUser(name, email, given, surname string) {
	i.do(http.MethodPut, "/users/"+name, `{"name":"`+name+`","password":"hunter2hunter2","email":"`+email+`","given_name":"`+given+`","surname":"`+surname+`"}`)
}

// registerSP gives the IdP the organization's SP metadata, as an
// administrator would.
func (i *testIdP) registerSP(app *testApp, slug string) {
	i.t.Helper()
	r := app.client().get("/sso/" + slug + "/metadata").status(http.StatusOK)
	i.do(http.MethodPut, "/services/"+slug, r.Body)
}

// ssoSignIn goes through the real redirects and POSTs: Switchboard's login
// start, the IdP's login form, and the auto-posted response to the ACS. It
// returns the ACS's answer.
func ssoSignIn(t testing.TB, c *client, idp *testIdP, start, user string) *response {
	t.Helper()
	action, samlResponse, relay := idpAnswer(t, idp, startSSO(t, c, idp, start), user)
	return postACS(t, c, action, samlResponse, relay)
}

// startSSO GETs start (a /sso/{slug}/login or another way in) and returns
// where Switchboard sends the browser: the IdP, with the AuthnRequest.
func startSSO(t testing.TB, c *client, idp *testIdP, start string) string {
	t.Helper()
	r := c.get(start)
	if r.Code != http.StatusFound || !strings.HasPrefix(r.Header.Get("Location"), idp.srv.URL) {
		t.Fatalf("%s did not redirect to the IdP: %d %s\n%s", start, r.Code, r.Header.Get("Location"), c.app.logs.String())
	}
	return r.Header.Get("Location")
}

// browser is a browser signed in at the IdP as user.
func (i *testIdP) browser(t testing.TB, user string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	res, err := browser.PostForm(i.srv.URL+"/login", url.Values{"user": {user}, "password": {"hunter2hunter2"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("IdP login as %s: %d", user, res.StatusCode)
	}
	return browser
}

// idpAnswer has user answer the AuthnRequest at location (the IdP address
// Switchboard redirected to) and returns the IdP's auto-posting form: the
// ACS address, the SAMLResponse and the RelayState. It logs in at the IdP
// first, then follows the AuthnRequest: the request is signed for the
// HTTP-Redirect binding, which the IdP's own login form (re-posting it)
// would not carry.
func idpAnswer(t testing.TB, idp *testIdP, location, user string) (action, samlResponse, relay string) {
	t.Helper()
	return idpForm(t, idp.browser(t, user), location)
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
func ssoOrg(t testing.TB, app *testApp, jit, enforce bool) (models.User, tenancy.Scope, *client, *testIdP) {
	t.Helper()
	admin, org, ac := orgAdmin(t, app)
	idp := newTestIdP(t)
	form := url.Values{"metadata_xml": {idp.metadata()}, "domains": {"example.com"}, "default_role": {"member"}}
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
	idp.registerSP(app, org.Account().SlugOrEmpty())
	// The organization proved it owns example.com, so its IdP speaks for
	// the people there.
	if err := dbtest.Plain(t, app.db).Exec("UPDATE sso_domains SET verified_at = ? WHERE account_id = ?", time.Now().UTC(), org.AccountID()).Error; err != nil {
		t.Fatal(err)
	}
	org, _ = tenancy.LoadScope(t.Context(), app.db, admin.ID, org.Account().PublicID)
	return admin, org, ac, idp
}

func TestSSOFirstSignInWithJITThenAgain(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		_, org, _, idp := ssoOrg(t, app, true, false)
		idp.addUser("alice", "alice@example.com", "Alice", "Liddell")
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
