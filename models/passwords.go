package models

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"

	"switchboard/models/tenancy"
)

// argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes).
// Hashes record their parameters, so changing these never breaks sign-in.
var (
	argonMemory  uint32 = 19 * 1024
	argonTime    uint32 = 2
	argonThreads uint8  = 1
)

const argonKeyLen = 32

// UseCheapPasswordHashing makes new password hashes cheap to compute, for
// test suites that create hundreds of users. Never call it in a server.
func UseCheapPasswordHashing() {
	argonMemory, argonTime = 64, 1
	dummyHash = HashPassword("switchboard-timing-equaliser")
}

// PasswordMin is the shortest password accepted.
const PasswordMin = 10

// PasswordMax bounds the work a single sign-in can cause.
const PasswordMax = 256

// HashPassword returns an argon2id hash in the PHC string format.
func HashPassword(password string) string {
	salt := tenancy.RandomBytes(16)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// checkPassword reports whether password matches a hash from HashPassword.
// An empty or malformed hash matches nothing (users created by SSO have none).
func checkPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	var memory, iterations uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &iterations, &threads); err != nil {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, iterations, memory, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked against when the email is unknown, so that a wrong
// email costs as much time as a wrong password.
var dummyHash = HashPassword("switchboard-timing-equaliser")

func validatePassword(field, password string) tenancy.FieldErrors {
	switch n := len([]rune(password)); {
	case n == 0:
		return tenancy.FieldErrors{field: "Enter a password."}
	case n < PasswordMin:
		return tenancy.FieldErrors{field: fmt.Sprintf("Use at least %d characters.", PasswordMin)}
	case len(password) > PasswordMax:
		return tenancy.FieldErrors{field: fmt.Sprintf("Use at most %d characters.", PasswordMax)}
	}
	return nil
}

// ConfirmPassword checks the password a signed-in user gives to confirm a
// change to how they sign in, as the field current_password's errors. A
// user without a password (made by SSO or SCIM) is refused: they set one
// first through an emailed reset link, which proves the mailbox, and then
// come back to make the change (then).
func ConfirmPassword(u User, password, then string) error {
	switch {
	case u.PasswordHash == "":
		return tenancy.FieldErrors{"current_password": "You have no password yet. Set one with “Forgot your password?” on the sign-in page, then " + then + "."}
	case password == "":
		return tenancy.FieldErrors{"current_password": "Enter your current password."}
	case !PasswordMatches(u, password):
		return tenancy.FieldErrors{"current_password": "That is not your current password."}
	}
	return nil
}

// PasswordMatches reports whether password is the user's (a user without a
// password matches nothing).
func PasswordMatches(u User, password string) bool {
	return len(password) <= PasswordMax && checkPassword(u.PasswordHash, password)
}
