package models_test

import (
	"strings"
	"testing"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

const goodPassword = "long enough password"

func TestSignUpCreatesUserPersonalAccountAndAdminMembership(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		other, _ := dbtest.User(t, db) // always two accounts
		before := dbtest.CountAll(t, db)
		u, acct, err := models.SignUp(t.Context(), db, models.SignUpInput{
			Name: "  Ada   Lovelace ", Email: "  Ada@Example.COM ", Password: goodPassword,
		})
		dbtest.Must(t, err)
		if u.ID == 0 || u.PublicID == "" || acct.ID == 0 || acct.PublicID == "" {
			t.Fatalf("IDs not set: user %+v, account %+v", u, acct)
		}
		if u.Email != "ada@example.com" {
			t.Errorf("email stored as %q, want it trimmed and lower-cased", u.Email)
		}
		if u.Name != "Ada Lovelace" {
			t.Errorf("name %q, want whitespace collapsed", u.Name)
		}
		if u.Verified() {
			t.Error("a new user is verified before opening the link")
		}
		stored := reloadUser(t, db, u.ID)
		if stored.Email != "ada@example.com" || stored.Name != "Ada Lovelace" {
			t.Errorf("stored user %+v", stored)
		}
		if stored.PasswordHash == "" || strings.Contains(stored.PasswordHash, goodPassword) || !strings.HasPrefix(stored.PasswordHash, "$argon2id$") {
			t.Errorf("password stored as %q, want an argon2id hash", stored.PasswordHash)
		}

		a := dbtest.ReloadAccount(t, db, acct.ID)
		if a.Kind != tenancy.KindPersonal || a.Name != "Ada Lovelace" || a.Plan != tenancy.PlanFree || a.CreatedByID != u.ID || a.Slug != nil {
			t.Errorf("personal account %+v, want kind personal, named after the user, plan free, no slug", a)
		}
		if role := membershipRole(t, db, acct.ID, u.ID); role != tenancy.RoleAdmin {
			t.Errorf("membership role %q, want admin", role)
		}
		if role := membershipRole(t, db, acct.ID, other.ID); role != "" {
			t.Errorf("another user belongs to the new personal account as %q", role)
		}
		for table, want := range map[string]int64{"users": 1, "accounts": 1, "memberships": 1} {
			if got := dbtest.CountRows(t, db, table, "") - before[table]; got != want {
				t.Errorf("%s: %d rows added, want %d", table, got, want)
			}
		}
	})
}

func TestSignUpRefusesTakenEmailInAnyCase(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		dbtest.UserNamed(t, db, "Ada", "ada@example.com")
		for _, email := range []string{"ada@example.com", "ADA@Example.com", "  ada@EXAMPLE.COM  "} {
			t.Run(email, func(t *testing.T) {
				before := dbtest.CountAll(t, db)
				_, _, err := models.SignUp(t.Context(), db, models.SignUpInput{Name: "Impostor", Email: email, Password: goodPassword})
				dbtest.WantFields(t, err, "email")
				dbtest.WantNothingWritten(t, db, before)
			})
		}
	})
}

func TestSignUpRefusesBadInput(t *testing.T) {
	t.Parallel()
	const (
		name  = "Ada Lovelace"
		email = "ada@example.com"
	)
	cases := []struct {
		label                 string
		name, email, password string
		fields                []string
	}{
		{"empty name", "", email, goodPassword, []string{"name"}},
		{"whitespace name", " \t\n ", email, goodPassword, []string{"name"}},
		{"name of 101 characters", strings.Repeat("n", 101), email, goodPassword, []string{"name"}},
		{"name of 101 multi-byte characters", strings.Repeat("ñ", 101), email, goodPassword, []string{"name"}},
		{"NUL in name", "Ada\x00Lovelace", email, goodPassword, []string{"name"}},
		{"escape in name", "\x1b[31mAda", email, goodPassword, []string{"name"}},
		{"DEL in name", "Ada\x7f", email, goodPassword, []string{"name"}},
		{"empty email", name, "", goodPassword, []string{"email"}},
		{"email a", name, "a", goodPassword, []string{"email"}},
		{"email a@b", name, "a@b", goodPassword, []string{"email"}},
		{"email with space", name, "a b@c.com", goodPassword, []string{"email"}},
		{"email in brackets", name, "<x@y.com>", goodPassword, []string{"email"}},
		{"email with display name", name, "Ada <ada@example.com>", goodPassword, []string{"email"}},
		{"email without local part", name, "@example.com", goodPassword, []string{"email"}},
		{"email with dot-led domain", name, "a@.com", goodPassword, []string{"email"}},
		{"email with dot-ended domain", name, "a@b.", goodPassword, []string{"email"}},
		{"email of 255 bytes", name, strings.Repeat("a", 243) + "@example.com", goodPassword, []string{"email"}},
		{"empty password", name, email, "", []string{"password"}},
		{"password of 9 characters", name, email, "123456789", []string{"password"}},
		{"password of 9 multi-byte characters", name, email, strings.Repeat("é", 9), []string{"password"}},
		{"password of 257 bytes", name, email, strings.Repeat("p", 257), []string{"password"}},
		{"password of 129 two-byte characters", name, email, strings.Repeat("é", 129), []string{"password"}},
		{"everything wrong", "", "a", "short", []string{"name", "email", "password"}},
	}
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		dbtest.User(t, db)
		for _, c := range cases {
			t.Run(c.label, func(t *testing.T) {
				before := dbtest.CountAll(t, db)
				_, _, err := models.SignUp(t.Context(), db, models.SignUpInput{Name: c.name, Email: c.email, Password: c.password})
				dbtest.WantFields(t, err, c.fields...)
				dbtest.WantNothingWritten(t, db, before)
			})
		}
	})
}

// TestSignUpAcceptsBoundaries proves the limits above are the limits, not
// stricter ones.
func TestSignUpAcceptsBoundaries(t *testing.T) {
	t.Parallel()
	cases := []struct {
		label                 string
		name, email, password string
	}{
		{"name of 1 character", "A", "b1@example.com", goodPassword},
		{"name of 100 characters", strings.Repeat("n", 100), "b2@example.com", goodPassword},
		{"non-Latin name", "Владимир Набоков", "b3@example.com", goodPassword},
		{"password of 10 characters", "Ten", "b4@example.com", "1234567890"},
		{"password of 256 bytes", "Max", "b5@example.com", strings.Repeat("p", 256)},
		{"plus address, subdomain", "Plus", "first.last+tag@mail.example.co.uk", goodPassword},
	}
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		for _, c := range cases {
			t.Run(c.label, func(t *testing.T) {
				u, _, err := models.SignUp(t.Context(), db, models.SignUpInput{Name: c.name, Email: c.email, Password: c.password})
				dbtest.Must(t, err)
				if _, err := models.Authenticate(t.Context(), db, c.email, c.password); err != nil {
					t.Fatalf("cannot sign in as %s after signing up: %v", u.Email, err)
				}
			})
		}
	})
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, _ := dbtest.UserNamed(t, db, "Ada Lovelace", "ada@example.com")
		other, _ := dbtest.UserNamed(t, db, "Grace Hopper", "grace@example.com")
		cases := []struct {
			label, email, password string
			want                   int64 // user ID; 0 means ErrBadCredentials
		}{
			{"right password", "ada@example.com", dbtest.Password, u.ID},
			{"upper-case email", "ADA@EXAMPLE.COM", dbtest.Password, u.ID},
			{"padded email", "  Ada@Example.com \t", dbtest.Password, u.ID},
			{"the other user", "grace@example.com", dbtest.Password, other.ID},
			{"wrong password", "ada@example.com", "wrong horse battery staple", 0},
			{"password in another case", "ada@example.com", strings.ToUpper(dbtest.Password), 0},
			{"password with a trailing space", "ada@example.com", dbtest.Password + " ", 0},
			{"empty password", "ada@example.com", "", 0},
			{"password over the maximum", "ada@example.com", strings.Repeat("p", models.PasswordMax+1), 0},
			{"unknown email", "nobody@example.com", dbtest.Password, 0},
			{"empty email", "", dbtest.Password, 0},
		}
		for _, c := range cases {
			t.Run(c.label, func(t *testing.T) {
				got, err := models.Authenticate(t.Context(), db, c.email, c.password)
				if c.want == 0 {
					dbtest.WantIs(t, err, tenancy.ErrBadCredentials)
					if got.ID != 0 {
						t.Fatalf("a refused sign-in returned user %d", got.ID)
					}
					return
				}
				dbtest.Must(t, err)
				if got.ID != c.want {
					t.Fatalf("signed in as user %d, want %d", got.ID, c.want)
				}
			})
		}
	})
}

func TestInitials(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, want string }{
		{"Ada Lovelace", "AL"},
		{"Plato", "PL"},
		{"ada lovelace", "AL"},
		{"  Grace  Brewster Hopper ", "GH"},
		{"Владимир Набоков", "ВН"},
		{"李小龙", "李小"},
		{"Zoë", "ZO"},
		{"", "?"},
		{"   ", "?"},
		{"!!!", "?"},
		{"!!! ???", "?"},
		{"O'Brien Smith", "OS"},
		{"A", "A"},
		{"élodie durand", "ÉD"},
		{"Acme Video Labs", "AL"},
		{"- Ada -", "AD"},
	}
	for _, c := range cases {
		if got := models.Initials(c.name); got != c.want {
			t.Errorf("Initials(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestRenameUserRenamesPersonalAccountOnly(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, personal := dbtest.User(t, db)
		org := dbtest.Org(t, db, u)
		other, otherPersonal := dbtest.User(t, db)

		dbtest.Must(t, models.RenameUser(t.Context(), db, u.ID, "  Grace   Hopper "))
		if got := reloadUser(t, db, u.ID).Name; got != "Grace Hopper" {
			t.Errorf("user name %q, want %q", got, "Grace Hopper")
		}
		if got := dbtest.ReloadAccount(t, db, personal.AccountID()).Name; got != "Grace Hopper" {
			t.Errorf("personal account name %q, want it renamed with the user", got)
		}
		if got := dbtest.ReloadAccount(t, db, org.AccountID()).Name; got != org.Account().Name {
			t.Errorf("organization renamed to %q with its creator", got)
		}
		if got := reloadUser(t, db, other.ID).Name; got != other.Name {
			t.Errorf("another user renamed to %q", got)
		}
		if got := dbtest.ReloadAccount(t, db, otherPersonal.AccountID()).Name; got != otherPersonal.Account().Name {
			t.Errorf("another user's personal account renamed to %q", got)
		}
	})
}

func TestRenameUserRefusesBadNames(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"empty":          "",
		"whitespace":     "   ",
		"101 characters": strings.Repeat("x", 101),
		"NUL":            "Grace\x00Hopper",
		"escape":         "\x1b[2J",
	}
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, personal := dbtest.User(t, db)
		for label, name := range cases {
			t.Run(label, func(t *testing.T) {
				dbtest.WantFields(t, models.RenameUser(t.Context(), db, u.ID, name), "name")
				if got := reloadUser(t, db, u.ID).Name; got != u.Name {
					t.Errorf("user renamed to %q", got)
				}
				if got := dbtest.ReloadAccount(t, db, personal.AccountID()).Name; got != u.Name {
					t.Errorf("personal account renamed to %q", got)
				}
			})
		}
	})
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	const next = "a brand new password"
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, personal := dbtest.User(t, db)
		other, otherPersonal := dbtest.User(t, db)
		var sessions []models.Session
		for range 3 {
			_, s, err := models.CreateSession(t.Context(), db, u.ID, personal.AccountID(), "192.0.2.1", "test", life)
			dbtest.Must(t, err)
			sessions = append(sessions, s)
		}
		otherToken, _, err := models.CreateSession(t.Context(), db, other.ID, otherPersonal.AccountID(), "192.0.2.2", "test", life)
		dbtest.Must(t, err)
		keep := sessions[1]

		refused := []struct {
			label, current, next string
			fields               []string
		}{
			{"wrong current password", "not my password", next, []string{"current_password"}},
			{"empty current password", "", next, []string{"current_password"}},
			{"short new password", dbtest.Password, "short", []string{"new_password"}},
			{"new password of 9 characters", dbtest.Password, "123456789", []string{"new_password"}},
			{"empty new password", dbtest.Password, "", []string{"new_password"}},
			{"new password over 256 bytes", dbtest.Password, strings.Repeat("p", 257), []string{"new_password"}},
			{"both wrong", "not my password", "short", []string{"current_password", "new_password"}},
		}
		for _, c := range refused {
			t.Run(c.label, func(t *testing.T) {
				before := dbtest.CountAll(t, db)
				dbtest.WantFields(t, models.ChangePassword(t.Context(), db, u.ID, c.current, c.next, keep.ID), c.fields...)
				dbtest.WantNothingWritten(t, db, before)
				if _, err := models.Authenticate(t.Context(), db, u.Email, dbtest.Password); err != nil {
					t.Fatalf("the old password stopped working after a refused change: %v", err)
				}
			})
		}

		dbtest.Must(t, models.ChangePassword(t.Context(), db, u.ID, dbtest.Password, next, keep.ID))
		if _, err := models.Authenticate(t.Context(), db, u.Email, next); err != nil {
			t.Fatalf("the new password does not work: %v", err)
		}
		_, err = models.Authenticate(t.Context(), db, u.Email, dbtest.Password)
		dbtest.WantIs(t, err, tenancy.ErrBadCredentials)
		if n := dbtest.CountRows(t, db, "sessions", "user_id = ?", u.ID); n != 1 {
			t.Fatalf("user has %d sessions after changing the password, want only the one kept", n)
		}
		if n := dbtest.CountRows(t, db, "sessions", "id = ?", keep.ID); n != 1 {
			t.Fatal("the current session was ended")
		}
		if _, err := models.LoadSession(t.Context(), db, otherToken, life); err != nil {
			t.Fatalf("another user's session was ended: %v", err)
		}
		if _, err := models.Authenticate(t.Context(), db, other.Email, dbtest.Password); err != nil {
			t.Fatalf("another user's password changed: %v", err)
		}
	})
}

func TestChangePasswordOfUnknownUserIsNotFound(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		dbtest.User(t, db)
		dbtest.WantIs(t, models.ChangePassword(t.Context(), db, 987654, dbtest.Password, "a brand new password", 0), tenancy.ErrNotFound)
	})
}
