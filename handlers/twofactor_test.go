package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/handlers"
	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
	"switchboard/views/paths"
)

func totpAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := models.TOTPCode(secret, at)
	dbtest.Must(t, err)
	return c
}

// passwordStep signs in with the password and expects the second step.
func passwordStep(c *client, email string) {
	c.t.Helper()
	c.post("/signin", url.Values{"email": {email}, "password": {dbtest.Password}}).redirectsTo(paths.SignInSecondFactor())
}

func TestEnrolTOTPOnTheSecurityPage(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		clock := newManualClock()
		app := newClockedApp(t, db, clock)
		u, _, c := app.user(t)
		page := c.get(paths.Security()).status(http.StatusOK).lacks(`id="field-totp-password"`)
		secret := strings.TrimSpace(page.doc().Find("#totp-secret").Text())
		if len(secret) != 32 {
			t.Fatalf("no secret on the page: %q", secret)
		}
		if src, _ := page.doc().Find(`img[src^="data:image/png;base64,"]`).Attr("src"); src == "" {
			t.Fatal("no inline QR code")
		}
		// Reloading keeps the secret the app scanned.
		if again := strings.TrimSpace(c.get(paths.Security()).doc().Find("#totp-secret").Text()); again != secret {
			t.Fatal("the secret changed on reload")
		}
		c.post(paths.SecurityTOTP(), url.Values{"code": {"000000"}}, paths.Security()).status(http.StatusUnauthorized).lacks(`id="recovery-codes"`)
		r := c.post(paths.SecurityTOTP(), url.Values{"code": {totpAt(t, secret, clock.Now())}}, paths.Security()).status(http.StatusOK)
		if n := r.doc().Find("#recovery-codes li").Length(); n != 10 {
			t.Fatalf("%d recovery codes shown", n)
		}
		// Shown once: the page no longer has them, nor the secret.
		c.get(paths.Security()).status(http.StatusOK).lacks(`id="recovery-codes"`).lacks(secret).contains(`data-testid="totp-on"`)
		app.mail.Last(t, u.Email, "Switchboard security: two-factor authentication turned on")
	})
}

// oldSession signs a user in and lets a quarter of an hour and more pass:
// the enrolment asks this session for the password. It returns the secret
// the Security page offers.
func oldSession(t *testing.T, db *gorm.DB) (u models.User, c *client, clock *manualClock, secret string) {
	t.Helper()
	clock = newManualClock()
	u, _, c = newClockedApp(t, db, clock).user(t)
	clock.Advance(16 * time.Minute)
	page := c.get(paths.Security()).status(http.StatusOK).contains(`id="field-totp-password"`)
	return u, c, clock, strings.TrimSpace(page.doc().Find("#totp-secret").Text())
}

// A session that signed in with the password more than a quarter of an
// hour ago (a cookie alone, perhaps stolen) must give the password again
// to tie an authenticator app to the account; wrong passwords count
// against the budget of the user's second factors.
func TestEnrolTOTPAsksAnOldSessionForThePassword(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, c, clock, secret := oldSession(t, db)
		code := func() string { return totpAt(t, secret, clock.Now()) }
		on := func() bool {
			fs, err := models.SecondFactorStatusOf(t.Context(), db, u.ID)
			dbtest.Must(t, err)
			return fs.TOTP
		}

		c.post(paths.SecurityTOTP(), url.Values{"code": {code()}}, paths.Security()).status(http.StatusUnprocessableEntity).
			contains("Enter your current password.").lacks(`id="recovery-codes"`)
		c.post(paths.SecurityTOTP(), url.Values{"code": {code()}, "current_password": {"not the password"}}, paths.Security()).
			status(http.StatusUnauthorized).contains("That is not your current password.").lacks(`id="recovery-codes"`)
		if on() {
			t.Fatal("a session without the password turned the app on")
		}

		// The right password with a wrong code: the password holds for the
		// next try, which needs only the code.
		c.post(paths.SecurityTOTP(), url.Values{"code": {"000000"}, "current_password": {dbtest.Password}}, paths.Security()).
			status(http.StatusUnauthorized).lacks(`id="recovery-codes"`)
		c.get(paths.Security()).status(http.StatusOK).lacks(`id="field-totp-password"`)
		c.post(paths.SecurityTOTP(), url.Values{"code": {code()}}, paths.Security()).status(http.StatusOK).contains(`id="recovery-codes"`)
		if !on() {
			t.Fatal("the app is not on after the password and the code")
		}
	})
}

// A user without a password (made by SSO or SCIM) cannot prove one: the
// enrolment of an old session tells them to set one first, and the app
// stays off.
func TestEnrolTOTPWithoutAPasswordSaysHowToSetOne(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, c, clock, secret := oldSession(t, db)
		dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE users SET password_hash = '' WHERE id = ?", u.ID).Error)
		c.post(paths.SecurityTOTP(), url.Values{"code": {totpAt(t, secret, clock.Now())}, "current_password": {dbtest.Password}}, paths.Security()).
			status(http.StatusUnprocessableEntity).contains("You have no password yet").lacks(`id="recovery-codes"`)
		if fs, err := models.SecondFactorStatusOf(t.Context(), db, u.ID); err != nil || fs.TOTP {
			t.Fatalf("the app is on (%v) for a user who proved nothing", err)
		}
	})
}

// Guesses at the password through the enrolment share the budget of the
// user's second factors: after five, even the right password waits.
func TestEnrolTOTPPasswordGuessesAreThrottled(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		_, c, clock, secret := oldSession(t, db)
		for i := range 5 {
			c.post(paths.SecurityTOTP(), url.Values{"code": {totpAt(t, secret, clock.Now())}, "current_password": {fmt.Sprintf("guess %d", i)}}, paths.Security()).
				status(http.StatusUnauthorized)
		}
		c.post(paths.SecurityTOTP(), url.Values{"code": {totpAt(t, secret, clock.Now())}, "current_password": {dbtest.Password}}, paths.Security()).
			status(http.StatusTooManyRequests).lacks(`id="recovery-codes"`)
	})
}

// A member's security changes reach the audit log of each of their
// organizations, and no other account's.
func TestSecurityChangesAreAuditedInTheMembersOrganizations(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		clock := newManualClock()
		app := newClockedApp(t, db, clock)
		u, personal, c := app.user(t)
		owner, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		dbtest.AddMember(t, db, org, u, tenancy.RoleMember)
		stranger, _ := dbtest.User(t, db)
		other := dbtest.Org(t, db, stranger)

		secret := strings.TrimSpace(c.get(paths.Security()).doc().Find("#totp-secret").Text())
		c.post(paths.SecurityTOTP(), url.Values{"code": {totpAt(t, secret, clock.Now())}}, paths.Security()).status(http.StatusOK)

		events, _, err := tenancy.ListAuditEvents(t.Context(), db, org, tenancy.Page{Number: 1, Size: 50})
		dbtest.Must(t, err)
		var found bool
		for _, ev := range events {
			if ev.Action == models.AuditSecurityChanged {
				found = true
				if ev.Details != "two-factor authentication turned on" || ev.ActorUserID == nil || *ev.ActorUserID != u.ID || !strings.Contains(ev.Target, u.Email) {
					t.Errorf("audit event %+v, want the member turning two-factor authentication on", ev)
				}
			}
		}
		if !found {
			t.Fatalf("the organization's audit log has no security change of its member: %+v", events)
		}
		for _, s := range []tenancy.Scope{other, personal} {
			events, _, err := tenancy.ListAuditEvents(t.Context(), db, s, tenancy.Page{Number: 1, Size: 50})
			dbtest.Must(t, err)
			for _, ev := range events {
				if ev.Action == models.AuditSecurityChanged {
					t.Errorf("account %s records another's security change: %+v", s.Account().Name, ev)
				}
			}
		}
		// The log page names it.
		admin := app.client()
		admin.signIn(owner.Email)
		admin.switchTo(org.Account().PublicID)
		admin.get(paths.AuditLog()).status(http.StatusOK).contains("Changed their sign-in security").contains("two-factor authentication turned on")
	})
}

func TestSignInAsksForTheSecondFactor(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		clock := newManualClock()
		app := newClockedApp(t, db, clock)
		u, _ := dbtest.User(t, db)
		secret, codes := dbtest.EnrolTOTP(t, db, dbtest.SecretBox, u, clock.Now())
		clock.Advance(time.Minute)

		c := app.client()
		c.post("/signin", url.Values{"email": {u.Email}, "password": {dbtest.Password}, "next": {"/indexes"}}).
			redirectsTo(paths.SignInSecondFactor() + "?next=%2Findexes")
		// Half signed in: every page sends back to the step.
		for _, p := range []string{"/", "/indexes", paths.Security(), paths.APIKeys()} {
			c.get(p).redirectsTo(paths.SignInSecondFactor())
		}
		c.post(paths.SignOut(), nil, paths.SignInSecondFactor()).redirectsTo(paths.SignInSecondFactor())
		step := c.get(paths.SignInSecondFactor()).status(http.StatusOK)
		if step.doc().Find(`form input[name="code"]`).Length() != 1 {
			t.Fatal("no code field on the step")
		}
		c.post(paths.SignInSecondFactor(), url.Values{"code": {"123456"}}).status(http.StatusUnauthorized)
		c.get("/").redirectsTo(paths.SignInSecondFactor())
		c.post(paths.SignInSecondFactor(), url.Values{"code": {totpAt(t, secret, clock.Now())}, "next": {"/indexes"}}).redirectsTo("/indexes")
		c.get("/").status(http.StatusOK)
		c.get(paths.Security()).status(http.StatusOK).contains("Password + 2FA")

		// The same code again, from another browser: refused.
		d := app.client()
		passwordStep(d, u.Email)
		d.post(paths.SignInSecondFactor(), url.Values{"code": {totpAt(t, secret, clock.Now())}}).status(http.StatusUnauthorized)
		// A recovery code works once, and says so by email.
		d.post(paths.SignInSecondFactor(), url.Values{"code": {codes[0]}}).redirectsTo("/")
		d.get("/").status(http.StatusOK)
		app.mail.Last(t, u.Email, "Switchboard security: a recovery code was used to sign in")
		e := app.client()
		passwordStep(e, u.Email)
		e.post(paths.SignInSecondFactor(), url.Values{"code": {codes[0]}}).status(http.StatusUnauthorized)
	})
}

// A session half signed in is a new session: its cookie from before the
// code is worth nothing after it, and without the password there is no step.
func TestSecondFactorStepCannotBeSkipped(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		clock := newManualClock()
		app := newClockedApp(t, db, clock)
		u, _ := dbtest.User(t, db)
		secret, _ := dbtest.EnrolTOTP(t, db, dbtest.SecretBox, u, clock.Now())
		clock.Advance(time.Minute)

		// A visitor posting a code reaches nothing.
		v := app.client()
		v.post(paths.SignInSecondFactor(), url.Values{"code": {totpAt(t, secret, clock.Now())}}, paths.SignIn()).redirectsTo(paths.SignIn())
		v.get("/").status(http.StatusSeeOther)
		if loc := v.get("/").Location(); !strings.HasPrefix(loc, paths.SignIn()) {
			t.Fatalf("visitor sent to %q", loc)
		}

		c := app.client()
		passwordStep(c, u.Email)
		before := c.http.Jar.Cookies(mustURL(t, app.srv.URL))
		c.post(paths.SignInSecondFactor(), url.Values{"code": {totpAt(t, secret, clock.Now())}}).redirectsTo("/")
		stale := app.client()
		stale.http.Jar.SetCookies(mustURL(t, app.srv.URL), before)
		if r := stale.get("/"); r.Code == http.StatusOK {
			t.Fatal("the half-signed-in cookie works after the code")
		}
	})
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	dbtest.Must(t, err)
	return u
}

// Failed codes are throttled per user, like passwords: after five, even
// the right code waits.
func TestSecondFactorIsThrottled(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		clock := newManualClock()
		app := newClockedApp(t, db, clock)
		u, _ := dbtest.User(t, db)
		secret, _ := dbtest.EnrolTOTP(t, db, dbtest.SecretBox, u, clock.Now())
		clock.Advance(time.Minute)
		c := app.client()
		passwordStep(c, u.Email)
		for range 5 {
			c.post(paths.SignInSecondFactor(), url.Values{"code": {"999999"}}).status(http.StatusUnauthorized)
		}
		// Another browser, another address: the budget is the user's.
		d := app.clientFrom("127.0.0.2")
		passwordStep(d, u.Email)
		d.post(paths.SignInSecondFactor(), url.Values{"code": {totpAt(t, secret, clock.Now())}}).status(http.StatusTooManyRequests).contains("Wait 1 minute")
		clock.Advance(time.Minute)
		d.post(paths.SignInSecondFactor(), url.Values{"code": {totpAt(t, secret, clock.Now())}}).redirectsTo("/")
	})
}

func TestTurningTOTPOffAndNewRecoveryCodes(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		clock := newManualClock()
		app := newClockedApp(t, db, clock)
		u, _ := dbtest.User(t, db)
		secret, codes := dbtest.EnrolTOTP(t, db, dbtest.SecretBox, u, clock.Now())
		clock.Advance(time.Minute)
		c := app.client()
		passwordStep(c, u.Email)
		c.post(paths.SignInSecondFactor(), url.Values{"code": {codes[9]}}).redirectsTo("/")

		c.post(paths.SecurityRecoveryCodes(), url.Values{"current_password": {"not it"}}, paths.Security()).status(http.StatusUnauthorized)
		r := c.post(paths.SecurityRecoveryCodes(), url.Values{"current_password": {dbtest.Password}}, paths.Security()).status(http.StatusOK)
		if r.doc().Find("#recovery-codes li").Length() != 10 {
			t.Fatal("no new recovery codes shown")
		}
		app.mail.Last(t, u.Email, "Switchboard security: new recovery codes")

		clock.Advance(time.Minute)
		c.post(paths.SecurityTOTPDisable(), url.Values{"current_password": {dbtest.Password}, "code": {"000000"}}, paths.Security()).status(http.StatusUnauthorized)
		c.post(paths.SecurityTOTPDisable(), url.Values{"current_password": {"not it"}, "code": {totpAt(t, secret, clock.Now())}}, paths.Security()).status(http.StatusUnauthorized)
		c.post(paths.SecurityTOTPDisable(), url.Values{"current_password": {dbtest.Password}, "code": {totpAt(t, secret, clock.Now())}}, paths.Security()).redirectsTo(paths.Security())
		app.mail.Last(t, u.Email, "Switchboard security: two-factor authentication turned off")
		app.client().signIn(u.Email) // the password alone again
	})
}

// The organization's policy: members without a second factor reach none of
// its pages nor, with their keys, its API; enrolling lets them back in.
func TestRequire2FAKeepsMembersOut(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		clock := newManualClock()
		app := newClockedApp(t, db, clock)
		f := dbtest.NewOrgFixture(t, db)
		org := f.Admin.Account()
		dbtest.NewIndex(t, db, f.Admin, "secret-plans", "account")
		memberKey := dbtest.NewAPIKey(t, db, f.Member, "member")
		adminSecret, _ := dbtest.EnrolTOTP(t, db, dbtest.SecretBox, f.AdminUser, clock.Now())
		clock.Advance(time.Minute)

		admin := app.client()
		passwordStep(admin, f.AdminUser.Email)
		admin.post(paths.SignInSecondFactor(), url.Values{"code": {totpAt(t, adminSecret, clock.Now())}}).redirectsTo("/")
		admin.switchTo(org.PublicID)
		settings := admin.get(paths.OrganizationSettings()).status(http.StatusOK)
		if got := strings.TrimSpace(settings.doc().Find(`[data-testid="require-2fa-affected"]`).Text()); !strings.HasPrefix(got, "2 members have no second factor") {
			t.Fatalf("the policy's reach reads %q", got)
		}
		member := app.client()
		member.signIn(f.MemberUser.Email)
		member.switchTo(org.PublicID)
		member.get("/indexes").status(http.StatusOK).contains("secret-plans")
		// A member may not change it.
		member.post(paths.OrganizationSettings(), url.Values{"name": {org.Name}, "require_2fa": {"on"}}, paths.OrganizationSettings()).status(http.StatusForbidden)

		admin.post(paths.OrganizationSettings(), url.Values{"name": {org.Name}, "require_2fa": {"on"}}).redirectsTo(paths.OrganizationSettings())
		admin.get("/indexes").status(http.StatusOK).contains("secret-plans")

		r := member.get("/indexes")
		r.redirectsTo(paths.SecondFactorRequired() + "?account=" + org.PublicID)
		member.get(r.Location()).status(http.StatusOK).contains(org.Name + " requires two-factor authentication").contains(`href="` + paths.Security() + `"`)
		// Switching back in is refused the same way, and nothing leaks.
		member.switchTo(org.PublicID)
		member.follow("/indexes").lacks("secret-plans")
		// The key is refused.
		req, _ := http.NewRequest(http.MethodGet, app.srv.URL+"/v1.3/indexes", nil)
		req.Header.Set("x-api-key", memberKey.Secret)
		if res := member.do(req); res.Code != http.StatusForbidden || !strings.Contains(res.Body, "two_factor_required") {
			t.Fatalf("member's key: %d %s", res.Code, res.Body)
		}
		// Enrolling (from the personal account) lets the member back in.
		dbtest.EnrolTOTP(t, db, dbtest.SecretBox, f.MemberUser, clock.Now())
		if res := member.do(req); res.Code != http.StatusOK {
			t.Fatalf("member's key after enrolling: %d", res.Code)
		}
		member.switchTo(org.PublicID)
		member.get("/indexes").status(http.StatusOK).contains("secret-plans")
		// But a session that never passed a second factor makes no new keys.
		member.post(paths.APIKeys(), url.Values{"name": {"new"}}).status(http.StatusForbidden).contains("sign in again with your second factor")
		// The members page shows who has one.
		members := admin.get(paths.Members()).status(http.StatusOK).doc()
		for id, want := range map[string]string{f.AdminUser.PublicID: "On", f.MemberUser.PublicID: "On", f.Member2User.PublicID: "Off"} {
			if got := strings.TrimSpace(members.Find(`tr[data-member="` + id + `"] [data-testid="member-2fa"]`).Text()); got != want {
				t.Errorf("2FA of %s on the members page: %q, want %q", id, got, want)
			}
		}
		if n := dbtest.CountRows(t, db, "audit_events", "account_id = ? AND action = ?", org.ID, "organization.require_2fa_on"); n != 1 {
			t.Fatalf("%d audit events for the policy", n)
		}
	})
}

// Sessions: listed with their method, ended one by one or all others;
// another user's session ID is a 404 and ends nothing.
func TestSessionsListAndRevoke(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, _ := dbtest.User(t, db)
		one, two, three := app.client(), app.client(), app.client()
		for _, c := range []*client{one, two, three} {
			c.signIn(u.Email)
		}
		page := one.get(paths.Security()).status(http.StatusOK)
		rows := page.doc().Find(`[data-testid="session"]`)
		if rows.Length() != 3 || !strings.Contains(rows.First().Text(), "This device") {
			t.Fatalf("%d sessions listed; first: %q", rows.Length(), rows.First().Text())
		}
		action, _ := rows.Eq(1).Find("form").Attr("action")

		// Someone else cannot end it.
		_, _, mallory := app.user(t)
		mallory.post(action, nil, paths.Security()).status(http.StatusNotFound)
		if one.get(paths.Security()).doc().Find(`[data-testid="session"]`).Length() != 3 {
			t.Fatal("another user's request ended a session")
		}
		one.post(action, nil, paths.Security()).redirectsTo(paths.Security())
		ended := 0
		for _, c := range []*client{two, three} {
			if r := c.get("/"); r.Code == http.StatusSeeOther && strings.HasPrefix(r.Location(), paths.SignIn()) {
				ended++
			}
		}
		if ended != 1 {
			t.Fatalf("%d sessions ended, want 1", ended)
		}
		one.post(paths.SecuritySessionsRevokeOthers(), nil, paths.Security()).redirectsTo(paths.Security())
		for _, c := range []*client{two, three} {
			if r := c.get("/"); r.Code != http.StatusSeeOther {
				t.Fatal("a session survived 'sign out all other sessions'")
			}
		}
		one.get("/").status(http.StatusOK)
		mallory.get("/").status(http.StatusOK)
	})
}

// Giving the password to add a passkey proves it, as a sign-in does: the
// authenticator app's form then takes the code alone, until another
// quarter of an hour has passed.
func TestPasskeyPasswordProvesTheSessionForTheApp(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		clock := newManualClock()
		app := newApp(t, db, func(c *handlers.Config) {
			c.Clock = clock.Now
			c.BaseURL = strings.Replace(c.BaseURL, "127.0.0.1", "localhost", 1) // passkeys need a domain name
		})
		_, _, c := app.user(t)
		clock.Advance(16 * time.Minute)
		c.get(paths.Security()).status(http.StatusOK).contains(`id="field-totp-password"`)

		// A wrong password proves nothing.
		c.post(paths.SecurityPasskeyOptions(), url.Values{"current_password": {"not the password"}}, paths.Security()).status(http.StatusUnprocessableEntity)
		c.get(paths.Security()).status(http.StatusOK).contains(`id="field-totp-password"`)

		c.passkeyOptions(paths.SecurityPasskeyOptions(), paths.Security(), withPassword)
		c.get(paths.Security()).status(http.StatusOK).lacks(`id="field-totp-password"`)
		clock.Advance(16 * time.Minute)
		c.get(paths.Security()).status(http.StatusOK).contains(`id="field-totp-password"`)
	})
}
