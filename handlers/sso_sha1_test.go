package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
	"gorm.io/gorm"

	"switchboard/handlers/idptest"
	"switchboard/models/dbtest"
	"switchboard/models/sso"
	"switchboard/models/tenancy"
)

// sha1Forgeries are responses from the trusted key that use SHA-1 in some
// signature: each is refused unless the connection allows SHA-1.
var sha1Forgeries = []struct {
	name string
	edit func(testing.TB, *forgery)
}{
	{"RSA-SHA1 signatures on the response and the assertion", func(_ testing.TB, f *forgery) { f.signing = signAlgorithms{rsaSHA1: true} }},
	{"RSA-SHA1 on the assertion only, the response unsigned", func(_ testing.TB, f *forgery) {
		f.signing, f.signResponse = signAlgorithms{rsaSHA1: true}, false
	}},
	{"RSA-SHA256 signatures over SHA-1 digests", func(_ testing.TB, f *forgery) { f.signing = signAlgorithms{sha1Digests: true} }},
	{"SHA-1 digests in an encrypted assertion", func(t testing.TB, f *forgery) {
		f.signing, f.signResponse = signAlgorithms{sha1Digests: true}, false
		f.encryptTo = spEncryptionCert(t, f.sp)
	}},
}

// allowSHA1 saves the env's settings with SHA-1 allowed or not.
func (e *ssoEnv) allowSHA1(t testing.TB, on bool) *response {
	t.Helper()
	f := ssoSetup{jit: true}.form(e.idp.Metadata())
	if on {
		f.Set("allow_sha1", "on")
	}
	return e.ac.post("/settings/sso", f)
}

func TestSSORefusesSHA1UnlessTheConnectionAllowsIt(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := connectSSO(t, app, nil, ssoSetup{jit: true})
		signIn := func(email string, edit func(testing.TB, *forgery)) (*response, acsWatch) {
			c := app.client()
			f := env.forge(t, env.request(t, c), email)
			if edit != nil {
				edit(t, &f)
			}
			w := watchACS(t, app)
			return postACS(t, c, env.acs(), f.encode(t), ""), w
		}

		// By default every SHA-1 signature or digest is refused, and the
		// log says so.
		for _, tc := range sha1Forgeries {
			r, w := signIn("alice@example.com", tc.edit)
			w.refused(r, http.StatusForbidden, "SHA-1", "RSA-SHA256")
			if n := countRows(t, db, "users", "email = ?", "alice@example.com"); n != 0 {
				t.Fatalf("%s: a user was created", tc.name)
			}
		}
		// SHA-256 is still accepted.
		r, w := signIn("alice@example.com", nil)
		w.accepted(r)

		// A regular member cannot allow SHA-1.
		_, mc := app.member(t, env.org, tenancy.RoleMember)
		f := ssoSetup{jit: true}.form(env.idp.Metadata())
		f.Set("allow_sha1", "on")
		mc.post("/settings/sso", f, "/").status(http.StatusForbidden)
		page := env.ac.get("/settings/sso").status(http.StatusOK)
		if page.doc().Find(`[data-testid="sso-sha1-warning"]`).Length() != 0 {
			t.Fatal("the settings warn about SHA-1 while it is refused")
		}

		// An administrator allows it: audited, and the page warns.
		if r := env.allowSHA1(t, true); r.Code != http.StatusSeeOther {
			t.Fatalf("allowing SHA-1: %d\n%s", r.Code, r.excerpt())
		}
		if n := countRows(t, db, "audit_events", "account_id = ? AND action = ?", env.org.AccountID(), sso.AuditSSOSHA1Allowed); n != 1 {
			t.Fatalf("%d sso.sha1_allowed events", n)
		}
		page = env.ac.get("/settings/sso").status(http.StatusOK)
		warning := page.doc().Find(`[data-testid="sso-sha1-warning"]`)
		if warning.Length() != 1 || !strings.Contains(warning.Text(), "SHA-1") {
			t.Fatalf("no SHA-1 warning on the settings page:\n%s", page.excerpt())
		}
		if _, on := page.doc().Find(`input[name="allow_sha1"]`).Attr("checked"); !on {
			t.Fatal("the allow_sha1 box is not checked")
		}
		for i, tc := range sha1Forgeries {
			r, w := signIn("legacy"+string(rune('a'+i))+"@example.com", tc.edit)
			if r.Code != http.StatusSeeOther || r.Location() != "/" {
				t.Fatalf("%s allowed: %d %s\n%s", tc.name, r.Code, r.Location(), app.logs.String()[w.mark:])
			}
			w.accepted(r)
		}
		r, w = signIn("bob@example.com", nil)
		w.accepted(r)

		// Saving again changes nothing; turning it off is audited too and
		// refuses SHA-1 again.
		env.allowSHA1(t, true).status(http.StatusSeeOther)
		env.allowSHA1(t, false).status(http.StatusSeeOther)
		if n := countRows(t, db, "audit_events", "account_id = ? AND action = ?", env.org.AccountID(), sso.AuditSSOSHA1Allowed); n != 1 {
			t.Fatalf("%d sso.sha1_allowed events after saving twice", n)
		}
		if n := countRows(t, db, "audit_events", "account_id = ? AND action = ?", env.org.AccountID(), sso.AuditSSOSHA1Refused); n != 1 {
			t.Fatalf("%d sso.sha1_refused events", n)
		}
		r, w = signIn("carol@example.com", sha1Forgeries[0].edit)
		w.refused(r, http.StatusForbidden, "SHA-1")
	})
}

// An IdP that signs with RSA-SHA1: the connection test says why a real
// sign-in would be refused and what to change.
func TestSSOTestTheConnectionExplainsSHA1(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		idp := idptest.NewWith(t, idptest.Options{SignatureMethod: dsig.RSASHA1SignatureMethod})
		env := connectSSO(t, app, idp, ssoSetup{jit: true})
		idp.AddUser("alice", "alice@example.com", "Alice", "Liddell")
		test := func() string {
			t.Helper()
			r := env.ac.post("/settings/sso/test", nil, "/settings/sso")
			if r.Code != http.StatusFound {
				t.Fatalf("the test did not start: %d", r.Code)
			}
			_, samlResponse, _ := idpAnswer(t, idp, r.Header.Get("Location"), "alice")
			r = postACS(t, env.ac, env.acs(), samlResponse, "")
			if r.Code != http.StatusSeeOther || !strings.HasPrefix(r.Location(), "/settings/sso/test/") {
				t.Fatalf("the ACS answered a test with %d %s", r.Code, r.Location())
			}
			return r.Location()
		}
		result := env.ac.get(test()).status(http.StatusOK)
		refusal := result.doc().Find(`[data-testid="sso-test-refusal"]`).Text()
		for _, want := range []string{"SHA-1", "rsa-sha1", "RSA-SHA256", "allow SHA-1 in this connection's settings"} {
			if !strings.Contains(refusal, want) {
				t.Errorf("the refusal does not say %q: %q", want, refusal)
			}
		}
		// Allowed, the same IdP's sign-in works.
		env.allowSHA1(t, true).status(http.StatusSeeOther)
		result = env.ac.get(test()).status(http.StatusOK)
		if ok := result.doc().Find(`[data-testid="sso-test-ok"]`).Text(); !strings.Contains(ok, "alice@example.com") {
			t.Fatalf("with SHA-1 allowed the test still fails:\n%s", result.excerpt())
		}
		// A real sign-in too.
		c := app.client()
		if r := ssoSignIn(t, c, idp, env.login(), "alice"); r.Code != http.StatusSeeOther || r.Location() != "/" {
			t.Fatalf("sign-in with SHA-1 allowed: %d %s", r.Code, r.Location())
		}
	})
}

// Turning IdP-initiated sign-in on says why it is risky and takes a
// confirmation: without it, 422 and nothing saved.
func TestSSOIdPInitiatedNeedsAConfirmation(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := connectSSO(t, app, nil, ssoSetup{jit: true})
		page := env.ac.get("/settings/sso").status(http.StatusOK)
		risk := page.doc().Find(`[data-testid="sso-idp-initiated-risk"]`)
		if !strings.Contains(risk.Text(), "login CSRF") || risk.Find(`input[type="checkbox"][name="confirm_idp_initiated"]`).Length() != 1 {
			t.Fatalf("no risk sentence and confirmation on the settings page:\n%s", page.excerpt())
		}
		f := ssoSetup{jit: true, domains: "example.com, example.net"}.form(env.idp.Metadata())
		f.Set("allow_idp_initiated", "on")
		r := env.ac.post("/settings/sso", f).status(http.StatusUnprocessableEntity)
		if msg := r.doc().Find("#field-confirm_idp_initiated-error").Text(); !strings.Contains(msg, "login CSRF") {
			t.Fatalf("confirmation error %q\n%s", msg, r.excerpt())
		}
		if r.doc().Find(`[data-testid="error-summary"]`).Length() != 1 {
			t.Error("no error summary")
		}
		if _, on := r.doc().Find(`input[name="allow_idp_initiated"]`).Attr("checked"); !on {
			t.Error("the form lost the checked IdP-initiated box")
		}
		if got := r.doc().Find("#field-domains").AttrOr("value", ""); got != "example.com, example.net" {
			t.Errorf("the form lost the domains: %q", got)
		}
		if n := countRows(t, db, "sso_connections", "account_id = ? AND allow_idp_initiated = ?", env.org.AccountID(), true); n != 0 {
			t.Fatal("turned on without the confirmation")
		}
		// An unsolicited response is still refused.
		w := watchACS(t, app)
		w.refused(postACS(t, app.client(), env.acs(), env.forge(t, "", "alice@example.com").encode(t), ""), http.StatusForbidden, "IdP-initiated sign-in is off")

		// Confirmed, it is on; saving again with it on asks nothing more.
		f.Set("confirm_idp_initiated", "on")
		env.ac.post("/settings/sso", f).status(http.StatusSeeOther)
		page = env.ac.get("/settings/sso").status(http.StatusOK)
		if _, on := page.doc().Find(`input[name="confirm_idp_initiated"]`).Attr("checked"); !on {
			t.Error("the saved setting does not show the confirmation checked")
		}
		f.Del("confirm_idp_initiated")
		env.ac.post("/settings/sso", f).status(http.StatusSeeOther)
		if n := countRows(t, db, "sso_connections", "account_id = ? AND allow_idp_initiated = ?", env.org.AccountID(), true); n != 1 {
			t.Fatal("IdP-initiated sign-in is not on")
		}
		// Off, then on again: confirm again.
		f.Del("allow_idp_initiated")
		env.ac.post("/settings/sso", f).status(http.StatusSeeOther)
		f.Set("allow_idp_initiated", "on")
		env.ac.post("/settings/sso", f).status(http.StatusUnprocessableEntity)
	})
}

// An attribute whose FriendlyName is "email" does not decide the address;
// a response with two addresses is refused, whatever their order.
func TestSSORefusesTwoEmailsInOneResponse(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := connectSSO(t, app, nil, ssoSetup{jit: true})
		evil := func(name, friendly, value string) saml.Attribute {
			return saml.Attribute{Name: name, FriendlyName: friendly, NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
				Values: []saml.AttributeValue{{Type: "xs:string", Value: value}}}
		}
		for _, tc := range []struct {
			name string
			edit func(*saml.Assertion)
		}{
			{"an attribute named otherwise, FriendlyName email, first", func(a *saml.Assertion) {
				a.AttributeStatements[0].Attributes = append([]saml.Attribute{evil("urn:x:evil", "email", "boss@example.com")}, a.AttributeStatements[0].Attributes...)
			}},
			{"the same, in a statement of its own", func(a *saml.Assertion) {
				a.AttributeStatements = append([]saml.AttributeStatement{{Attributes: []saml.Attribute{evil("urn:x:evil", "mail", "boss@example.com")}}}, a.AttributeStatements...)
			}},
			{"a second value of the mail attribute", func(a *saml.Assertion) {
				for i, at := range a.AttributeStatements[0].Attributes {
					if at.Name == "urn:oid:0.9.2342.19200300.100.1.3" {
						a.AttributeStatements[0].Attributes[i].Values = append(at.Values, saml.AttributeValue{Type: "xs:string", Value: "boss@example.com"})
					}
				}
			}},
			{"the mail attribute again, another address", func(a *saml.Assertion) {
				a.AttributeStatements[0].Attributes = append(a.AttributeStatements[0].Attributes, evil("urn:oid:0.9.2342.19200300.100.1.3", "", "boss@example.com"))
			}},
			{"an email attribute disagreeing with mail", func(a *saml.Assertion) {
				a.AttributeStatements[0].Attributes = append(a.AttributeStatements[0].Attributes, evil("email", "", "boss@example.com"))
			}},
		} {
			c := app.client()
			f := env.forge(t, env.request(t, c), "alice@example.com")
			f.edit = tc.edit
			w := watchACS(t, app)
			w.refused(postACS(t, c, env.acs(), f.encode(t), ""), http.StatusForbidden, "different email addresses", "boss@example.com")
			if n := countRows(t, db, "users", "email IN ?", []string{"alice@example.com", "boss@example.com"}); n != 0 {
				t.Fatalf("%s: %d users created", tc.name, n)
			}
		}
		// The same address under its Name and a FriendlyName is one.
		c := app.client()
		f := env.forge(t, env.request(t, c), "alice@example.com")
		f.edit = func(a *saml.Assertion) {
			a.AttributeStatements[0].Attributes = append([]saml.Attribute{evil("urn:x:alias", "email", "Alice@Example.com")}, a.AttributeStatements[0].Attributes...)
		}
		w := watchACS(t, app)
		w.accepted(postACS(t, c, env.acs(), f.encode(t), ""))
		if !signedInAs(t, c, "alice@example.com") {
			t.Fatal("not signed in as alice")
		}
	})
}
