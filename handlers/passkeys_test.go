package handlers_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"gorm.io/gorm"

	"switchboard/handlers"
	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/views/paths"
)

// passkeyApp runs the dashboard at http://localhost:port: browsers offer
// passkeys to a domain name only, so 127.0.0.1 would turn them off.
func passkeyApp(t *testing.T, db *gorm.DB) (*testApp, string) {
	t.Helper()
	var origin string
	app := newApp(t, db, func(c *handlers.Config) {
		c.BaseURL = strings.Replace(c.BaseURL, "127.0.0.1", "localhost", 1)
		origin = c.BaseURL
	})
	return app, origin
}

// passkeyOptions asks for a ceremony's options as the script does, with the
// fields of the page from and form.
func (c *client) passkeyOptions(path, from string, form url.Values) []byte {
	c.t.Helper()
	r := c.post(path, form, from).status(http.StatusOK)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		c.t.Fatalf("options are %q", ct)
	}
	return []byte(r.Body)
}

// withPassword is the add-passkey form's password, right.
var withPassword = url.Values{"current_password": {dbtest.Password}}

// addPasskey registers a new authenticator's passkey on Settings › Security.
// A user without recovery codes is shown ten; the others are sent back to
// the page.
func (c *client) addPasskey(origin, name string) *dbtest.Authenticator {
	c.t.Helper()
	a := dbtest.NewAuthenticator(c.t, origin)
	opts := c.passkeyOptions(paths.SecurityPasskeyOptions(), paths.Security(), withPassword)
	r := c.post(paths.SecurityPasskeys(), url.Values{"name": {name}, "credential": {string(a.Create(c.t, opts))}}, paths.Security())
	if r.Code == http.StatusOK {
		if n := r.doc().Find("#recovery-codes li").Length(); n != 10 {
			c.t.Fatalf("%d recovery codes shown with a new passkey", n)
		}
		r.contains(`data-testid="passkey-added"`)
		return a
	}
	r.redirectsTo(paths.Security())
	return a
}

// passkeyStep answers the second step with the authenticator.
func (c *client) passkeyStep(a *dbtest.Authenticator) *response {
	c.t.Helper()
	opts := c.passkeyOptions(paths.SignInSecondFactorPasskeyOptions(), paths.SignInSecondFactor(), nil)
	return c.post(paths.SignInSecondFactorPasskey(), url.Values{"credential": {string(a.Get(c.t, opts))}}, paths.SignInSecondFactor())
}

// passwordless signs in with the authenticator alone.
func (c *client) passwordless(a *dbtest.Authenticator, next string) *response {
	c.t.Helper()
	from := paths.WithQuery(paths.SignIn(), url.Values{"next": {next}})
	opts := c.passkeyOptions(paths.SignInPasskeyOptions(), from, nil)
	return c.post(paths.SignInPasskey(), url.Values{"credential": {string(a.Get(c.t, opts))}, "next": {next}}, from)
}

func passkeyNames(r *response) []string {
	var names []string
	r.doc().Find(`[data-testid="passkey-name"]`).Each(func(_ int, s *goquery.Selection) {
		names = append(names, strings.TrimSpace(s.Text()))
	})
	return names
}

func TestPasskeysOnTheSecurityPage(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app, origin := passkeyApp(t, db)
		u, _, c := app.user(t)
		page := c.get(paths.Security()).status(http.StatusOK).contains(`data-testid="no-passkeys"`).contains("/static/js/passkeys.js")
		if page.doc().Find(`form[data-passkey="register"] input[name="credential"]`).Length() != 1 {
			t.Fatal("no registration form")
		}
		c.addPasskey(origin, "Laptop")
		if n := dbtest.CountRows(t, db, "recovery_codes", "user_id = ?", u.ID); n != 10 {
			t.Fatalf("%d recovery codes after the first passkey", n)
		}
		c.addPasskey(origin, "")
		if n := dbtest.CountRows(t, db, "recovery_codes", "user_id = ?", u.ID); n != 10 {
			t.Fatalf("%d recovery codes after the second passkey", n)
		}
		app.mail.Last(t, u.Email, "Switchboard security: passkey added")
		page = c.get(paths.Security()).status(http.StatusOK)
		if got := strings.Join(passkeyNames(page), ","); got != "Laptop,Passkey 2" {
			t.Fatalf("passkeys listed: %q", got)
		}
		rows := page.doc().Find(`[data-testid="passkey"]`)
		rename, _ := rows.First().Find(`[data-testid="passkey-rename"] form`).Attr("action")
		remove, _ := rows.First().Find(`[data-testid="passkey-remove"] form`).Attr("action")
		if confirm, _ := rows.First().Find(`[data-testid="passkey-remove"] form`).Attr("data-confirm"); !strings.Contains(confirm, "Laptop") {
			t.Fatalf("the removal's confirmation does not name the passkey: %q", confirm)
		}

		// Another user's rename and removal are 404s and change nothing.
		_, _, mallory := app.user(t)
		mallory.post(rename, url.Values{"name": {"Mallory's"}}, paths.Security()).status(http.StatusNotFound)
		mallory.post(remove, url.Values{"current_password": {dbtest.Password}}, paths.Security()).status(http.StatusNotFound)
		mallory.post(paths.SecurityPasskeyRename("not-a-number"), url.Values{"name": {"x"}}, paths.Security()).status(http.StatusNotFound)

		// Bad names and wrong passwords are refused on the page.
		c.post(rename, url.Values{"name": {" "}}, paths.Security()).status(http.StatusUnprocessableEntity).contains("Enter a name.")
		c.post(rename, url.Values{"name": {strings.Repeat("x", 65)}}, paths.Security()).status(http.StatusUnprocessableEntity)
		c.post(remove, url.Values{"current_password": {"not my password"}}, paths.Security()).status(http.StatusUnauthorized).contains("That is not your current password.")
		if got := strings.Join(passkeyNames(c.get(paths.Security())), ","); got != "Laptop,Passkey 2" {
			t.Fatalf("a refused change was made: %q", got)
		}

		c.post(rename, url.Values{"name": {"Work laptop"}}, paths.Security()).redirectsTo(paths.Security())
		c.post(remove, url.Values{"current_password": {dbtest.Password}}, paths.Security()).redirectsTo(paths.Security())
		app.mail.Last(t, u.Email, "Switchboard security: passkey removed")
		if got := strings.Join(passkeyNames(c.get(paths.Security())), ","); got != "Passkey 2" {
			t.Fatalf("after renaming and removing: %q", got)
		}
		c.post(remove, url.Values{"current_password": {dbtest.Password}}, paths.Security()).status(http.StatusNotFound)

		// An answer without a credential (no JavaScript) says so.
		c.post(paths.SecurityPasskeys(), url.Values{"name": {"x"}}, paths.Security()).status(http.StatusUnprocessableEntity).contains("Passkeys need JavaScript")
	})
}

func TestPasskeyRegistrationAttacks(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app, origin := passkeyApp(t, db)
		_, _, c := app.user(t)
		_, _, other := app.user(t)

		// Another origin.
		a := dbtest.NewAuthenticator(t, "http://evil.localhost")
		opts := c.passkeyOptions(paths.SecurityPasskeyOptions(), paths.Security(), withPassword)
		cred := string(a.Create(t, opts))
		c.post(paths.SecurityPasskeys(), url.Values{"credential": {cred}}, paths.Security()).status(http.StatusUnprocessableEntity).contains("was not accepted")

		// The challenge was used up by that attempt: answering it again fails.
		a.Origin = origin
		cred = string(a.Create(t, opts))
		c.post(paths.SecurityPasskeys(), url.Values{"credential": {cred}}, paths.Security()).status(http.StatusUnprocessableEntity).contains("expired or was already used")

		// Another user cannot answer a challenge issued to this one (the
		// cookie is this browser's; a copy of the answer is not enough).
		opts = c.passkeyOptions(paths.SecurityPasskeyOptions(), paths.Security(), withPassword)
		other.post(paths.SecurityPasskeys(), url.Values{"credential": {string(a.Create(t, opts))}}, paths.Security()).status(http.StatusUnprocessableEntity)
		if n := dbtest.CountRows(t, db, "passkeys", "1 = 1"); n != 0 {
			t.Fatalf("%d passkeys stored by refused attempts", n)
		}
	})
}

// optionsRefusal reads a refused options request: the message of each
// field.
func optionsRefusal(t *testing.T, r *response) map[string]string {
	t.Helper()
	var body struct {
		Error  string            `json:"error"`
		Fields map[string]string `json:"fields"`
	}
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil || body.Error == "" {
		t.Fatalf("the refusal %q is not a message (%v)", r.Body, err)
	}
	for _, ck := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(ck, "switchboard_webauthn=") {
			t.Fatalf("a refused options request started a ceremony: %s", ck)
		}
	}
	return body.Fields
}

// Someone holding only a session (a stolen cookie) must not add a passkey:
// it would sign them in without the password from then on. The options
// step asks for the password before it issues any challenge, and wrong
// passwords draw from the budget the other password checks of the page
// share.
func TestAddingAPasskeyTakesThePassword(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		clock := newManualClock()
		var origin string
		app := newApp(t, db, func(c *handlers.Config) {
			c.BaseURL = strings.Replace(c.BaseURL, "127.0.0.1", "localhost", 1)
			c.Clock, origin = clock.Now, c.BaseURL
		})
		u, _, c := app.user(t)
		page := c.get(paths.Security()).status(http.StatusOK)
		if page.doc().Find(`[data-testid="add-passkey-form"] input[name="current_password"][type="password"][autocomplete="current-password"]`).Length() != 1 {
			t.Fatal("the add-passkey form asks for no current password")
		}
		options := func(form url.Values, status int, want string) {
			t.Helper()
			r := c.post(paths.SecurityPasskeyOptions(), form, paths.Security()).status(status)
			if got := optionsRefusal(t, r)["current_password"]; !strings.HasPrefix(got, want) {
				t.Fatalf("current_password: %q, want %q", got, want)
			}
			if n := dbtest.CountRows(t, db, "webauthn_challenges", "user_id = ?", u.ID); n != 0 {
				t.Fatalf("%d challenges issued without the password", n)
			}
		}
		wrong := url.Values{"current_password": {"not my password"}}

		options(nil, http.StatusUnprocessableEntity, "Enter your current password.")
		for range 4 {
			options(wrong, http.StatusUnprocessableEntity, "That is not your current password.")
		}
		// Five tries are spent: now even the right password waits, and so
		// does the page's other password check.
		options(withPassword, http.StatusTooManyRequests, "Too many wrong attempts. Wait 1 minute")
		dbtest.EnrolTOTP(t, db, dbtest.SecretBox, u, clock.Now())
		c.post(paths.SecurityRecoveryCodes(), withPassword, paths.Security()).status(http.StatusTooManyRequests).contains("Too many wrong attempts.")
		if n := dbtest.CountRows(t, db, "passkeys", "user_id = ?", u.ID); n != 0 {
			t.Fatalf("%d passkeys added without the password", n)
		}

		// A minute later the right password starts the ceremony, the
		// passkey is added, and the failures are forgotten.
		clock.Advance(time.Minute)
		c.addPasskey(origin, "Laptop")
		for range 4 {
			options(wrong, http.StatusUnprocessableEntity, "That is not your current password.")
		}
		c.addPasskey(origin, "Phone")
		if got := strings.Join(passkeyNames(c.get(paths.Security())), ","); got != "Laptop,Phone" {
			t.Fatalf("passkeys: %q", got)
		}
	})
}

// The answer step cannot stand in for the options step: it takes only a
// challenge issued, after the password was checked, to this user for
// adding a passkey.
func TestPasskeySubmitNeedsThePasswordCheckedOptions(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app, origin := passkeyApp(t, db)
		u, _, c := app.user(t)
		a := dbtest.NewAuthenticator(t, origin)
		// answerTo is the authenticator's answer to a challenge of the
		// attacker's choosing, for this user at this site.
		answerTo := func(challenge string) string {
			opts, err := json.Marshal(map[string]any{"publicKey": map[string]any{
				"challenge": challenge, "rp": map[string]string{"id": "localhost"},
				"user": map[string]string{"id": base64.RawURLEncoding.EncodeToString([]byte(u.PublicID))},
			}})
			dbtest.Must(t, err)
			return string(a.Create(t, opts))
		}
		refused := func(credential string) {
			t.Helper()
			c.post(paths.SecurityPasskeys(), url.Values{"name": {"Mallory's"}, "credential": {credential}}, paths.Security()).
				status(http.StatusUnprocessableEntity).contains("expired or was already used")
		}

		// No ceremony: the options were refused, and the answer is to a
		// challenge made up.
		c.post(paths.SecurityPasskeyOptions(), url.Values{"current_password": {"not my password"}}, paths.Security()).status(http.StatusUnprocessableEntity)
		refused(answerTo(base64.RawURLEncoding.EncodeToString([]byte("a challenge nobody issued"))))

		// The ceremony anyone may start without a password, signing in with
		// a passkey alone: its challenge is not for adding one.
		var signIn struct {
			PublicKey struct {
				Challenge string `json:"challenge"`
			} `json:"publicKey"`
		}
		dbtest.Must(t, json.Unmarshal(c.passkeyOptions(paths.SignInPasskeyOptions(), paths.Security(), nil), &signIn))
		refused(answerTo(signIn.PublicKey.Challenge))

		// A challenge for adding a passkey as the previous release issued
		// it, without the password (a server of that release during a
		// rolling deploy).
		opts := c.passkeyOptions(paths.SecurityPasskeyOptions(), paths.Security(), withPassword)
		dbtest.Must(t, dbtest.Plain(t, db).Model(&models.WebAuthnChallenge{}).Where("user_id = ?", u.ID).Update("purpose", "register").Error)
		refused(string(a.Create(t, opts)))

		if n := dbtest.CountRows(t, db, "passkeys", "user_id = ?", u.ID); n != 0 {
			t.Fatalf("%d passkeys added without a password-checked options step", n)
		}
	})
}

// A user made by SSO or SCIM has no password to confirm. As the profile
// page does, Security points to the emailed link that sets one rather
// than offer a form that could never be accepted; a crafted request is
// refused without a challenge.
func TestAddingAPasskeyWithoutAPassword(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app, _ := passkeyApp(t, db)
		u, _, c := app.user(t)
		dbtest.Must(t, dbtest.Plain(t, db).Model(&models.User{}).Where("id = ?", u.ID).Update("password_hash", "").Error)
		page := c.get(paths.Security()).status(http.StatusOK).lacks(`data-testid="add-passkey-form"`)
		if page.doc().Find(`[data-testid="add-passkey-no-password"] a[href="`+paths.ForgotPassword()+`"]`).Length() != 1 {
			t.Fatal("Security does not point a user without a password to the emailed link")
		}
		for _, pw := range []string{"", "anything at all"} {
			r := c.post(paths.SecurityPasskeyOptions(), url.Values{"current_password": {pw}}, paths.Security()).status(http.StatusUnprocessableEntity)
			if got := optionsRefusal(t, r)["current_password"]; !strings.Contains(got, "no password yet") {
				t.Fatalf("current_password: %q", got)
			}
		}
		if n := dbtest.CountRows(t, db, "webauthn_challenges", "user_id = ?", u.ID); n != 0 {
			t.Fatalf("%d challenges issued to a user without a password", n)
		}
	})
}

func TestPasskeyAsTheSecondFactor(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app, origin := passkeyApp(t, db)
		u, _, c := app.user(t)
		a := c.addPasskey(origin, "Laptop")
		_, _, mallory := app.user(t)
		malloryKey := mallory.addPasskey(origin, "Mallory's")

		// A user with only a passkey gets a second step: the passkey, or a
		// recovery code.
		b := app.client()
		passwordStep(b, u.Email)
		step := b.get(paths.SignInSecondFactor()).status(http.StatusOK)
		if step.doc().Find(`[data-testid="use-passkey"]`).Length() != 1 || step.doc().Find(`input[name="code"]`).Length() != 1 {
			t.Fatal("the step does not offer the passkey and a recovery code")
		}
		step.contains("Without your passkey, enter one of your recovery codes.")
		b.get(paths.Security()).redirectsTo(paths.SignInSecondFactor())

		// Refused: another user's passkey, another origin, a replayed challenge.
		b.passkeyStep(malloryKey).status(http.StatusUnauthorized).contains("was not accepted")
		a.Origin = "http://localhost:1"
		opts := b.passkeyOptions(paths.SignInSecondFactorPasskeyOptions(), paths.SignInSecondFactor(), nil)
		b.post(paths.SignInSecondFactorPasskey(), url.Values{"credential": {string(a.Get(t, opts))}}, paths.SignInSecondFactor()).status(http.StatusUnauthorized)
		a.Origin = origin
		b.post(paths.SignInSecondFactorPasskey(), url.Values{"credential": {string(a.Get(t, opts))}}, paths.SignInSecondFactor()).
			status(http.StatusUnauthorized).contains("expired or was already used")
		b.get(paths.Security()).redirectsTo(paths.SignInSecondFactor())

		b.passkeyStep(a).redirectsTo("/")
		sessions := b.get(paths.Security()).status(http.StatusOK).doc().Find(`[data-testid="session"]`).First().Text()
		if !strings.Contains(sessions, "Password + passkey") {
			t.Fatalf("this session's method: %q", sessions)
		}

		// With an authenticator app too, the step offers both.
		dbtest.EnrolTOTP(t, db, dbtest.SecretBox, u, dbtest.UTC())
		d := app.client()
		passwordStep(d, u.Email)
		step = d.get(paths.SignInSecondFactor()).status(http.StatusOK)
		if step.doc().Find(`[data-testid="use-passkey"]`).Length() != 1 || step.doc().Find(`input[name="code"]`).Length() != 1 {
			t.Fatal("the step does not offer both the passkey and the code")
		}
		// Without a pending sign-in there is nothing to answer.
		app.client().post(paths.SignInSecondFactorPasskeyOptions(), nil, paths.SignIn()).status(http.StatusUnauthorized)
	})
}

func TestPasskeyWithoutAPassword(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app, origin := passkeyApp(t, db)
		u, _, c := app.user(t)
		dbtest.EnrolTOTP(t, db, dbtest.SecretBox, u, dbtest.UTC())
		a := c.addPasskey(origin, "Laptop")
		rows := c.get(paths.Security()).doc().Find(`[data-testid="passkey"]`)
		remove, _ := rows.First().Find(`[data-testid="passkey-remove"] form`).Attr("action")

		b := app.client()
		b.get(paths.SignIn()).status(http.StatusOK).contains(`data-testid="passkey-signin-button"`)
		// No second step: the passkey verified the user.
		b.passwordless(a, "/indexes").redirectsTo("/indexes")
		first := b.get(paths.Security()).status(http.StatusOK).doc().Find(`[data-testid="session"]`).First().Text()
		if !strings.Contains(first, "Passkey") || strings.Contains(first, "Password") {
			t.Fatalf("this session's method: %q", first)
		}

		// Another origin, a user handle that is not the passkey's user, and
		// a counter that went back are refused.
		e := app.client()
		a.Origin = "https://localhost.evil.example"
		e.passwordless(a, "").status(http.StatusUnauthorized).contains("was not accepted")
		a.Origin = origin
		handle := a.UserHandle
		a.UserHandle = []byte("someone-else")
		e.passwordless(a, "").status(http.StatusUnauthorized)
		a.UserHandle = handle
		a.Counter = 0
		e.passwordless(a, "").status(http.StatusUnauthorized)
		a.Counter = 100
		e.get("/").redirectsTo(paths.WithQuery(paths.SignIn(), url.Values{"next": {""}}))

		// A removed passkey signs nobody in.
		c.post(remove, url.Values{"current_password": {dbtest.Password}}, paths.Security()).redirectsTo(paths.Security())
		e.passwordless(a, "").status(http.StatusUnauthorized)
		e.get(paths.Security()).status(http.StatusSeeOther)
	})
}

// With a public URL at an IP address, browsers refuse passkeys: the server
// offers none, says why, and its passkey routes are 404s.
func TestPasskeysOffWithoutADomain(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		_, _, c := app.user(t)
		c.get(paths.Security()).status(http.StatusOK).contains(`data-testid="passkeys-off"`).lacks(`data-passkey="register"`)
		app.client().get(paths.SignIn()).status(http.StatusOK).lacks("passkey-signin")
		c.post(paths.SecurityPasskeyOptions(), nil, paths.Security()).status(http.StatusNotFound)
		app.client().post(paths.SignInPasskeyOptions(), nil, paths.SignIn()).status(http.StatusNotFound)
	})
}

// A member whose only second factor is a passkey satisfies the
// organization's policy, and the members page says so.
func TestPasskeySatisfiesRequire2FA(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app, origin := passkeyApp(t, db)
		f := dbtest.NewOrgFixture(t, db)
		org := f.Admin.Account()
		dbtest.NewIndex(t, db, f.Admin, "secret-plans", "account")

		admin := app.client()
		admin.signIn(f.AdminUser.Email)
		admin.addPasskey(origin, "Admin key")
		admin.switchTo(org.PublicID)
		admin.post(paths.OrganizationSettings(), url.Values{"name": {org.Name}, "require_2fa": {"on"}}).redirectsTo(paths.OrganizationSettings())

		member := app.client()
		member.signIn(f.MemberUser.Email)
		member.switchTo(org.PublicID)
		member.follow("/indexes").lacks("secret-plans")
		member.addPasskey(origin, "Member key")
		member.switchTo(org.PublicID)
		member.get("/indexes").status(http.StatusOK).contains("secret-plans")
		// The session that just proved its passkey passed a second factor: it
		// makes keys, as one that set up an authenticator app does.
		member.post(paths.APIKeys(), url.Values{"name": {"after the passkey"}}).status(http.StatusOK).contains(`data-testid="new-key"`)

		members := admin.get(paths.Members()).status(http.StatusOK).doc()
		for id, want := range map[string]string{f.AdminUser.PublicID: "On", f.MemberUser.PublicID: "On", f.Member2User.PublicID: "Off"} {
			if got := strings.TrimSpace(members.Find(`tr[data-member="` + id + `"] [data-testid="member-2fa"]`).Text()); got != want {
				t.Errorf("2FA of %s on the members page: %q, want %q", id, got, want)
			}
		}
	})
}

// Passwordless sign-ins started from one address are throttled: each one
// leaves a challenge on the server until it expires.
func TestPasswordlessStartsAreThrottled(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app, _ := passkeyApp(t, db)
		c := app.client()
		guard := c.guard(paths.SignIn())
		for i := 0; i < 30; i++ {
			c.postRaw(paths.SignInPasskeyOptions(), guard).status(http.StatusOK)
		}
		c.postRaw(paths.SignInPasskeyOptions(), guard).status(http.StatusTooManyRequests).contains("Too many sign-ins from here")
		if n := dbtest.CountRows(t, db, "webauthn_challenges", "1 = 1"); n != 30 {
			t.Fatalf("%d challenges stored, want 30", n)
		}
	})
}

// Turning the authenticator app off leaves a user with passkeys their
// second factor and their recovery codes, which they can renew.
func TestTOTPOffWithAPasskeyLeft(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		clock := newManualClock()
		var origin string
		app := newApp(t, db, func(c *handlers.Config) {
			c.BaseURL = strings.Replace(c.BaseURL, "127.0.0.1", "localhost", 1)
			c.Clock, origin = clock.Now, c.BaseURL
		})
		u, _, c := app.user(t)
		secret, _ := dbtest.EnrolTOTP(t, db, dbtest.SecretBox, u, clock.Now())
		clock.Advance(time.Minute)
		c.addPasskey(origin, "Laptop")
		c.get(paths.Security()).status(http.StatusOK).contains("Remove the authenticator app")
		c.post(paths.SecurityTOTPDisable(), url.Values{"current_password": {dbtest.Password}, "code": {totpAt(t, secret, clock.Now())}}, paths.Security()).
			redirectsTo(paths.Security())
		app.mail.Last(t, u.Email, "Switchboard security: authenticator app removed")
		if n := dbtest.CountRows(t, db, "recovery_codes", "user_id = ? AND used_at IS NULL", u.ID); n != 10 {
			t.Fatalf("%d recovery codes left", n)
		}
		r := c.post(paths.SecurityRecoveryCodes(), url.Values{"current_password": {dbtest.Password}}, paths.Security()).status(http.StatusOK)
		if n := r.doc().Find("#recovery-codes li").Length(); n != 10 {
			t.Fatalf("%d new recovery codes shown", n)
		}
		b := app.client()
		passwordStep(b, u.Email)
	})
}
