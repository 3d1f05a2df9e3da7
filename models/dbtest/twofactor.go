package dbtest

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
)

// SecretBox seals the tests' second-factor secrets; handler tests get the
// same one from their session key (sitetest.SessionKey).
var SecretBox = models.NewSecretBox([]byte("test-session-key-0123456789abcdef0123456789"))

// EnrolTOTP sets up an authenticator app for the user through box at at,
// and returns its secret and recovery codes.
func EnrolTOTP(t testing.TB, db *gorm.DB, box models.SecretBox, u models.User, at time.Time) (string, []string) {
	t.Helper()
	ctx := context.Background()
	e, err := models.PendingTOTP(ctx, db, box, u, "Switchboard")
	Must(t, err)
	code, err := models.TOTPCode(e.Secret, at)
	Must(t, err)
	codes, err := models.EnableTOTP(ctx, db, box, u.ID, code, at)
	Must(t, err)
	return e.Secret, codes
}
