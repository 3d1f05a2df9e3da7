package models_test

import (
	"context"
	"errors"
	"testing"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

func TestPasskeyRelyingPartyNeedsADomain(t *testing.T) {
	t.Parallel()
	for url, ok := range map[string]bool{
		"https://switchboard.example.com": true, "http://localhost:8080": true, "https://localhost": true,
		"http://127.0.0.1:8080": false, "http://[::1]:8080": false, "http://switchboard.example.com": false,
		"https://example.com/dashboard": false, "": false, "http://:8080": false,
	} {
		_, err := models.NewPasskeyRP(url, "Switchboard")
		if (err == nil) != ok {
			t.Errorf("NewPasskeyRP(%q) = %v, want ok=%v", url, err, ok)
		}
		if err != nil && !errors.Is(err, models.ErrPasskeysUnavailable) {
			t.Errorf("NewPasskeyRP(%q) = %v, not ErrPasskeysUnavailable", url, err)
		}
	}
}

func TestPasskeyRegistrationAndSignIn(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx, rp := context.Background(), dbtest.PasskeyRP(t)
		u, scope := dbtest.User(t, db)
		before, err := models.SecondFactorStatusOf(ctx, db, u.ID)
		dbtest.Must(t, err)
		if before.Enabled() {
			t.Fatal("a new user has a second factor")
		}
		a, p := dbtest.RegisterPasskey(t, db, rp, u, "  Laptop   Touch ID ")
		if p.Name != "Laptop Touch ID" {
			t.Fatalf("name %q", p.Name)
		}
		_, second := dbtest.RegisterPasskey(t, db, rp, u, "")
		if second.Name != "Passkey 2" {
			t.Fatalf("a passkey without a name is %q", second.Name)
		}
		st, err := models.SecondFactorStatusOf(ctx, db, u.ID)
		dbtest.Must(t, err)
		if !st.Enabled() || st.Passkeys != 2 || st.TOTP {
			t.Fatalf("status %+v", st)
		}
		// A passkey counts for the members page and the scope.
		has, err := models.UsersWithSecondFactor(ctx, db, []int64{u.ID})
		dbtest.Must(t, err)
		if !has[u.ID] {
			t.Fatal("UsersWithSecondFactor misses a passkey")
		}
		org := dbtest.Org(t, db, u)
		reloaded, err := tenancy.LoadScope(ctx, db, u.ID, org.Account().PublicID)
		dbtest.Must(t, err)
		if !reloaded.HasSecondFactor() {
			t.Fatal("the scope misses a passkey")
		}
		_ = scope

		// Second factor.
		opts, err := rp.BeginPasskeySignIn(ctx, db, u)
		dbtest.Must(t, err)
		used, err := rp.FinishPasskeySignIn(ctx, db, u, opts.Token, a.Get(t, opts.JSON))
		dbtest.Must(t, err)
		if used.ID != p.ID || used.SignCount != 1 || used.LastUsedAt == nil {
			t.Fatalf("used %+v", used)
		}
		// Passwordless: the passkey names its user.
		opts, err = rp.BeginPasswordlessSignIn(ctx, db)
		dbtest.Must(t, err)
		who, _, err := rp.FinishPasswordlessSignIn(ctx, db, opts.Token, a.Get(t, opts.JSON))
		dbtest.Must(t, err)
		if who.ID != u.ID {
			t.Fatalf("signed in as %d, want %d", who.ID, u.ID)
		}
	})
}

func TestPasskeyChallengesAreSingleUseAndBound(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx, rp := context.Background(), dbtest.PasskeyRP(t)
		u, _ := dbtest.User(t, db)
		other, _ := dbtest.User(t, db)
		a, _ := dbtest.RegisterPasskey(t, db, rp, u, "Key")

		// Replayed: the same answer to the same challenge, twice.
		opts, err := rp.BeginPasskeySignIn(ctx, db, u)
		dbtest.Must(t, err)
		answer := a.Get(t, opts.JSON)
		_, err = rp.FinishPasskeySignIn(ctx, db, u, opts.Token, answer)
		dbtest.Must(t, err)
		_, err = rp.FinishPasskeySignIn(ctx, db, u, opts.Token, answer)
		dbtest.WantIs(t, err, models.ErrPasskeyChallenge)

		// A challenge issued to one user is no good for another, nor for
		// another ceremony; and it is gone after the failed try.
		opts, err = rp.BeginPasskeySignIn(ctx, db, u)
		dbtest.Must(t, err)
		_, err = rp.FinishPasskeySignIn(ctx, db, other, opts.Token, a.Get(t, opts.JSON))
		dbtest.WantIs(t, err, models.ErrPasskeyChallenge)
		_, err = rp.FinishPasskeySignIn(ctx, db, u, opts.Token, a.Get(t, opts.JSON))
		dbtest.WantIs(t, err, models.ErrPasskeyChallenge)
		opts, err = rp.BeginPasskeySignIn(ctx, db, u)
		dbtest.Must(t, err)
		_, _, err = rp.FinishPasswordlessSignIn(ctx, db, opts.Token, a.Get(t, opts.JSON))
		dbtest.WantIs(t, err, models.ErrPasskeyChallenge)
		_, _, err = rp.FinishPasswordlessSignIn(ctx, db, "", a.Get(t, opts.JSON))
		dbtest.WantIs(t, err, models.ErrPasskeyChallenge)

		// Expired.
		opts, err = rp.BeginPasskeySignIn(ctx, db, u)
		dbtest.Must(t, err)
		dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE webauthn_challenges SET expires_at = ?", dbtest.UTC().Add(-1)).Error)
		_, err = rp.FinishPasskeySignIn(ctx, db, u, opts.Token, a.Get(t, opts.JSON))
		dbtest.WantIs(t, err, models.ErrPasskeyChallenge)
		if n := dbtest.CountRows(t, db, "webauthn_challenges", "1 = 1"); n != 0 {
			t.Fatalf("%d challenges left behind", n)
		}
	})
}

func TestPasskeyAttacksAreRefused(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx, rp := context.Background(), dbtest.PasskeyRP(t)
		u, _ := dbtest.User(t, db)
		other, _ := dbtest.User(t, db)
		a, p := dbtest.RegisterPasskey(t, db, rp, u, "Key")
		b, _ := dbtest.RegisterPasskey(t, db, rp, other, "Other key")

		try := func(name string, auth *dbtest.Authenticator, user models.User) {
			t.Helper()
			opts, err := rp.BeginPasskeySignIn(ctx, db, user)
			dbtest.Must(t, err)
			if _, err := rp.FinishPasskeySignIn(ctx, db, user, opts.Token, auth.Get(t, opts.JSON)); !errors.Is(err, models.ErrPasskeyRefused) {
				t.Errorf("%s: %v, want ErrPasskeyRefused", name, err)
			}
		}
		origin := a.Origin
		a.Origin = "http://evil.localhost:8080"
		try("another origin", a, u)
		a.Origin = origin
		a.RPID = "evil.example"
		try("another relying party", a, u)
		a.RPID = ""
		a.NoUserVerification = true
		try("no user verification", a, u)
		a.NoUserVerification = false
		try("another user's passkey", b, u)

		// The counter went back: a cloned key.
		a.Counter = 10
		opts, err := rp.BeginPasskeySignIn(ctx, db, u)
		dbtest.Must(t, err)
		_, err = rp.FinishPasskeySignIn(ctx, db, u, opts.Token, a.Get(t, opts.JSON))
		dbtest.Must(t, err)
		a.Counter = 3
		try("a counter that went back", a, u)
		a.FixedCounter, a.Counter = true, 11
		try("a counter that did not move", a, u)

		// Passwordless with a user handle that is not the passkey's user.
		handle := a.UserHandle
		a.UserHandle = []byte(other.PublicID)
		a.FixedCounter, a.Counter = false, 20
		opts, err = rp.BeginPasswordlessSignIn(ctx, db)
		dbtest.Must(t, err)
		_, _, err = rp.FinishPasswordlessSignIn(ctx, db, opts.Token, a.Get(t, opts.JSON))
		dbtest.WantIs(t, err, models.ErrPasskeyRefused)
		a.UserHandle = handle

		// A removed passkey signs nobody in.
		_, err = models.RemovePasskey(ctx, db, u.ID, p.ID, dbtest.Password)
		dbtest.Must(t, err)
		opts, err = rp.BeginPasswordlessSignIn(ctx, db)
		dbtest.Must(t, err)
		_, _, err = rp.FinishPasswordlessSignIn(ctx, db, opts.Token, a.Get(t, opts.JSON))
		dbtest.WantIs(t, err, models.ErrPasskeyRefused)
		_, err = rp.BeginPasskeySignIn(ctx, db, u)
		dbtest.WantIs(t, err, models.ErrNoPasskey)

		// The same authenticator cannot be registered twice (nor by another
		// user: one credential ID, one passkey).
		opts, err = rp.BeginPasskeyRegistration(ctx, db, other, dbtest.Password)
		dbtest.Must(t, err)
		_, _, err = rp.FinishPasskeyRegistration(ctx, db, other, opts.Token, b.Create(t, opts.JSON), "Again")
		dbtest.WantIs(t, err, models.ErrPasskeyRefused)
	})
}

// Registering a passkey starts only with the user's password, and its
// answer is accepted only for a challenge issued that way.
func TestPasskeyRegistrationTakesThePassword(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx, rp := context.Background(), dbtest.PasskeyRP(t)
		u, _ := dbtest.User(t, db)
		sso, _ := dbtest.User(t, db)
		dbtest.Must(t, dbtest.Plain(t, db).Model(&models.User{}).Where("id = ?", sso.ID).Update("password_hash", "").Error)
		sso.PasswordHash = ""
		for _, try := range []struct {
			user     models.User
			password string
		}{{u, ""}, {u, "not my password"}, {u, dbtest.Password + " "}, {sso, ""}, {sso, dbtest.Password}} {
			_, err := rp.BeginPasskeyRegistration(ctx, db, try.user, try.password)
			dbtest.WantFields(t, err, "current_password")
		}
		if n := dbtest.CountRows(t, db, "webauthn_challenges", "1 = 1"); n != 0 {
			t.Fatalf("%d challenges issued without the password", n)
		}

		// A challenge of the previous release, issued without the password.
		a := dbtest.NewAuthenticator(t, dbtest.PasskeyOrigin)
		opts, err := rp.BeginPasskeyRegistration(ctx, db, u, dbtest.Password)
		dbtest.Must(t, err)
		dbtest.Must(t, dbtest.Plain(t, db).Model(&models.WebAuthnChallenge{}).Where("user_id = ?", u.ID).Update("purpose", "register").Error)
		_, _, err = rp.FinishPasskeyRegistration(ctx, db, u, opts.Token, a.Create(t, opts.JSON), "Key")
		dbtest.WantIs(t, err, models.ErrPasskeyChallenge)
		if n := dbtest.CountRows(t, db, "passkeys", "user_id = ?", u.ID); n != 0 {
			t.Fatalf("%d passkeys stored", n)
		}
	})
}

func TestPasskeyRenameAndRemoveAreTheOwners(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx, rp := context.Background(), dbtest.PasskeyRP(t)
		u, _ := dbtest.User(t, db)
		other, _ := dbtest.User(t, db)
		_, p := dbtest.RegisterPasskey(t, db, rp, u, "Key")

		_, err := models.RenamePasskey(ctx, db, other.ID, p.ID, "Mine now")
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		_, err = models.RemovePasskey(ctx, db, other.ID, p.ID, dbtest.Password)
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		_, err = models.RenamePasskey(ctx, db, u.ID, p.ID, "   ")
		dbtest.WantFields(t, err, "name")
		_, err = models.RenamePasskey(ctx, db, u.ID, p.ID, string(make([]rune, 65)))
		dbtest.WantFields(t, err, "name")
		_, err = models.RemovePasskey(ctx, db, u.ID, p.ID, "wrong password")
		dbtest.WantFields(t, err, "current_password")
		if n := dbtest.CountRows(t, db, "passkeys", "id = ? AND name = ?", p.ID, "Key"); n != 1 {
			t.Fatal("a refused change was written")
		}
		renamed, err := models.RenamePasskey(ctx, db, u.ID, p.ID, "YubiKey 5")
		dbtest.Must(t, err)
		if renamed.Name != "YubiKey 5" {
			t.Fatalf("renamed to %q", renamed.Name)
		}
		_, err = models.RemovePasskey(ctx, db, u.ID, p.ID, dbtest.Password)
		dbtest.Must(t, err)
		st, err := models.SecondFactorStatusOf(ctx, db, u.ID)
		dbtest.Must(t, err)
		if st.Enabled() {
			t.Fatal("the user still has a second factor")
		}
	})
}

// A first passkey without an authenticator app comes with recovery codes
// (losing the only passkey must not lock the user out); they stay while a
// second factor does, and go with the last one.
func TestPasskeyRecoveryCodes(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx, rp := context.Background(), dbtest.PasskeyRP(t)
		u, _ := dbtest.User(t, db)
		a := dbtest.NewAuthenticator(t, dbtest.PasskeyOrigin)
		opts, err := rp.BeginPasskeyRegistration(ctx, db, u, dbtest.Password)
		dbtest.Must(t, err)
		p, codes, err := rp.FinishPasskeyRegistration(ctx, db, u, opts.Token, a.Create(t, opts.JSON), "Key")
		dbtest.Must(t, err)
		if len(codes) != models.RecoveryCodeCount {
			t.Fatalf("%d recovery codes with the first passkey", len(codes))
		}
		// A second passkey keeps them.
		b := dbtest.NewAuthenticator(t, dbtest.PasskeyOrigin)
		opts, err = rp.BeginPasskeyRegistration(ctx, db, u, dbtest.Password)
		dbtest.Must(t, err)
		p2, again, err := rp.FinishPasskeyRegistration(ctx, db, u, opts.Token, b.Create(t, opts.JSON), "Key 2")
		dbtest.Must(t, err)
		if len(again) != 0 {
			t.Fatal("a second passkey replaced the recovery codes")
		}
		// A recovery code stands in for the passkey, once.
		used, err := models.VerifySecondFactor(ctx, db, dbtest.SecretBox, u.ID, codes[0], dbtest.UTC())
		dbtest.Must(t, err)
		if used != models.FactorRecovery {
			t.Fatalf("used %q", used)
		}
		_, err = models.RegenerateRecoveryCodes(ctx, db, u.ID)
		dbtest.Must(t, err)
		_, err = models.RemovePasskey(ctx, db, u.ID, p.ID, dbtest.Password)
		dbtest.Must(t, err)
		if n := dbtest.CountRows(t, db, "recovery_codes", "user_id = ?", u.ID); n != models.RecoveryCodeCount {
			t.Fatalf("%d recovery codes while a passkey remains", n)
		}
		_, err = models.RemovePasskey(ctx, db, u.ID, p2.ID, dbtest.Password)
		dbtest.Must(t, err)
		if n := dbtest.CountRows(t, db, "recovery_codes", "user_id = ?", u.ID); n != 0 {
			t.Fatalf("%d recovery codes left without a second factor", n)
		}
		_, err = models.RegenerateRecoveryCodes(ctx, db, u.ID)
		dbtest.WantIs(t, err, models.ErrNoSecondFactor)

		// Turning the app off keeps the codes while a passkey remains.
		dbtest.EnrolTOTP(t, db, dbtest.SecretBox, u, dbtest.UTC())
		dbtest.RegisterPasskey(t, db, rp, u, "Key 3")
		dbtest.Must(t, models.DisableTOTP(ctx, db, dbtest.SecretBox, u.ID, dbtest.Password, codesOf(t, db, u), dbtest.UTC()))
		if n := dbtest.CountRows(t, db, "recovery_codes", "user_id = ? AND used_at IS NULL", u.ID); n == 0 {
			t.Fatal("turning the app off dropped the recovery codes of a user with a passkey")
		}
	})
}

// codesOf regenerates the user's recovery codes and returns one.
func codesOf(t *testing.T, db *gorm.DB, u models.User) string {
	t.Helper()
	codes, err := models.RegenerateRecoveryCodes(context.Background(), db, u.ID)
	dbtest.Must(t, err)
	return codes[0]
}

// A user has at most PasskeysMax passkeys: the next one is refused before
// the browser is asked for it.
func TestPasskeysHaveALimit(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx, rp := context.Background(), dbtest.PasskeyRP(t)
		u, _ := dbtest.User(t, db)
		for i := 0; i < models.PasskeysMax; i++ {
			dbtest.Must(t, dbtest.Plain(t, db).Create(&models.Passkey{UserID: u.ID, CredentialID: dbtest.Unique("cred"), Name: "k", Credential: "{}", CreatedAt: dbtest.UTC()}).Error)
		}
		_, err := rp.BeginPasskeyRegistration(ctx, db, u, dbtest.Password)
		dbtest.WantFields(t, err, "name")
		if n := dbtest.CountRows(t, db, "webauthn_challenges", "1 = 1"); n != 0 {
			t.Fatalf("%d challenges stored for a refused registration", n)
		}
	})
}
