package models_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

const newPassword = "a fresh new password"

func issue(t *testing.T, db *gorm.DB, u models.User, purpose models.TokenPurpose) string {
	t.Helper()
	token, err := models.IssueEmailToken(t.Context(), db, u, purpose)
	dbtest.Must(t, err)
	if token == "" {
		t.Fatal("empty token")
	}
	return token
}

func TestVerifyEmail(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, _ := dbtest.User(t, db)
		other, _ := dbtest.User(t, db)
		token := issue(t, db, u, models.PurposeVerify)
		otherToken := issue(t, db, other, models.PurposeVerify)

		got, err := models.VerifyEmail(t.Context(), db, token)
		dbtest.Must(t, err)
		if got.ID != u.ID || !got.Verified() {
			t.Fatalf("VerifyEmail returned %+v, want user %d verified", got, u.ID)
		}
		if !reloadUser(t, db, u.ID).Verified() {
			t.Fatal("the user is not verified in the database")
		}
		if reloadUser(t, db, other.ID).Verified() {
			t.Fatal("another user was verified too")
		}

		// The same link again is refused, and changes nothing.
		_, err = models.VerifyEmail(t.Context(), db, token)
		dbtest.WantIs(t, err, tenancy.ErrTokenInvalid)
		if !reloadUser(t, db, u.ID).Verified() {
			t.Fatal("a reused link unverified the user")
		}
		// The other user's link is unaffected.
		if got, err := models.VerifyEmail(t.Context(), db, otherToken); err != nil || got.ID != other.ID {
			t.Fatalf("the other user's link: %+v, %v", got, err)
		}
	})
}

func TestEmailTokenStoresOnlyTheHash(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, _ := dbtest.User(t, db)
		for _, purpose := range []models.TokenPurpose{models.PurposeVerify, models.PurposeReset} {
			token := issue(t, db, u, purpose)
			var rows []map[string]any
			dbtest.Must(t, dbtest.Plain(t, db).Table("email_tokens").Where("token_hash = ?", tenancy.HashToken(token)).Find(&rows).Error)
			if len(rows) != 1 {
				t.Fatalf("%s: %d rows with the token's hash, want 1", purpose, len(rows))
			}
			for col, v := range rows[0] {
				text := fmt.Sprint(v)
				if b, ok := v.([]byte); ok {
					text = string(b)
				}
				if strings.Contains(text, token) {
					t.Errorf("%s: column %s holds the raw token", purpose, col)
				}
			}
		}
	})
}

func TestIssueEmailTokenInvalidatesEarlierOnes(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, _ := dbtest.User(t, db)
		other, _ := dbtest.User(t, db)
		first := issue(t, db, u, models.PurposeVerify)
		reset := issue(t, db, u, models.PurposeReset)
		otherFirst := issue(t, db, other, models.PurposeVerify)
		second := issue(t, db, u, models.PurposeVerify)

		_, err := models.PeekEmailToken(t.Context(), db, first, models.PurposeVerify)
		dbtest.WantIs(t, err, tenancy.ErrTokenInvalid)
		_, err = models.VerifyEmail(t.Context(), db, first)
		dbtest.WantIs(t, err, tenancy.ErrTokenInvalid)
		if reloadUser(t, db, u.ID).Verified() {
			t.Fatal("an invalidated link verified the user")
		}
		// Other purposes and other users keep their links.
		if _, err := models.PeekEmailToken(t.Context(), db, reset, models.PurposeReset); err != nil {
			t.Errorf("a new verification link invalidated the reset link: %v", err)
		}
		if _, err := models.PeekEmailToken(t.Context(), db, otherFirst, models.PurposeVerify); err != nil {
			t.Errorf("another user's link was invalidated: %v", err)
		}
		if _, err := models.VerifyEmail(t.Context(), db, second); err != nil {
			t.Fatalf("the newest link does not work: %v", err)
		}
	})
}

func TestEmailTokensRefused(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		// Each user holds one kind of link, so that a refused attempt on
		// one cannot be mistaken for another's effect.
		expired, _ := dbtest.User(t, db)
		expVerify := issue(t, db, expired, models.PurposeVerify)
		expReset := issue(t, db, expired, models.PurposeReset)
		dbtest.Must(t, dbtest.Plain(t, db).Model(&models.EmailToken{}).Where("user_id = ?", expired.ID).Update("expires_at", dbtest.UTC().Add(-time.Second)).Error)
		verifier, _ := dbtest.User(t, db)
		verify := issue(t, db, verifier, models.PurposeVerify)
		resetter, _ := dbtest.User(t, db)
		reset := issue(t, db, resetter, models.PurposeReset)

		cases := []struct {
			label   string
			token   string
			purpose models.TokenPurpose
		}{
			{"unknown verify token", tenancy.NewToken(), models.PurposeVerify},
			{"unknown reset token", tenancy.NewToken(), models.PurposeReset},
			{"empty verify token", "", models.PurposeVerify},
			{"empty reset token", "", models.PurposeReset},
			{"expired verify token", expVerify, models.PurposeVerify},
			{"expired reset token", expReset, models.PurposeReset},
			{"verify token used to reset", verify, models.PurposeReset},
			{"reset token used to verify", reset, models.PurposeVerify},
			{"the token's hash", tenancy.HashToken(verify), models.PurposeVerify},
		}
		for _, c := range cases {
			t.Run(c.label, func(t *testing.T) {
				before := dbtest.CountAll(t, db)
				_, err := models.PeekEmailToken(t.Context(), db, c.token, c.purpose)
				dbtest.WantIs(t, err, tenancy.ErrTokenInvalid)
				if c.purpose == models.PurposeVerify {
					_, err = models.VerifyEmail(t.Context(), db, c.token)
				} else {
					_, err = models.ResetPassword(t.Context(), db, c.token, newPassword)
				}
				dbtest.WantIs(t, err, tenancy.ErrTokenInvalid)
				dbtest.WantNothingWritten(t, db, before)
			})
		}
		for _, id := range []int64{expired.ID, verifier.ID, resetter.ID} {
			got := reloadUser(t, db, id)
			if got.Verified() {
				t.Errorf("user %d verified by a refused link", id)
			}
			if _, err := models.Authenticate(t.Context(), db, got.Email, newPassword); err == nil {
				t.Errorf("user %d's password changed by a refused link", id)
			}
		}
		// The links used with the wrong purpose still work for their own.
		if _, err := models.VerifyEmail(t.Context(), db, verify); err != nil {
			t.Errorf("verify link spoiled by a wrong-purpose attempt: %v", err)
		}
		if _, err := models.ResetPassword(t.Context(), db, reset, newPassword); err != nil {
			t.Errorf("reset link spoiled by a wrong-purpose attempt: %v", err)
		}
	})
}

// TestVerifyEmailRefusesLinkForOldAddress: a link proves only the address it
// was sent to.
func TestVerifyEmailRefusesLinkForOldAddress(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, _ := dbtest.User(t, db)
		token := issue(t, db, u, models.PurposeVerify)
		dbtest.Must(t, dbtest.Plain(t, db).Model(&models.User{}).Where("id = ?", u.ID).Update("email", "changed-"+u.Email).Error)
		_, err := models.VerifyEmail(t.Context(), db, token)
		dbtest.WantIs(t, err, tenancy.ErrTokenInvalid)
		if reloadUser(t, db, u.ID).Verified() {
			t.Fatal("a link sent to the old address verified the new one")
		}
	})
}

func TestPeekEmailTokenDoesNotConsume(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, _ := dbtest.User(t, db)
		other, _ := dbtest.User(t, db)
		issue(t, db, other, models.PurposeReset)
		token := issue(t, db, u, models.PurposeReset)
		for range 3 {
			got, err := models.PeekEmailToken(t.Context(), db, token, models.PurposeReset)
			dbtest.Must(t, err)
			if got.ID != u.ID || got.Email != u.Email {
				t.Fatalf("peek returned user %d, want %d", got.ID, u.ID)
			}
		}
		if n := dbtest.CountRows(t, db, "email_tokens", "user_id = ? AND used_at IS NOT NULL", u.ID); n != 0 {
			t.Fatalf("peeking marked %d tokens used", n)
		}
		if _, err := models.ResetPassword(t.Context(), db, token, newPassword); err != nil {
			t.Fatalf("the link no longer works after peeking: %v", err)
		}
		_, err := models.PeekEmailToken(t.Context(), db, token, models.PurposeReset)
		dbtest.WantIs(t, err, tenancy.ErrTokenInvalid)
	})
}

func TestResetPassword(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, personal := dbtest.User(t, db)
		other, otherPersonal := dbtest.User(t, db)
		for range 2 {
			_, _, err := models.CreateSession(t.Context(), db, u.ID, personal.AccountID(), "", "", life)
			dbtest.Must(t, err)
		}
		otherSession, _, err := models.CreateSession(t.Context(), db, other.ID, otherPersonal.AccountID(), "", "", life)
		dbtest.Must(t, err)
		token := issue(t, db, u, models.PurposeReset)

		got, err := models.ResetPassword(t.Context(), db, token, newPassword)
		dbtest.Must(t, err)
		if got.ID != u.ID || !got.Verified() {
			t.Fatalf("ResetPassword returned %+v, want user %d verified", got, u.ID)
		}
		if !reloadUser(t, db, u.ID).Verified() {
			t.Error("the reset did not verify the email in the database")
		}
		if _, err := models.Authenticate(t.Context(), db, u.Email, newPassword); err != nil {
			t.Errorf("the new password does not work: %v", err)
		}
		_, err = models.Authenticate(t.Context(), db, u.Email, dbtest.Password)
		dbtest.WantIs(t, err, tenancy.ErrBadCredentials)
		if n := dbtest.CountRows(t, db, "sessions", "user_id = ?", u.ID); n != 0 {
			t.Errorf("%d sessions survive the reset, want 0", n)
		}
		if _, err := models.LoadSession(t.Context(), db, otherSession, life); err != nil {
			t.Errorf("another user's session ended: %v", err)
		}
		if _, err := models.Authenticate(t.Context(), db, other.Email, dbtest.Password); err != nil {
			t.Errorf("another user's password changed: %v", err)
		}

		// Single use.
		before := dbtest.CountAll(t, db)
		_, err = models.ResetPassword(t.Context(), db, token, "yet another password")
		dbtest.WantIs(t, err, tenancy.ErrTokenInvalid)
		dbtest.WantNothingWritten(t, db, before)
		if _, err := models.Authenticate(t.Context(), db, u.Email, newPassword); err != nil {
			t.Errorf("a reused link changed the password: %v", err)
		}
	})
}

func TestResetPasswordRefusesBadPasswordAndKeepsTheLink(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"empty":        "",
		"9 characters": "123456789",
		"257 bytes":    strings.Repeat("p", 257),
	}
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, personal := dbtest.User(t, db)
		_, _, err := models.CreateSession(t.Context(), db, u.ID, personal.AccountID(), "", "", life)
		dbtest.Must(t, err)
		token := issue(t, db, u, models.PurposeReset)
		for label, password := range cases {
			t.Run(label, func(t *testing.T) {
				before := dbtest.CountAll(t, db)
				_, err := models.ResetPassword(t.Context(), db, token, password)
				dbtest.WantFields(t, err, "password")
				dbtest.WantNothingWritten(t, db, before)
				if n := dbtest.CountRows(t, db, "email_tokens", "user_id = ? AND used_at IS NOT NULL", u.ID); n != 0 {
					t.Fatal("a refused password used up the link")
				}
			})
		}
		if _, err := models.Authenticate(t.Context(), db, u.Email, dbtest.Password); err != nil {
			t.Fatalf("a refused reset changed the password: %v", err)
		}
		if reloadUser(t, db, u.ID).Verified() {
			t.Fatal("a refused reset verified the email")
		}
		if _, err := models.PeekEmailToken(t.Context(), db, token, models.PurposeReset); err != nil {
			t.Fatalf("the link stopped working: %v", err)
		}
		if _, err := models.ResetPassword(t.Context(), db, token, newPassword); err != nil {
			t.Fatalf("the link cannot be used after a refused password: %v", err)
		}
	})
}
