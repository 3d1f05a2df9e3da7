package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
)

// kelvin is the Kelvin sign, U+212A, which Unicode case folding (and Go's
// strings.ToLower) turns into a plain k.
const kelvin = "\u212A"

// Every way an address enters takes it in one form: ASCII, the domain
// through IDNA, only ASCII lower-cased. An address that would need
// Unicode folding to compare (the Kelvin sign for k) is refused, so it
// can never reach another person's account.
func TestAddressesEnterInOneForm(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		users := func() int64 { return countRows(t, db, "users", "") }

		// Sign-up: an IDN domain is stored in ASCII; sign-in takes either form.
		app.client().post("/signup", url.Values{"name": {"Ada"}, "email": {" Ada@BÜCHER.example "}, "password": {"correct horse battery"}}).redirectsTo("/")
		if n := countRows(t, db, "users", "email = ?", "ada@xn--bcher-kva.example"); n != 1 {
			t.Fatalf("the IDN address is not stored in ASCII (%d rows)", n)
		}
		for _, typed := range []string{"ada@bücher.example", "ADA@xn--bcher-kva.example"} {
			app.client().post("/signin", url.Values{"email": {typed}, "password": {"correct horse battery"}}).redirectsTo("/")
		}

		// The Kelvin sign: refused at sign-up, in the local part or the
		// domain, and a sign-in with it finds nobody.
		victim, _ := dbtest.User(t, db)
		kelvinVictim := strings.Replace(victim.Email, "k", kelvin, 1)
		if !strings.Contains(victim.Email, "k") {
			kelvinVictim = kelvin + victim.Email
		}
		before := users()
		for _, email := range []string{kelvin + "elvin@example.com", "kelvin@" + kelvin + "elvin.example", "ädä@example.com", kelvinVictim, "ada\u202e@example.com"} {
			r := app.client().post("/signup", url.Values{"name": {"Mallory"}, "email": {email}, "password": {"correct horse battery"}}).status(http.StatusUnprocessableEntity)
			if msg := r.doc().Find("#field-email-error").Text(); !strings.Contains(msg, "like name@example.com") {
				t.Errorf("sign-up with %q: email error %q", email, msg)
			}
		}
		if users() != before {
			t.Fatal("a refused sign-up created a user")
		}
		r := app.client().post("/signin", url.Values{"email": {kelvinVictim}, "password": {dbtest.Password}})
		if r.Code == http.StatusSeeOther {
			t.Fatalf("%q signed in as %s", kelvinVictim, victim.Email)
		}
		if u, err := models.FindUserByEmail(t.Context(), db, kelvinVictim); err == nil {
			t.Fatalf("%q finds %s", kelvinVictim, u.Email)
		}

		// Password reset refuses it as it refuses any invalid address.
		r = app.client().post("/password/forgot", url.Values{"email": {kelvinVictim}}).status(http.StatusUnprocessableEntity)
		if r.doc().Find("#field-email-error").Length() != 1 {
			t.Errorf("reset with %q: no email error", kelvinVictim)
		}

		// Invitations: the Kelvin address is reported invalid, the IDN one
		// invited in ASCII.
		_, org, ac := orgAdmin(t, app)
		ac.post("/settings/members/invite", url.Values{"emails": {kelvin + "elvin@example.com, Grace@Bücher.example"}, "role": {"member"}}, "/settings/members").
			redirectsTo("/settings/members")
		flash := ac.get("/settings/members").status(http.StatusOK).doc().Find(`[data-testid="flash"]`).Text()
		if !strings.Contains(flash, "Invited grace@xn--bcher-kva.example.") || !strings.Contains(flash, "Not valid email addresses: "+kelvin+"elvin@example.com") {
			t.Errorf("invitation summary: %s", flash)
		}
		if n := countRows(t, db, "invitations", "account_id = ?", org.AccountID()); n != 1 {
			t.Fatalf("%d invitations, want the IDN one only", n)
		}

		// The billing contact.
		r = ac.post("/settings/billing/contact", url.Values{"email": {kelvin + "@example.com"}, "address": {"1 Main St"}}, "/settings/billing").status(http.StatusUnprocessableEntity)
		if r.doc().Find("#field-email-error").Length() != 1 {
			t.Error("the billing contact took a Kelvin sign")
		}
		ac.post("/settings/billing/contact", url.Values{"email": {"Billing@BÜCHER.example"}, "address": {"1 Main St"}}, "/settings/billing").redirectsTo("/settings/billing")
		if n := countRows(t, db, "billing_contacts", "account_id = ? AND email = ?", org.AccountID(), "billing@xn--bcher-kva.example"); n != 1 {
			t.Fatal("the billing contact is not stored in ASCII")
		}
	})
}

// An IdP's address with a Kelvin sign is refused, not folded onto the
// member whose address has a k; an IDN address signs in in ASCII.
func TestSSOAddressesEnterInOneForm(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := connectSSO(t, app, nil, ssoSetup{jit: true, domains: "example.com, bücher.example"})
		if n := countRows(t, db, "sso_domains", "account_id = ? AND domain = ?", env.org.AccountID(), "xn--bcher-kva.example"); n != 1 {
			t.Fatal("the IDN domain is not listed in ASCII")
		}
		c := app.client()
		f := env.forge(t, env.request(t, c), "kelvin@example.com")
		w := watchACS(t, app)
		w.accepted(postACS(t, c, env.acs(), f.encode(t), ""))

		c = app.client()
		f = env.forge(t, env.request(t, c), kelvin+"elvin@example.com")
		w = watchACS(t, app)
		w.refused(postACS(t, c, env.acs(), f.encode(t), ""), http.StatusForbidden, "is not a valid address")

		c = app.client()
		f = env.forge(t, env.request(t, c), "Grace@Bücher.example")
		w = watchACS(t, app)
		w.accepted(postACS(t, c, env.acs(), f.encode(t), ""))
		if !signedInAs(t, c, "grace@xn--bcher-kva.example") {
			t.Fatal("not signed in as the ASCII form of the IDN address")
		}
	})
}
