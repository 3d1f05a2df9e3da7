package models_test

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
)

// users.second_factor follows the factors themselves, in the transactions
// that change them and whatever makes the change (raw SQL included): an
// unconfirmed authenticator app is none, a confirmed one or a passkey is
// one, and removing the last one ends it, for that user only.
func TestSecondFactorFlagFollowsTheFactors(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx, box := context.Background(), dbtest.SecretBox
		u, _ := dbtest.User(t, db)
		other, _ := dbtest.User(t, db)
		flag := func(id int64) bool {
			t.Helper()
			var on bool
			dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT second_factor FROM users WHERE id = ?", id).Row().Scan(&on))
			return on
		}
		want := func(step string, on bool) {
			t.Helper()
			if got := flag(u.ID); got != on {
				t.Fatalf("%s: second_factor = %v, want %v", step, got, on)
			}
			if has, err := models.HasSecondFactor(ctx, db, u.ID); err != nil || has != on {
				t.Fatalf("%s: HasSecondFactor = %v, %v; want %v", step, has, err, on)
			}
		}
		want("a new user", false)
		at := time.Date(2031, 3, 14, 15, 9, 0, 0, time.UTC)
		dbtest.EnrolTOTP(t, db, box, other, at)

		_, err := models.PendingTOTP(ctx, db, box, u, "Switchboard")
		dbtest.Must(t, err)
		want("an authenticator app not confirmed yet", false)

		secret, _ := dbtest.EnrolTOTP(t, db, box, u, at)
		want("a confirmed authenticator app", true)

		_, passkey := dbtest.RegisterPasskey(t, db, dbtest.PasskeyRP(t), u, "Laptop")
		now := at.Add(time.Hour)
		dbtest.Must(t, models.DisableTOTP(ctx, db, box, u.ID, dbtest.Password, code(t, secret, now), now))
		want("the app turned off, a passkey left", true)

		_, err = models.RemovePasskey(ctx, db, u.ID, passkey.ID, dbtest.Password)
		dbtest.Must(t, err)
		want("the last passkey removed", false)

		dbtest.EnrolTOTP(t, db, box, u, at.Add(2*time.Hour))
		want("an authenticator app again", true)
		dbtest.Must(t, dbtest.Plain(t, db).Exec("DELETE FROM totp_factors WHERE user_id = ?", u.ID).Error)
		want("its row deleted by raw SQL", false)

		if !flag(other.ID) {
			t.Fatal("another user's second factor went with this one's")
		}
	})
}
