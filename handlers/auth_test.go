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

func TestSignedOutVisitorsGoToSignIn(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		c := newApp(t, db).client()
		c.get("/").redirectsTo("/signin")
		c.get("/settings/profile").redirectsTo("/signin?next=%2Fsettings%2Fprofile")
		c.follow("/signin").status(http.StatusOK).contains(`name="email"`)
	})
}

func TestSignUp(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		c := app.client()
		c.post("/signup", url.Values{"name": {"Ada Lovelace"}, "email": {"  Ada@Example.COM "}, "password": {"correct horse battery"}}).redirectsTo("/")
		home := c.get("/").status(http.StatusOK)
		if got := strings.TrimSpace(home.doc().Find(`[data-testid="active-avatar"]`).Text()); got != "AL" {
			t.Fatalf("avatar shows %q, want AL", got)
		}
		home.contains("Ada Lovelace").contains("ada@example.com").contains(`data-testid="verify-banner"`)
		if activeAccount(t, home) != "Ada Lovelace" {
			t.Fatalf("the personal account is not the active one")
		}
		msg := app.mail.Last(t, "ada@example.com", "Verify")
		if !strings.Contains(msg.Body, msg.Link) || !strings.HasPrefix(msg.Link, app.srv.URL+"/verify/") {
			t.Fatalf("verification message lacks its link: %+v", msg)
		}
		user, err := models.FindUserByEmail(t.Context(), db, "ada@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if user.Verified() {
			t.Fatal("a new user is verified before opening the link")
		}
	})
}

func TestSignUpRefusesBadInput(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		taken, _ := dbtest.User(t, db)
		cases := []struct {
			name, email, password, field string
		}{
			{"", "a@example.com", "long enough pw", "name"},
			{strings.Repeat("n", 101), "a@example.com", "long enough pw", "name"},
			{"Ada", "not-an-email", "long enough pw", "email"},
			{"Ada", "", "long enough pw", "email"},
			{"Ada", "a@example.com", "short", "password"},
			{"Ada", strings.ToUpper(taken.Email), "long enough pw", "email"},
		}
		for _, tc := range cases {
			var before int64
			dbtest.Plain(t, db).Model(&models.User{}).Count(&before)
			c := app.client()
			r := c.post("/signup", url.Values{"name": {tc.name}, "email": {tc.email}, "password": {tc.password}}).status(http.StatusUnprocessableEntity)
			d := r.doc()
			if d.Find("#field-"+tc.field+"-error").Length() != 1 {
				t.Errorf("%+v: no error under %s", tc, tc.field)
			}
			if d.Find(`[data-testid="error-summary"]`).Length() != 1 {
				t.Errorf("%+v: no error summary", tc)
			}
			if v, _ := d.Find("#field-name").Attr("value"); v != tc.name {
				t.Errorf("%+v: submitted name not kept (%q)", tc, v)
			}
			if _, has := d.Find("#field-password").Attr("value"); has {
				t.Errorf("%+v: the password is echoed back", tc)
			}
			var after int64
			dbtest.Plain(t, db).Model(&models.User{}).Count(&after)
			if after != before {
				t.Errorf("%+v: a user was written", tc)
			}
			c.get("/").redirectsTo("/signin")
		}
	})
}

func TestSignInAndOut(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, _ := dbtest.User(t, db)
		c := app.client()
		c.post("/signin", url.Values{"email": {"  " + strings.ToUpper(u.Email)}, "password": {dbtest.Password}}).redirectsTo("/")
		c.get("/").status(http.StatusOK).contains(u.Name)

		c.post("/signout", nil, "/").redirectsTo("/signin")
		c.get("/").redirectsTo("/signin")
		var n int64
		dbtest.Plain(t, db).Model(&models.Session{}).Where("user_id = ?", u.ID).Count(&n)
		if n != 0 {
			t.Fatalf("%d sessions remain after signing out", n)
		}
	})
}

func TestSignInNextStaysOnSite(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, _ := dbtest.User(t, db)
		for next, want := range map[string]string{
			"/settings/profile":      "/settings/profile",
			"https://evil.example/x": "/",
			"//evil.example/x":       "/",
			"/\\evil.example":        "/",
			"javascript:alert(1)":    "/",
		} {
			c := app.client()
			c.post("/signin", url.Values{"email": {u.Email}, "password": {dbtest.Password}, "next": {next}}).redirectsTo(want)
		}
	})
}

func TestSignInFailuresAreGenericAndThrottled(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, _ := dbtest.User(t, db)
		c := app.client()
		wrongPassword := c.post("/signin", url.Values{"email": {u.Email}, "password": {"wrong password!"}}).status(http.StatusUnauthorized)
		unknownEmail := c.post("/signin", url.Values{"email": {"nobody@example.com"}, "password": {"wrong password!"}}).status(http.StatusUnauthorized)
		msg := func(r *response) string {
			return strings.TrimSpace(r.doc().Find(`[data-testid="signin-error"]`).Text())
		}
		if msg(wrongPassword) == "" || msg(wrongPassword) != msg(unknownEmail) {
			t.Fatalf("messages differ: %q vs %q", msg(wrongPassword), msg(unknownEmail))
		}
		for i := 0; i < 4; i++ {
			c.post("/signin", url.Values{"email": {u.Email}, "password": {"wrong password!"}}).status(http.StatusUnauthorized)
		}
		// Five failures for this email: the next attempt waits, even with the right password.
		r := c.post("/signin", url.Values{"email": {u.Email}, "password": {dbtest.Password}}).status(http.StatusTooManyRequests)
		if !strings.Contains(msg(r), "Too many failed attempts") {
			t.Fatalf("throttled sign-in says %q", msg(r))
		}
		c.get("/").redirectsTo("/signin")
		// Another email from the same address is not blocked yet (the address allows more).
		other, _ := dbtest.User(t, db)
		app.client().signIn(other.Email)
	})
}

func TestSessionCookieIsOpaqueAndRotated(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, _ := dbtest.User(t, db)
		c := app.client()
		r := c.post("/signin", url.Values{"email": {u.Email}, "password": {dbtest.Password}})
		var cookie *http.Cookie
		for _, ck := range (&http.Response{Header: r.Header}).Cookies() {
			if ck.Name == "switchboard_session" {
				cookie = ck
			}
		}
		if cookie == nil {
			t.Fatal("no session cookie set at sign-in")
		}
		if !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/" {
			t.Fatalf("cookie flags: %+v", cookie)
		}
		var stored []string
		dbtest.Plain(t, db).Model(&models.Session{}).Where("user_id = ?", u.ID).Pluck("token_hash", &stored)
		if len(stored) != 1 || strings.Contains(cookie.Value, stored[0]) || len(stored[0]) != 64 {
			t.Fatalf("stored %v for cookie %q", stored, cookie.Value)
		}
		// Signing in again replaces the session row rather than adding one.
		c.post("/signin", url.Values{"email": {u.Email}, "password": {dbtest.Password}}).redirectsTo("/")
		var again []string
		dbtest.Plain(t, db).Model(&models.Session{}).Where("user_id = ?", u.ID).Pluck("token_hash", &again)
		if len(again) != 1 || again[0] == stored[0] {
			t.Fatalf("session not rotated: before %v, after %v", stored, again)
		}
		// A forged cookie is a visitor.
		forged := app.client()
		req, _ := http.NewRequest(http.MethodGet, app.srv.URL+"/", nil)
		req.AddCookie(&http.Cookie{Name: "switchboard_session", Value: "forged"})
		if res := forged.do(req); res.Code != http.StatusSeeOther {
			t.Fatalf("forged cookie got %d", res.Code)
		}
	})
}

func TestEmailVerification(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		c := app.client()
		c.signUp("Grace Hopper", "grace@example.com")
		first := app.mail.Last(t, "grace@example.com", "Verify")
		// Asking again sends a new link and retires the first.
		c.post("/verify/resend", nil, "/").status(http.StatusSeeOther)
		second := app.mail.Last(t, "grace@example.com", "Verify")
		if first.Link == second.Link {
			t.Fatal("resend sent the same link")
		}
		path := strings.TrimPrefix(first.Link, app.srv.URL)
		c.get(path).status(http.StatusBadRequest).contains("invalid")
		path = strings.TrimPrefix(second.Link, app.srv.URL)
		c.get(path).redirectsTo("/")
		c.get("/").status(http.StatusOK).contains("Your email address is verified.").lacks(`data-testid="verify-banner"`)
		// Single use.
		app.client().get(path).status(http.StatusBadRequest)
		app.client().get("/verify/not-a-token").status(http.StatusBadRequest)
	})
}

// TestVerificationLinkOpenedAsSomeoneElse: a link opened in a browser
// signed in as another user verifies its own user, and tells the signed-in
// one nothing about their own address.
func TestVerificationLinkOpenedAsSomeoneElse(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		ada := app.client()
		ada.signUp("Ada Byron", "ada.byron@example.com")
		app.client().signUp("Bob Brown", "bob.brown@example.com")
		path := strings.TrimPrefix(app.mail.Last(t, "bob.brown@example.com", "Verify").Link, app.srv.URL)

		ada.get(path).status(http.StatusOK).contains(`data-testid="message"`)
		ada.get("/").status(http.StatusOK).lacks("Your email address is verified.").contains(`data-testid="verify-banner"`)
		bob, err := models.FindUserByEmail(t.Context(), db, "bob.brown@example.com")
		if err != nil || !bob.Verified() {
			t.Fatalf("the link's user is not verified: %+v, %v", bob, err)
		}
	})
}

func TestPasswordReset(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, _ := dbtest.User(t, db)
		signedIn := app.client()
		signedIn.signIn(u.Email)

		visitor := app.client()
		sent := visitor.post("/password/forgot", url.Values{"email": {strings.ToUpper(u.Email)}}).status(http.StatusOK)
		sent.contains(`data-testid="reset-sent"`)
		// Unknown addresses get the same answer and no mail.
		visitor.post("/password/forgot", url.Values{"email": {"nobody@example.com"}}).status(http.StatusOK).contains(`data-testid="reset-sent"`)
		visitor.post("/password/forgot", url.Values{"email": {"nonsense"}}).status(http.StatusUnprocessableEntity)

		msg := app.mail.Last(t, u.Email, "Reset")
		path := strings.TrimPrefix(msg.Link, app.srv.URL)
		visitor.get(path).status(http.StatusOK).contains(u.Email)
		visitor.post(path, url.Values{"password": {"short"}}).status(http.StatusUnprocessableEntity)
		visitor.post(path, url.Values{"password": {"a brand new password"}}).status(http.StatusOK).contains("Password changed")

		// Every session ended; the old password is gone; the link is used up.
		signedIn.get("/").redirectsTo("/signin")
		app.client().post("/signin", url.Values{"email": {u.Email}, "password": {dbtest.Password}}).status(http.StatusUnauthorized)
		app.client().post("/signin", url.Values{"email": {u.Email}, "password": {"a brand new password"}}).redirectsTo("/")
		visitor.get(path).status(http.StatusBadRequest)
		visitor.post(path, url.Values{"password": {"another new password"}}, "/password/forgot").status(http.StatusBadRequest)
	})
}

func TestPasswordResetLinkExpiresAfterAnHour(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, _ := dbtest.User(t, db)
		c := app.client()
		c.post("/password/forgot", url.Values{"email": {u.Email}}).status(http.StatusOK)
		path := strings.TrimPrefix(app.mail.Last(t, u.Email, "Reset").Link, app.srv.URL)
		if err := dbtest.Plain(t, db).Model(&models.EmailToken{}).Where("user_id = ?", u.ID).
			Update("expires_at", gorm.Expr("created_at")).Error; err != nil {
			t.Fatal(err)
		}
		c.get(path).status(http.StatusBadRequest)
	})
}
