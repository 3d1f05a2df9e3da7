package handlers_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"gorm.io/gorm"

	"switchboard/handlers/mail"
	"switchboard/handlers/smtptest"
	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// orgAdmin is a signed-in administrator of a fresh organization, active in it.
func orgAdmin(t testing.TB, app *testApp) (models.User, tenancy.Scope, *client) {
	t.Helper()
	u, _, c := app.user(t)
	org := dbtest.Org(t, app.db, u)
	c.switchTo(org.Account().PublicID)
	return u, org, c
}

// member adds a signed-in user to the organization with role, active there.
func (a *testApp) member(t testing.TB, org tenancy.Scope, role tenancy.Role) (models.User, *client) {
	t.Helper()
	u, _, c := a.user(t)
	dbtest.AddMember(t, a.db, org, u, role)
	c.switchTo(org.Account().PublicID)
	return u, c
}

func isMember(t testing.TB, db *gorm.DB, org tenancy.Scope, u models.User) bool {
	t.Helper()
	_, err := tenancy.LoadScope(t.Context(), db, u.ID, org.Account().PublicID)
	return err == nil
}

func invitationPath(app *testApp, msg mail.Message) string {
	return strings.TrimPrefix(msg.Link, app.srv.URL)
}

func TestInviteAndAccept(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		admin, org, ac := orgAdmin(t, app)
		existing, _ := app.member(t, org, tenancy.RoleMember)
		ac.post("/settings/members/invite", url.Values{"emails": {"taken@example.com"}, "role": {"member"}}, "/settings/members").status(http.StatusSeeOther)

		r := ac.post("/settings/members/invite", url.Values{
			"emails": {" Grace@Example.com, not-an-email\n grace@example.com; " + strings.ToUpper(existing.Email) + ", taken@example.com"},
			"role":   {"admin"},
		}, "/settings/members").redirectsTo("/settings/members")
		_ = r
		page := ac.get("/settings/members").status(http.StatusOK)
		flash := page.doc().Find(`[data-testid="flash"]`).Text()
		for _, want := range []string{"Invited grace@example.com.", "Already members: " + existing.Email, "Already invited (use Resend below): taken@example.com", "Not valid email addresses: not-an-email"} {
			if !strings.Contains(flash, want) {
				t.Errorf("summary lacks %q: %s", want, flash)
			}
		}
		if page.doc().Find(`[data-testid="invitation-table"] tbody tr`).Length() != 2 {
			t.Fatal("the two pending invitations are not listed")
		}
		msg := app.mail.Last(t, "grace@example.com", org.Account().Name)
		if !strings.Contains(msg.Subject, admin.Name) || !strings.Contains(msg.Body, org.Account().Name) || !strings.Contains(msg.Body, "Administrator") {
			t.Fatalf("the message does not name the organization, inviter and role: %+v", msg)
		}
		link := invitationPath(app, msg)

		// A visitor (or a mail scanner) opens the link: it shows, and changes nothing.
		visitor := app.client()
		for i := 0; i < 2; i++ {
			v := visitor.get(link).status(http.StatusOK)
			v.contains(org.Account().Name).contains(admin.Name).contains("an administrator")
			href, _ := v.doc().Find(`a[href^="/signup"]`).First().Attr("href")
			if !strings.Contains(href, "email=grace%40example.com") || !strings.Contains(href, "next=%2Finvitations%2F") {
				t.Fatalf("sign-up link %q does not carry the email and the way back", href)
			}
		}
		// Sign up through that link, land back on the invitation, accept.
		signupURL, _ := visitor.get(link).doc().Find(`a[href^="/signup"]`).First().Attr("href")
		visitor.get(signupURL).status(http.StatusOK).contains(`value="grace@example.com"`)
		u, _ := url.Parse(signupURL)
		visitor.post("/signup", url.Values{"name": {"Grace Hopper"}, "email": {"grace@example.com"}, "password": {dbtest.Password}, "next": {u.Query().Get("next")}}, signupURL).
			redirectsTo(link)
		grace, err := models.FindUserByEmail(t.Context(), db, "grace@example.com")
		if err != nil || isMember(t, db, org, grace) {
			t.Fatal("signing up joined the organization before accepting")
		}
		visitor.post(link, nil).redirectsTo("/")
		home := visitor.get("/").status(http.StatusOK)
		if activeAccount(t, home) != org.Account().Name {
			t.Fatal("the organization is not the active account after accepting")
		}
		home.contains("Welcome to " + org.Account().Name)
		scope, err := tenancy.LoadScope(t.Context(), db, grace.ID, org.Account().PublicID)
		if err != nil || scope.Role() != tenancy.RoleAdmin {
			t.Fatalf("membership %v %v", scope.Role(), err)
		}
		if g, _ := models.GetUser(t.Context(), db, grace.ID); !g.Verified() {
			t.Error("accepting the invitation did not prove the email")
		}
		// Used: the link says so and changes nothing.
		visitor.get(link).status(http.StatusGone).contains("already been used")
		ac.get("/settings/members").contains("Grace Hopper")
	})
}

func TestInvitationLinksThatNoLongerWork(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		_, org, ac := orgAdmin(t, app)
		invite := func(email string) string {
			ac.post("/settings/members/invite", url.Values{"emails": {email}, "role": {"member"}}, "/settings/members").status(http.StatusSeeOther)
			return invitationPath(app, app.mail.Last(t, email, org.Account().Name))
		}
		// Signed in as someone else.
		other, _, oc := app.user(t)
		link := invite("intended@example.com")
		oc.get(link).status(http.StatusOK).contains(`data-testid="wrong-account"`).contains(other.Email)
		oc.post(link, nil).status(http.StatusOK).contains(`data-testid="wrong-account"`)
		if isMember(t, db, org, other) {
			t.Fatal("a different email joined")
		}
		// Expired.
		expiredUser, _, ec := app.user(t)
		link = invite(expiredUser.Email)
		dbtest.Plain(t, db).Exec("UPDATE invitations SET expires_at = created_at WHERE email = ?", expiredUser.Email)
		ec.get(link).status(http.StatusGone).contains("expired")
		ec.post(link, nil).status(http.StatusGone)
		if isMember(t, db, org, expiredUser) {
			t.Fatal("an expired invitation was accepted")
		}
		if ac.get("/settings/members").doc().Find(`[data-testid="invitation-table"]`).Text(); !strings.Contains(ac.get("/settings/members").Body, "Expired") {
			t.Error("the expired invitation is not marked on the members page")
		}
		// Revoked.
		revokedUser, _, rc := app.user(t)
		link = invite(revokedUser.Email)
		form := ac.get("/settings/members").doc().Find(`form[action$="/revoke"]`)
		var action string
		form.Each(func(_ int, s *goquery.Selection) {
			if strings.Contains(s.Closest("tr").Text(), revokedUser.Email) {
				action, _ = s.Attr("action")
			}
		})
		ac.post(action, nil, "/settings/members").redirectsTo("/settings/members")
		rc.get(link).status(http.StatusGone).contains("withdrawn")
		rc.post(link, nil).status(http.StatusGone)
		if isMember(t, db, org, revokedUser) {
			t.Fatal("a revoked invitation was accepted")
		}
		// Nonsense.
		app.client().get("/invitations/not-a-token").status(http.StatusNotFound).contains("not valid")
	})
}

func TestResendIssuesANewLink(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		_, org, ac := orgAdmin(t, app)
		u, _, c := app.user(t)
		ac.post("/settings/members/invite", url.Values{"emails": {u.Email}, "role": {"member"}}, "/settings/members").status(http.StatusSeeOther)
		first := invitationPath(app, app.mail.Last(t, u.Email, org.Account().Name))
		action, _ := ac.get("/settings/members").doc().Find(`form[action^="/settings/invitations/"][action$="/resend"]`).Attr("action")
		dbtest.Plain(t, db).Exec("UPDATE invitations SET sent_at = ? WHERE email = ?", time.Now().UTC().Add(-models.InvitationResendInterval), u.Email)
		ac.post(action, nil, "/settings/members").redirectsTo("/settings/members")
		second := invitationPath(app, app.mail.Last(t, u.Email, org.Account().Name))
		if first == second {
			t.Fatal("resend sent the same link")
		}
		c.get(first).status(http.StatusNotFound)
		c.post(second, nil).redirectsTo("/")
		if !isMember(t, db, org, u) {
			t.Fatal("the resent link did not work")
		}
	})
}

func TestInviteRefusals(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		_, org, ac := orgAdmin(t, app)
		var many []string
		for i := 0; i < 51; i++ {
			many = append(many, dbtest.Unique("p")+"@example.com")
		}
		for _, form := range []url.Values{
			{"emails": {strings.Join(many, ",")}, "role": {"member"}},
			{"emails": {" , \n"}, "role": {"member"}},
			{"emails": {"nope, also nope"}, "role": {"member"}},
			{"emails": {"ok@example.com"}, "role": {"owner"}},
		} {
			r := ac.post("/settings/members/invite", form, "/settings/members").status(http.StatusUnprocessableEntity)
			r.contains(`data-testid="error-summary"`)
		}
		_, mc := app.member(t, org, tenancy.RoleMember)
		mc.post("/settings/members/invite", url.Values{"emails": {"eve@example.com"}, "role": {"admin"}}, "/indexes/new").status(http.StatusForbidden)
		members := mc.get("/settings/members").status(http.StatusOK)
		if members.doc().Find(`[data-testid="invite-form"], a[href$="/remove"], form[action$="/role"]`).Length() != 0 {
			t.Error("a regular user is offered administrators' actions")
		}
		invitations, _, err := models.ListInvitations(t.Context(), db, org, tenancy.Page{Number: 1, Size: 100})
		if err != nil || len(invitations) != 0 {
			t.Fatalf("refused invitations were written: %d %v", len(invitations), err)
		}
		// Not offered in a personal account.
		_, _, pc := app.user(t)
		pc.get("/settings/members").status(http.StatusNotFound)
		if pc.get("/").doc().Find(`[data-testid="sidebar"] a[href="/settings/members"]`).Length() != 0 {
			t.Error("the personal sidebar offers Members")
		}
	})
}

func TestRoles(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		admin, org, ac := orgAdmin(t, app)
		m, mc := app.member(t, org, tenancy.RoleMember)
		// The last administrator cannot be demoted.
		refused := ac.post("/settings/members/"+admin.PublicID+"/role", url.Values{"role": {"member"}}, "/settings/members").status(http.StatusConflict)
		if msg := refused.doc().Find(`[data-testid="action-error"]`).Text(); !strings.Contains(msg, "must keep at least one administrator") {
			t.Errorf("the refusal says %q", msg)
		}
		if s, _ := tenancy.LoadScope(t.Context(), db, admin.ID, org.Account().PublicID); s.Role() != tenancy.RoleAdmin {
			t.Fatal("the last administrator was demoted")
		}
		// A regular user may not change roles, their own included.
		mc.post("/settings/members/"+m.PublicID+"/role", url.Values{"role": {"admin"}}, "/indexes/new").status(http.StatusForbidden)
		refused = ac.post("/settings/members/"+m.PublicID+"/role", url.Values{"role": {"owner"}}, "/settings/members").status(http.StatusUnprocessableEntity)
		if refused.doc().Find(`[data-testid="action-error"]`).Text() == "" {
			t.Error("an unknown role is refused without saying why")
		}
		ac.post("/settings/members/"+m.PublicID+"/role", url.Values{"role": {"admin"}}, "/settings/members").redirectsTo("/settings/members")
		if s, _ := tenancy.LoadScope(t.Context(), db, m.ID, org.Account().PublicID); s.Role() != tenancy.RoleAdmin {
			t.Fatal("promotion did not happen")
		}
		// Now there are two administrators: the first may step down.
		ac.post("/settings/members/"+admin.PublicID+"/role", url.Values{"role": {"member"}}, "/settings/members").redirectsTo("/settings/members")
		ac.get("/settings/members").status(http.StatusOK)
		ac.post("/settings/members/invite", url.Values{"emails": {"x@example.com"}, "role": {"member"}}, "/indexes/new").status(http.StatusForbidden)
		ac.get("/settings/audit-log").status(http.StatusForbidden)
		// Unknown members are 404.
		mc.post("/settings/members/"+strings.Repeat("0", 8)+"/role", url.Values{"role": {"admin"}}, "/settings/members").status(http.StatusNotFound)
	})
}

func TestAdministratorsDemotingEachOtherAtOnce(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		for round := 0; round < 5; round++ {
			a, _ := dbtest.User(t, db)
			org := dbtest.Org(t, db, a)
			b, _ := dbtest.User(t, db)
			bScope := dbtest.AddMember(t, db, org, b, tenancy.RoleAdmin)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, errs[0] = models.ChangeRole(t.Context(), db, org, b.PublicID, tenancy.RoleMember, tenancy.Actor{UserID: a.ID})
			}()
			go func() {
				defer wg.Done()
				_, errs[1] = models.ChangeRole(t.Context(), db, bScope, a.PublicID, tenancy.RoleMember, tenancy.Actor{UserID: b.ID})
			}()
			wg.Wait()
			var admins int64
			dbtest.Plain(t, db).Model(&tenancy.Membership{}).Where("account_id = ? AND role = ?", org.AccountID(), tenancy.RoleAdmin).Count(&admins)
			if admins != 1 {
				t.Fatalf("round %d: %d administrators left (errors %v)", round, admins, errs)
			}
		}
	})
}

func TestRemoveMember(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		admin, org, ac := orgAdmin(t, app)
		m, mc := app.member(t, org, tenancy.RoleMember)
		priv := createdID(t, mc.post("/indexes/new", url.Values{"name": {"Grace's notes"}, "model": {"marengo"}, "marengo_options": {"visual"}, "visibility": {"private"}}))
		createdID(t, ac.post("/indexes/new", url.Values{"name": {"Grace's notes"}, "model": {"marengo"}, "marengo_options": {"visual"}, "visibility": {"private"}}))
		stale := mc.guard("/indexes/new")

		confirm := ac.get("/settings/members/" + m.PublicID + "/remove").status(http.StatusOK)
		confirm.contains(m.Name).contains(m.Email).contains("private indexes pass to you")
		ac.post("/settings/members/"+m.PublicID+"/remove", nil, "/settings/members/"+m.PublicID+"/remove").redirectsTo("/settings/members")
		if isMember(t, db, org, m) {
			t.Fatal("still a member")
		}
		// The removed member's very next request is in their personal account.
		form := url.Values{"name": {"Sneaky"}, "model": {"marengo"}, "marengo_options": {"visual"}}
		for k, v := range stale {
			form[k] = v
		}
		refused := mc.postRaw("/indexes/new", form).status(http.StatusConflict)
		refused.contains("You are no longer a member of " + org.Account().Name)
		home := mc.get("/").status(http.StatusOK)
		if activeAccount(t, home) == org.Account().Name {
			t.Fatal("the removed member is still in the organization")
		}
		mc.get("/indexes/" + priv).status(http.StatusNotFound)
		// Their private index passed to the administrator and stays private.
		page := ac.get("/indexes/" + priv).status(http.StatusOK)
		page.contains("Grace&#39;s notes (from " + m.Name + ")").contains("Private — only you")
		other, _ := app.member(t, org, tenancy.RoleAdmin)
		otherScope, _ := tenancy.LoadScope(t.Context(), db, other.ID, org.Account().PublicID)
		if _, err := models.GetIndex(t.Context(), db, otherScope, priv); err == nil {
			t.Fatal("the handed-over index is visible to another administrator")
		}
		// Removing yourself as the last administrator is refused.
		dbtest.Plain(t, db).Where("account_id = ? AND user_id = ?", org.AccountID(), other.ID).Delete(&tenancy.Membership{})
		ac.post("/settings/members/"+admin.PublicID+"/remove", nil, "/settings/members").status(http.StatusConflict).contains(`data-testid="action-error"`)
		if !isMember(t, db, org, admin) {
			t.Fatal("the last administrator removed themselves")
		}
		ac.get("/settings/members/" + strings.Repeat("f", 36) + "/remove").status(http.StatusNotFound)
	})
}

func TestLeaveOrganization(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		admin, org, ac := orgAdmin(t, app)
		m, mc := app.member(t, org, tenancy.RoleMember)
		priv := createdID(t, mc.post("/indexes/new", url.Values{"name": {"Mine"}, "model": {"marengo"}, "marengo_options": {"visual"}, "visibility": {"private"}}))
		// The last administrator cannot leave.
		ac.get("/settings/organization").contains(`data-testid="cannot-leave"`)
		ac.post("/settings/organization/leave", nil, "/settings/organization").status(http.StatusConflict).contains(`data-testid="cannot-leave"`)
		if !isMember(t, db, org, admin) {
			t.Fatal("the last administrator left")
		}
		mc.get("/settings/organization/leave").status(http.StatusOK).contains("Leave " + org.Account().Name)
		mc.post("/settings/organization/leave", nil, "/settings/organization/leave").redirectsTo("/")
		home := mc.get("/").status(http.StatusOK)
		home.contains("You left " + org.Account().Name)
		if isMember(t, db, org, m) {
			t.Fatal("still a member after leaving")
		}
		ac.get("/indexes/" + priv).status(http.StatusOK).contains("Private — only you")
		ac.get("/settings/audit-log").status(http.StatusOK).contains("Left the organization").contains(m.Email)
	})
}

func TestDeleteOrganization(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		admin, org, ac := orgAdmin(t, app)
		_, mc := app.member(t, org, tenancy.RoleMember)
		idx := createdID(t, ac.post("/indexes/new", indexForm("Doomed")))
		ac.post("/settings/members/invite", url.Values{"emails": {"pending@example.com"}, "role": {"member"}}, "/settings/members").status(http.StatusSeeOther)

		mc.post("/settings/organization/delete", url.Values{"confirm_name": {org.Account().Name}}, "/indexes/new").status(http.StatusForbidden)
		ac.post("/settings/organization/delete", url.Values{"confirm_name": {"wrong"}}, "/settings/organization").status(http.StatusUnprocessableEntity).contains(`value="wrong"`)
		ac.get("/indexes/" + idx).status(http.StatusOK)

		ac.post("/settings/organization/delete", url.Values{"confirm_name": {org.Account().Name}}, "/settings/organization").redirectsTo("/")
		ac.get("/").status(http.StatusOK).contains("Deleted " + org.Account().Name)
		mhome := mc.get("/").status(http.StatusOK)
		mhome.contains("no longer exists")
		if activeAccount(t, mhome) == org.Account().Name {
			t.Fatal("a member is still in the deleted organization")
		}
		var left int64
		dbtest.Plain(t, db).Raw("SELECT COUNT(*) FROM indexes WHERE account_id = ?", org.AccountID()).Scan(&left)
		var invites int64
		dbtest.Plain(t, db).Raw("SELECT COUNT(*) FROM invitations WHERE account_id = ?", org.AccountID()).Scan(&invites)
		if left != 0 || invites != 0 {
			t.Fatalf("%d indexes and %d invitations survived", left, invites)
		}
		// The creator may create a new organization.
		ac.post("/organizations/new", url.Values{"name": {"Second Life"}}).redirectsTo("/")
		if n := countOrgs(t, db, admin.ID); n != 1 {
			t.Fatalf("%d organizations", n)
		}
	})
}

func TestAuditLog(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		admin, org, ac := orgAdmin(t, app)
		m, mc := app.member(t, org, tenancy.RoleMember)
		ac.post("/settings/members/invite", url.Values{"emails": {"new@example.com"}, "role": {"member"}}, "/settings/members").status(http.StatusSeeOther)
		ac.post("/settings/members/"+m.PublicID+"/role", url.Values{"role": {"admin"}}, "/settings/members").status(http.StatusSeeOther)
		ac.post("/settings/organization", url.Values{"name": {"Renamed Org"}}).status(http.StatusSeeOther)
		mc.get("/settings/audit-log").status(http.StatusOK) // now an administrator
		log := ac.get("/settings/audit-log").status(http.StatusOK)
		rows := log.doc().Find(`[data-testid="audit-table"] tbody tr`)
		if rows.Length() != 3 {
			t.Fatalf("%d audit rows, want 3", rows.Length())
		}
		first := rows.First().Text()
		for _, want := range []string{"Renamed the organization", admin.Name, "127.0.0.1", "renamed to Renamed Org"} {
			if !strings.Contains(first, want) {
				t.Errorf("newest row lacks %q: %s", want, first)
			}
		}
		if !strings.Contains(rows.Last().Text(), "new@example.com") {
			t.Error("the invitation is not the oldest row")
		}
		// Regular users may not read it.
		_, rc := app.member(t, org, tenancy.RoleMember)
		rc.get("/settings/audit-log").status(http.StatusForbidden)
		if rc.get("/").doc().Find(`[data-testid="sidebar"] a[href="/settings/audit-log"]`).Length() != 0 {
			t.Error("a regular user's sidebar offers the audit log")
		}
		// Paginated.
		for i := 0; i < 25; i++ {
			if _, err := models.Invite(t.Context(), db, org, dbtest.Unique("p")+"@example.com", tenancy.RoleMember, tenancy.Actor{UserID: admin.ID, Name: admin.Name}); err != nil {
				t.Fatal(err)
			}
		}
		ac.get("/settings/audit-log").contains("Page 1 of 2")
		if n := ac.get("/settings/audit-log?page=2").doc().Find(`[data-testid="audit-table"] tbody tr`).Length(); n != 8 {
			t.Fatalf("page 2 has %d rows, want 8", n)
		}
	})
}

func TestInvitationEmailOverSMTP(t *testing.T) {
	t.Parallel()
	db := dbtest.SQLite(t)
	sink := smtptest.New(t)
	mailer, err := mail.New(sink.URL(), "Switchboard <no-reply@example.com>", slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	app := newAppWith(t, db, mailer)
	admin, org, ac := orgAdmin(t, app)
	ac.post("/settings/members/invite", url.Values{"emails": {"smtp-invitee@example.com"}, "role": {"member"}}, "/settings/members").redirectsTo("/settings/members")
	var got *smtptest.Message
	for _, m := range sink.Messages() {
		if len(m.To) == 1 && m.To[0] == "smtp-invitee@example.com" {
			got = &m
		}
	}
	if got == nil {
		t.Fatalf("no message to the invitee; received %d", len(sink.Messages()))
	}
	for _, want := range []string{org.Account().Name, admin.Name, app.srv.URL + "/invitations/", "Regular user"} {
		if !strings.Contains(got.Data, want) {
			t.Errorf("the message lacks %q:\n%s", want, got.Data)
		}
	}
}

// TestRemoveYourself: an administrator who is not the last one is offered to
// leave on their own row, and removing themselves through the member routes
// lands them in their personal account, not on an organization page they
// may no longer open.
func TestRemoveYourself(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		admin, org, ac := orgAdmin(t, app)
		other, _ := app.member(t, org, tenancy.RoleAdmin)
		row := ac.get("/settings/members").status(http.StatusOK).doc().Find(`tr[data-member="` + admin.PublicID + `"]`)
		if row.Find(`a[href$="/remove"]`).Length() != 0 || row.Find(`a[href="/settings/organization/leave"]`).Length() != 1 {
			t.Errorf("your own row offers Remove instead of Leave: %s", row.Text())
		}
		ac.get("/settings/members/" + admin.PublicID + "/remove").redirectsTo("/settings/organization/leave")

		self := "/settings/members/" + admin.PublicID + "/remove"
		ac.post(self, nil, "/settings/members").redirectsTo("/")
		home := ac.get("/").status(http.StatusOK)
		if activeAccount(t, home) == org.Account().Name {
			t.Fatal("still in the organization after removing yourself")
		}
		home.contains("You are no longer a member of " + org.Account().Name)
		if isMember(t, db, org, admin) || !isMember(t, db, org, other) {
			t.Fatal("the wrong membership ended")
		}
	})
}
