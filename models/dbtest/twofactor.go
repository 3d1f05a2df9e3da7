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

// PasskeyOrigin is the origin of the relying party PasskeyRP is: models
// tests register and use passkeys there.
const PasskeyOrigin = "http://localhost:8080"

// PasskeyRP is the dashboard at PasskeyOrigin as a WebAuthn relying party.
func PasskeyRP(t testing.TB) *models.PasskeyRP {
	t.Helper()
	rp, err := models.NewPasskeyRP(PasskeyOrigin, "Switchboard")
	Must(t, err)
	return rp
}

// RegisterPasskey registers a new software authenticator's passkey for the
// user (as stored, with the factories' password) under name, and returns
// the authenticator and the stored passkey.
func RegisterPasskey(t testing.TB, db *gorm.DB, rp *models.PasskeyRP, u models.User, name string) (*Authenticator, models.Passkey) {
	t.Helper()
	ctx := context.Background()
	a := NewAuthenticator(t, PasskeyOrigin)
	opts, err := rp.BeginPasskeyRegistration(ctx, db, u, Password)
	Must(t, err)
	p, _, err := rp.FinishPasskeyRegistration(ctx, db, u, opts.Token, a.Create(t, opts.JSON), name)
	Must(t, err)
	return a, p
}
