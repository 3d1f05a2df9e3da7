package models_test

import (
	"strings"
	"testing"

	"switchboard/models"
	"switchboard/models/tenancy"
)

// ConfirmPassword: a user confirms a change with their own password; one
// without a password is told how to set one, empty and wrong passwords are
// refused, each on the field current_password.
func TestConfirmPassword(t *testing.T) {
	withPassword := models.User{PasswordHash: models.HashPassword("difference engine")}
	for _, c := range []struct {
		user     models.User
		password string
		want     string // the field's error; "" for none
	}{
		{withPassword, "difference engine", ""},
		{withPassword, "", "Enter your current password."},
		{withPassword, "Difference engine", "That is not your current password."},
		{withPassword, strings.Repeat("x", models.PasswordMax+1), "That is not your current password."},
		{models.User{}, "", "You have no password yet. Set one with “Forgot your password?” on the sign-in page, then set up the app."},
		{models.User{}, "anything at all", "You have no password yet. Set one with “Forgot your password?” on the sign-in page, then set up the app."},
	} {
		err := models.ConfirmPassword(c.user, c.password, "set up the app")
		fe, _ := tenancy.AsFieldErrors(err)
		if got := fe["current_password"]; got != c.want || (c.want == "") != (err == nil) {
			t.Errorf("password %.20q (hash %t): %v, want %q", c.password, c.user.PasswordHash != "", err, c.want)
		}
	}
}
