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

// The pre-hijack: an organization types a domain it does not own, turns on
// just-in-time provisioning and has its own IdP assert an address there
// before the address's owner registers. The owner later arrives, resets the
// password of "their" account and uses it; the attacker's IdP must not be
// able to sign in as them, then or ever.
func TestSSOPreHijackThroughAnUnprovedDomain(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		const victim = "victor@victim.example"
		env := connectSSO(t, app, nil, ssoSetup{jit: true, domains: "victim.example", unproved: true})
		env.idp.AddUser("victor", victim, "Victor", "Tim")

		// The attacker's IdP tries to create the user before he exists.
		early := app.client()
		ssoSignIn(t, early, env.idp, env.login(), "victor")
		if signedInAs(t, early, victim) {
			t.Error("an IdP created and signed in a user in a domain its organization never proved")
		}

		// The real Victor arrives. Whatever sign-up says, he ends up with
		// the account through a password reset, as a user would.
		v := app.client()
		if r := v.post("/signup", url.Values{"name": {"Victor Tim"}, "email": {victim}, "password": {dbtest.Password}}); r.Code != http.StatusSeeOther {
			v.post("/password/forgot", url.Values{"email": {victim}}).status(http.StatusOK)
			path := strings.TrimPrefix(app.mail.Last(t, victim, "Reset").Link, app.srv.URL)
			v.post(path, url.Values{"password": {dbtest.Password}}).status(http.StatusOK)
		}
		v.signIn(victim)

		// The attacker's IdP now asserts him again.
		late := app.client()
		ssoSignIn(t, late, env.idp, env.login(), "victor")
		if signedInAs(t, late, victim) {
			t.Fatal("the attacker's IdP signs in as the real owner of the address after he took his account")
		}
		u, err := models.FindUserByEmail(t.Context(), db, victim)
		if err != nil {
			t.Fatal(err)
		}
		if isMember(t, db, env.org, u) {
			t.Fatal("the attacker's organization made the victim a member")
		}
	})
}
