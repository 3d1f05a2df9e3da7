package handlers_test

import (
	"net/http"
	"net/url"
	"testing"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// cookieValue is the client's cookie called name for the app ("" if none).
func (c *client) cookieValue(name string) string {
	c.t.Helper()
	u, err := url.Parse(c.app.srv.URL)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// sessionWorks reports whether a browser holding only this session cookie
// is signed in.
func sessionWorks(t *testing.T, app *testApp, cookie string) bool {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, app.srv.URL+"/settings/profile", nil)
	req.AddCookie(&http.Cookie{Name: "switchboard_session", Value: cookie})
	r := app.client().do(req)
	switch r.Code {
	case http.StatusOK:
		return true
	case http.StatusSeeOther:
		return false
	}
	t.Fatalf("profile with a session cookie: %d", r.Code)
	return false
}

// sessionRow is the user's one session row.
func sessionRow(t *testing.T, db *gorm.DB, userID int64) models.Session {
	t.Helper()
	var rows []models.Session
	if err := dbtest.Plain(t, db).Where("user_id = ?", userID).Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("%d sessions for the user, want 1", len(rows))
	}
	return rows[0]
}

// rotated asserts the client's session cookie changed from before, the old
// one is refused and the new one works, on the same session row.
func rotated(t *testing.T, c *client, userID int64, before string, row models.Session) {
	t.Helper()
	after := c.cookieValue("switchboard_session")
	if after == "" || after == before {
		t.Fatal("the session cookie was not replaced")
	}
	if sessionWorks(t, c.app, before) {
		t.Fatal("the old session cookie still works")
	}
	if !sessionWorks(t, c.app, after) {
		t.Fatal("the new session cookie does not work")
	}
	now := sessionRow(t, c.app.db, userID)
	if now.ID != row.ID || !now.CreatedAt.Equal(row.CreatedAt) || !now.ExpiresAt.Equal(row.ExpiresAt) || now.TokenHash == row.TokenHash {
		t.Fatalf("session row %+v, want row %d with a new token and the same lifetime", now, row.ID)
	}
}

// Switching accounts, either way, gives the session a new token; a switch
// to the account already active does not.
func TestSwitchingAccountsRotatesTheSession(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, personal, c := app.user(t)
		org := dbtest.Org(t, db, u)
		c.get("/").status(http.StatusOK)
		same := c.cookieValue("switchboard_session")
		c.switchTo(personal.Account().PublicID).status(http.StatusSeeOther)
		if c.cookieValue("switchboard_session") != same {
			t.Fatal("switching to the active account replaced the session token")
		}

		before, row := c.cookieValue("switchboard_session"), sessionRow(t, db, u.ID)
		c.switchTo(org.Account().PublicID).status(http.StatusSeeOther)
		rotated(t, c, u.ID, before, row)
		if got := activeAccount(t, c.get("/").status(http.StatusOK)); got != org.Account().Name {
			t.Fatalf("active account %q after switching", got)
		}

		before, row = c.cookieValue("switchboard_session"), sessionRow(t, db, u.ID)
		c.switchTo(personal.Account().PublicID).status(http.StatusSeeOther)
		rotated(t, c, u.ID, before, row)
	})
}

// Creating an organization makes it the active account: a new token too.
func TestCreatingAnOrganizationRotatesTheSession(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, _, c := app.user(t)
		before, row := c.cookieValue("switchboard_session"), sessionRow(t, db, u.ID)
		c.post("/organizations/new", url.Values{"name": {"Rotation Labs"}}).redirectsTo("/")
		rotated(t, c, u.ID, before, row)
		c.get("/").status(http.StatusOK).contains("Rotation Labs")
	})
}

// A member removed from the active organization lands in their personal
// account with a new token; the one from before the removal is refused.
func TestFallingBackToPersonalRotatesTheSession(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		_, org, ac := orgAdmin(t, app)
		m, mc := app.member(t, org, tenancy.RoleMember)
		mc.get("/").status(http.StatusOK)
		before, row := mc.cookieValue("switchboard_session"), sessionRow(t, db, m.ID)
		ac.post("/settings/members/"+m.PublicID+"/remove", nil, "/settings/members").redirectsTo("/settings/members")
		mc.get("/").status(http.StatusOK).contains("You are no longer a member of " + org.Account().Name)
		rotated(t, mc, m.ID, before, row)
	})
}

// A role changed by an administrator gives the member's session a new token
// at their next request, promoted or demoted; learning the role after
// signing in does not.
func TestRoleChangeRotatesTheSession(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		_, org, ac := orgAdmin(t, app)
		m, mc := app.member(t, org, tenancy.RoleMember)
		steady := mc.cookieValue("switchboard_session")
		mc.get("/").status(http.StatusOK)
		mc.get("/settings/members").status(http.StatusOK)
		if mc.cookieValue("switchboard_session") != steady {
			t.Fatal("the session token changed without a change of role or account")
		}
		if got := sessionRow(t, db, m.ID).ActiveRole; got != string(tenancy.RoleMember) {
			t.Fatalf("session remembers role %q, want member", got)
		}

		before, row := steady, sessionRow(t, db, m.ID)
		ac.post("/settings/members/"+m.PublicID+"/role", url.Values{"role": {"admin"}}, "/settings/members").redirectsTo("/settings/members")
		mc.get("/settings/audit-log").status(http.StatusOK) // an administrator's page, at once
		rotated(t, mc, m.ID, before, row)
		if got := sessionRow(t, db, m.ID).ActiveRole; got != string(tenancy.RoleAdmin) {
			t.Fatalf("session remembers role %q, want admin", got)
		}

		before, row = mc.cookieValue("switchboard_session"), sessionRow(t, db, m.ID)
		ac.post("/settings/members/"+m.PublicID+"/role", url.Values{"role": {"member"}}, "/settings/members").redirectsTo("/settings/members")
		mc.get("/settings/audit-log").status(http.StatusForbidden)
		rotated(t, mc, m.ID, before, row)
	})
}

// A tab left in the organization after another switched away still gets the
// stale-account page, through the new token its browser now holds.
func TestStaleTabGuardAfterRotation(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, personal, c := app.user(t)
		org := dbtest.Org(t, db, u)
		c.switchTo(org.Account().PublicID).status(http.StatusSeeOther)
		staleForm := c.guard("/indexes/new") // rendered in the organization
		c.switchTo(personal.Account().PublicID).status(http.StatusSeeOther)
		staleForm.Set("name", "Should not exist")
		r := c.postRaw("/indexes/new", staleForm).status(http.StatusConflict)
		r.contains(org.Account().Name)
	})
}

// csrfRotatedAtSignIn signs in with signIn and checks that the CSRF token
// from before no longer validates, and the new one does.
func csrfRotatedAtSignIn(t *testing.T, c *client, signIn func() *response) {
	t.Helper()
	before := c.guard("/signin").Get("_csrf")
	if before == "" || c.cookieValue("_csrf") != before {
		t.Fatalf("the sign-in page's token %q is not the cookie's %q", before, c.cookieValue("_csrf"))
	}
	r := signIn()
	n := 0
	for _, ck := range (&http.Response{Header: r.Header}).Cookies() {
		if ck.Name == "_csrf" {
			n++
			if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" {
				t.Fatalf("new CSRF cookie's flags: %+v", ck)
			}
		}
	}
	if n != 1 {
		t.Fatalf("signing in set %d CSRF cookies, want 1", n)
	}
	if after := c.cookieValue("_csrf"); after == "" || after == before {
		t.Fatal("the CSRF token was not replaced at sign-in")
	}
	stale := c.guard("/settings/profile")
	stale.Set("_csrf", before)
	stale.Set("name", "Stale Token")
	c.postRaw("/settings/profile", stale).status(http.StatusForbidden)
	c.post("/settings/profile", url.Values{"name": {"Fresh Token"}}).status(http.StatusSeeOther)
}

// Every way of signing in replaces the CSRF token: password, sign-up, SSO.
func TestSignInRotatesTheCSRFToken(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		t.Run("password", func(t *testing.T) {
			u, _ := dbtest.User(t, db)
			c := app.client()
			csrfRotatedAtSignIn(t, c, func() *response {
				return c.post("/signin", rightPassword(u.Email)).redirectsTo("/")
			})
		})
		t.Run("sign-up", func(t *testing.T) {
			c := app.client()
			csrfRotatedAtSignIn(t, c, func() *response {
				return c.post("/signup", url.Values{"name": {"New Person"}, "email": {dbtest.Unique("new") + "@example.net"}, "password": {dbtest.Password}}).redirectsTo("/")
			})
		})
		t.Run("sso", func(t *testing.T) {
			_, org, _, idp := ssoOrg(t, app, true, false)
			idp.AddUser("carol", "carol@example.com", "Carol", "Shaw")
			c := app.client()
			csrfRotatedAtSignIn(t, c, func() *response {
				return ssoSignIn(t, c, idp, "/sso/"+org.Account().SlugOrEmpty()+"/login", "carol").redirectsTo("/")
			})
		})
	})
}
