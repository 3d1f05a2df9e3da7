package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
	"switchboard/views/paths"
)

func countOrgs(t testing.TB, db *gorm.DB, creator int64) int64 {
	t.Helper()
	var n int64
	if err := dbtest.Plain(t, db).Model(&tenancy.Account{}).Where("created_by_id = ? AND kind = ?", creator, tenancy.KindOrganization).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCreateOrganization(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, _, c := app.user(t)
		menu := c.get("/").doc()
		if menu.Find(`a[href="/organizations/new"]`).Length() != 1 {
			t.Fatal("the menu does not offer to create an organization")
		}
		c.post("/organizations/new", url.Values{"name": {"  Analytical   Engines "}}).redirectsTo("/")
		home := c.get("/").status(http.StatusOK)
		home.contains("Created Analytical Engines")
		if got := activeAccount(t, home); got != "Analytical Engines" {
			t.Fatalf("active account is %q", got)
		}
		if got := strings.TrimSpace(home.doc().Find(`[data-testid="active-avatar"]`).Text()); got != "AE" {
			t.Fatalf("avatar shows %q, want AE", got)
		}
		facts := home.doc().Find(`[data-testid="account-facts"]`).Text()
		for _, want := range []string{"Organization", "Free", "Administrator", "1"} {
			if !strings.Contains(facts, want) {
				t.Errorf("home facts lack %q: %s", want, facts)
			}
		}
		if home.doc().Find(`a[href="/organizations/new"]`).Length() != 0 {
			t.Error("the menu still offers to create an organization")
		}
		settings := c.get("/settings/organization").status(http.StatusOK)
		settings.contains("analytical-engines")

		// A second organization is refused with a clear message, and nothing is created.
		r := c.post("/organizations/new", url.Values{"name": {"Second Org"}}, "/settings/profile").status(http.StatusUnprocessableEntity)
		r.contains("already created an organization")
		if n := countOrgs(t, db, u.ID); n != 1 {
			t.Fatalf("%d organizations after a refused second one", n)
		}
		c.get("/organizations/new").status(http.StatusOK).contains(`data-testid="org-limit"`)
	})
}

func TestCreateOrganizationRefusesBadNames(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, _, c := app.user(t)
		for _, name := range []string{"", " ", "x", strings.Repeat("y", 65), "bad\x01name"} {
			r := c.post("/organizations/new", url.Values{"name": {name}}).status(http.StatusUnprocessableEntity)
			if r.doc().Find("#field-name-error").Length() != 1 {
				t.Errorf("%q: no field error", name)
			}
		}
		if n := countOrgs(t, db, u.ID); n != 0 {
			t.Fatalf("%d organizations written by invalid forms", n)
		}
	})
}

func TestSwitchAccounts(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, personal, c := app.user(t)
		org := dbtest.Org(t, db, u)
		other, _ := dbtest.User(t, db)
		member := dbtest.Org(t, db, other)
		dbtest.AddMember(t, db, member, u, tenancy.RoleMember)

		// Personal first, then organizations by name, each with initials and kind.
		rows := c.get("/").doc().Find(`[data-testid="account-switcher"] button[name="account_id"]`)
		if rows.Length() != 3 {
			t.Fatalf("switcher lists %d accounts, want 3", rows.Length())
		}
		if v, _ := rows.First().Attr("value"); v != personal.Account().PublicID {
			t.Fatalf("first row is %s, want the personal account", v)
		}
		if !strings.Contains(rows.First().Text(), "Personal") || !strings.Contains(rows.Last().Text(), "Organization") {
			t.Fatal("rows lack their kinds")
		}

		c.switchTo(org.Account().PublicID).redirectsTo("/")
		if got := activeAccount(t, c.get("/")); got != org.Account().Name {
			t.Fatalf("active %q after switching to %q", got, org.Account().Name)
		}
		// Back to the same section, never to a detail page.
		r := c.post("/accounts/switch", url.Values{"account_id": {member.Account().PublicID}, "return_to": {"/settings/organization"}}, "/")
		r.redirectsTo("/settings/organization")
		c.get("/settings/organization").status(http.StatusOK).contains(member.Account().Name)
		// The section does not exist in a personal account: land on home.
		r = c.post("/accounts/switch", url.Values{"account_id": {personal.Account().PublicID}, "return_to": {"/settings/organization"}}, "/")
		r.redirectsTo("/")
		for returnTo, want := range map[string]string{
			"/settings/profile":        "/settings/profile",
			"https://evil.example/":    "/",
			"//evil.example/":          "/",
			"/settings/profile/../../": "/",
			"":                         "/",
		} {
			r := c.post("/accounts/switch", url.Values{"account_id": {personal.Account().PublicID}, "return_to": {returnTo}}, "/")
			r.redirectsTo(want)
		}
	})
}

func TestSwitchToForeignAccountIs404(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		_, personal, c := app.user(t)
		stranger, strangerPersonal := dbtest.User(t, db)
		strangerOrg := dbtest.Org(t, db, stranger)
		for _, id := range []string{strangerOrg.Account().PublicID, strangerPersonal.Account().PublicID, "00000000-0000-0000-0000-000000000000", "", "1"} {
			r := c.switchTo(id).status(http.StatusNotFound)
			r.lacks(strangerOrg.Account().Name)
			if got := activeAccount(t, c.get("/")); got != personal.Account().Name {
				t.Fatalf("switching to %q changed the active account to %q", id, got)
			}
		}
	})
}

func TestStaleTabFormsAreRefused(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, personal, c := app.user(t)
		org := dbtest.Org(t, db, u)
		c.switchTo(org.Account().PublicID)
		// A tab rendered the rename form in the organization...
		orgForm := c.guard("/settings/organization")
		// ...then another tab switched to the personal account.
		c.switchTo(personal.Account().PublicID)

		form := url.Values{"name": {"Renamed From A Stale Tab"}}
		for k, v := range orgForm {
			form[k] = v
		}
		r := c.postRaw("/settings/organization", form).status(http.StatusConflict)
		r.contains(org.Account().Name).contains(personal.Account().Name).contains("Nothing was saved")
		sw := r.doc().Find(`form[action="/accounts/switch"] button[value="` + org.Account().PublicID + `"]`)
		if sw.Length() == 0 {
			t.Fatal("the 409 page does not offer to switch back")
		}
		acct, err := tenancy.LoadScope(t.Context(), db, u.ID, org.Account().PublicID)
		if err != nil || acct.Account().Name != org.Account().Name {
			t.Fatalf("the organization was renamed by a stale form: %v %q", err, acct.Account().Name)
		}

		// A form without _account is refused the same way.
		noAccount := url.Values{"_csrf": {orgForm.Get("_csrf")}, "name": {"Whatever"}}
		c.postRaw("/settings/profile", noAccount).status(http.StatusConflict)
		// Switching and signing out are exempt.
		c.postRaw("/accounts/switch", url.Values{"_csrf": {orgForm.Get("_csrf")}, "account_id": {org.Account().PublicID}}).redirectsTo("/")
		c.postRaw("/signout", url.Values{"_csrf": {orgForm.Get("_csrf")}}).redirectsTo("/signin")
	})
}

func TestRemovedMemberFallsBackToPersonalAccount(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		owner, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		u, personal, c := app.user(t)
		dbtest.AddMember(t, db, org, u, tenancy.RoleMember)
		c.switchTo(org.Account().PublicID)
		stale := c.guard("/settings/organization")

		if err := dbtest.Plain(t, db).Where("account_id = ? AND user_id = ?", org.AccountID(), u.ID).Delete(&tenancy.Membership{}).Error; err != nil {
			t.Fatal(err)
		}
		// The very next request is in the personal account, with a notice.
		home := c.get("/").status(http.StatusOK)
		if got := activeAccount(t, home); got != personal.Account().Name {
			t.Fatalf("active account is %q", got)
		}
		home.contains("You are no longer a member of " + org.Account().Name)
		c.get("/").lacks("no longer a member")
		c.get("/settings/organization").status(http.StatusNotFound).lacks(org.Account().SlugOrEmpty())

		// A form from the organization's page writes nothing there.
		form := url.Values{"name": {"Hijacked"}}
		for k, v := range stale {
			form[k] = v
		}
		c.postRaw("/settings/organization", form).status(http.StatusConflict)
	})
}

func TestHomePage(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, _, c := app.user(t)
		facts := c.get("/").status(http.StatusOK).doc().Find(`[data-testid="account-facts"]`).Text()
		for _, want := range []string{u.Name, "Personal", "Free", "Owner", "1"} {
			if !strings.Contains(facts, want) {
				t.Errorf("personal home lacks %q", want)
			}
		}
		owner, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		dbtest.AddMember(t, db, org, u, tenancy.RoleMember)
		third, _ := dbtest.User(t, db)
		dbtest.AddMember(t, db, org, third, tenancy.RoleAdmin)
		c.switchTo(org.Account().PublicID)
		home := c.get("/").status(http.StatusOK)
		if got := strings.TrimSpace(home.doc().Find(`[data-testid="member-count"]`).Text()); got != "3" {
			t.Errorf("member count %q, want 3", got)
		}
		home.contains("Regular user").contains(org.Account().CreatedAt.Format("Jan 2, 2006"))
	})
}

func TestOrganizationSettings(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, _, c := app.user(t)
		org := dbtest.Org(t, db, u)
		// Not offered in a personal account.
		c.get("/settings/organization").status(http.StatusNotFound)
		if c.get("/").doc().Find(`[data-testid="sidebar"] a[href="/settings/organization"]`).Length() != 0 {
			t.Fatal("the personal sidebar links to organization settings")
		}
		c.switchTo(org.Account().PublicID)
		page := c.get("/settings/organization").status(http.StatusOK)
		page.contains(org.Account().SlugOrEmpty()).contains("Free")
		if page.doc().Find(`[data-testid="sidebar"] a[aria-current="page"][href="/settings/organization"]`).Length() == 0 {
			t.Fatal("the sidebar does not mark Organization as current")
		}
		c.post("/settings/organization", url.Values{"name": {"x"}}).status(http.StatusUnprocessableEntity).contains(`value="x"`)
		c.post("/settings/organization", url.Values{"name": {"Renamed Labs"}}).redirectsTo("/settings/organization")
		after := c.get("/settings/organization").status(http.StatusOK)
		after.contains("Renamed Labs").contains(org.Account().SlugOrEmpty())
		events, _, err := tenancy.ListAuditEvents(t.Context(), db, org, tenancy.Page{Number: 1, Size: 10})
		if err != nil || len(events) != 1 || events[0].Action != tenancy.AuditRenamed {
			t.Fatalf("audit events %+v, %v", events, err)
		}

		// A regular member reads but may not rename.
		m, _, mc := app.user(t)
		dbtest.AddMember(t, db, org, m, tenancy.RoleMember)
		mc.switchTo(org.Account().PublicID)
		mc.get("/settings/organization").status(http.StatusOK).contains("Only administrators").lacks(`action="/settings/organization"`)
		mc.post("/settings/organization", url.Values{"name": {"Member Rename"}}, "/settings/profile").status(http.StatusForbidden)
		c.get("/settings/organization").contains("Renamed Labs").lacks("Member Rename")
	})
}

func TestProfileSettings(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, _, c := app.user(t)
		other := app.client()
		other.signIn(u.Email)

		c.get("/settings/profile").status(http.StatusOK).contains(u.Email).contains("Not verified")
		c.post("/settings/profile", url.Values{"name": {""}}).status(http.StatusUnprocessableEntity)
		c.post("/settings/profile", url.Values{"name": {"Ada King"}}).redirectsTo("/settings/profile")
		home := c.get("/").status(http.StatusOK)
		if got := activeAccount(t, home); got != "Ada King" {
			t.Fatalf("the personal account is called %q after renaming the user", got)
		}
		if got := strings.TrimSpace(home.doc().Find(`[data-testid="active-avatar"]`).Text()); got != "AK" {
			t.Fatalf("avatar %q, want AK", got)
		}

		c.post("/settings/profile", url.Values{"current_password": {"wrong password"}, "new_password": {"a new long password"}}).
			status(http.StatusUnprocessableEntity).contains("not your current password")
		c.post("/settings/profile", url.Values{"current_password": {dbtest.Password}, "new_password": {"short"}}).
			status(http.StatusUnprocessableEntity)
		c.post("/settings/profile", url.Values{"current_password": {dbtest.Password}, "new_password": {"a new long password"}}).
			redirectsTo("/settings/profile")
		// This session stays; the other one ended.
		c.get("/").status(http.StatusOK)
		other.get("/").redirectsTo("/signin")
		app.client().post("/signin", url.Values{"email": {u.Email}, "password": {"a new long password"}}).redirectsTo("/")
	})
}

// Someone holding only a session (a stolen cookie) must not guess the
// password through the profile's password form, which would also let them
// change it: wrong current passwords there draw from the budget of the
// Security page's password checks, so guesses on either page add up, and
// once it is spent even the right password waits.
func TestProfilePasswordChangeSharesTheSecurityThrottle(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		clock := newManualClock()
		app := newClockedApp(t, db, clock)
		u, _, c := app.user(t)
		other := app.client()
		other.signIn(u.Email)
		// A second factor, for the Security page's recovery-code form.
		dbtest.EnrolTOTP(t, db, dbtest.SecretBox, u, clock.Now())
		change := func(current string) *response {
			t.Helper()
			return c.post(paths.Profile(), url.Values{"current_password": {current}, "new_password": {"a new long password"}})
		}

		for range 3 {
			change("wrong password").status(http.StatusUnprocessableEntity).contains("not your current password")
		}
		for range 2 {
			c.post(paths.SecurityRecoveryCodes(), url.Values{"current_password": {"wrong password"}}, paths.Security()).status(http.StatusUnauthorized)
		}
		r := change(dbtest.Password).status(http.StatusTooManyRequests)
		d := r.doc()
		if got := strings.TrimSpace(d.Find("#field-current_password-error").Text()); !strings.HasPrefix(got, "Too many wrong attempts. Wait 1 minute") {
			t.Fatalf("under the current password: %q", got)
		}
		if _, focused := d.Find("#field-current_password").Attr("autofocus"); !focused {
			t.Error("the refused current password is not focused")
		}
		// Nothing changed: the other session lives and the old password
		// still passes the sign-in's first step.
		other.get("/").status(http.StatusOK)
		passwordStep(app.client(), u.Email)

		// The Security page's checks wait as well, for the same minute.
		c.post(paths.SecurityRecoveryCodes(), url.Values{"current_password": {dbtest.Password}}, paths.Security()).status(http.StatusTooManyRequests)

		clock.Advance(time.Minute)
		change(dbtest.Password).redirectsTo(paths.Profile())
		other.get("/").redirectsTo(paths.SignIn())
	})
}

// TestProfileWithoutPassword: a user who signs in only through SSO has no
// password to confirm, so the profile offers the emailed link instead of a
// form that could never be accepted; a crafted submission changes nothing.
func TestProfileWithoutPassword(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, _, c := app.user(t)
		if err := dbtest.Plain(t, db).Model(&models.User{}).Where("id = ?", u.ID).Update("password_hash", "").Error; err != nil {
			t.Fatal(err)
		}
		page := c.get("/settings/profile").status(http.StatusOK)
		if n := page.doc().Find(`input[name="new_password"]`).Length(); n != 0 {
			t.Fatalf("the profile offers %d new-password fields to a user without a password", n)
		}
		if page.doc().Find(`[data-testid="no-password"] a[href="/password/forgot"]`).Length() != 1 {
			t.Fatal("the profile does not point to the emailed link")
		}
		c.post("/settings/profile", url.Values{"new_password": {"a new long password"}}).status(http.StatusUnprocessableEntity)
		var hash string
		if err := dbtest.Plain(t, db).Model(&models.User{}).Where("id = ?", u.ID).Pluck("password_hash", &hash).Error; err != nil || hash != "" {
			t.Fatalf("password hash %q after a refused form (%v)", hash, err)
		}
	})
}

// TestProfilePasswordFormSentEmpty: the password form sent with both fields
// empty is answered on the password form, not as a nameless rename.
func TestProfilePasswordFormSentEmpty(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, _, c := app.user(t)
		r := c.post("/settings/profile", url.Values{"current_password": {""}, "new_password": {""}}).status(http.StatusUnprocessableEntity)
		d := r.doc()
		if d.Find("#field-new_password-error").Length() != 1 {
			t.Error("no error under the new password")
		}
		if d.Find("#field-name-error").Length() != 0 {
			t.Error("the name form shows an error for a password form")
		}
		if v, _ := d.Find(`input[name="name"]`).Attr("value"); v != u.Name {
			t.Errorf("the name field shows %q, want the saved %q", v, u.Name)
		}
	})
}
