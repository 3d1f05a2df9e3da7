package models

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"gorm.io/gorm"

	"switchboard/models/tenancy"
)

// TOTP parameters: the ones every authenticator app understands.
const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
	// totpDrift is how many steps either side of now a code may be from:
	// a phone's clock a little off still signs in.
	totpDrift = 1
	// RecoveryCodeCount is how many recovery codes an enrolment gives.
	RecoveryCodeCount = 10
	// SecondFactorWindow is how long a password sign-in waits for its
	// second factor before it has to start over.
	SecondFactorWindow = 10 * time.Minute
)

// Why a second factor was refused.
var (
	// ErrCodeInvalid: the code is wrong, from too far away in time, or was
	// already used.
	ErrCodeInvalid = errors.New("the code is not valid")
	// ErrNoSecondFactor: the user has no authenticator app enrolled.
	ErrNoSecondFactor = errors.New("no second factor is enrolled")
	// ErrTOTPEnabled: the user's authenticator app is already set up.
	ErrTOTPEnabled = errors.New("an authenticator app is already set up")
)

// TOTPFactor is a user's authenticator app; EnabledAt is nil until its
// enrolment is confirmed with a code.
type TOTPFactor struct {
	UserID       int64 `gorm:"primaryKey;autoIncrement:false"`
	SecretSealed string
	LastStep     int64
	EnabledAt    *time.Time
	CreatedAt    time.Time
}

func (TOTPFactor) TableName() string { return "totp_factors" }

// RecoveryCode is one single-use code, kept as a hash.
type RecoveryCode struct {
	ID        int64
	UserID    int64
	CodeHash  string
	UsedAt    *time.Time
	CreatedAt time.Time
}

// SecretBox seals second-factor secrets with a key derived from the
// deployment's secret, so that a copy of the database alone does not hold
// them.
type SecretBox struct{ aead cipher.AEAD }

// NewSecretBox derives the sealing key from the deployment's secret.
func NewSecretBox(secret []byte) SecretBox {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("switchboard second-factor secrets"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return SecretBox{aead}
}

func (b SecretBox) seal(plain string, userID int64) string {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	// The user ID is bound in: a sealed secret copied to another user's
	// row does not open.
	out := b.aead.Seal(nonce, nonce, []byte(plain), []byte(fmt.Sprint(userID)))
	return base64.RawStdEncoding.EncodeToString(out)
}

func (b SecretBox) open(sealed string, userID int64) (string, error) {
	raw, err := base64.RawStdEncoding.DecodeString(sealed)
	if err != nil || len(raw) < b.aead.NonceSize() {
		return "", errors.New("sealed secret is damaged")
	}
	n := b.aead.NonceSize()
	plain, err := b.aead.Open(nil, raw[:n], raw[n:], []byte(fmt.Sprint(userID)))
	if err != nil {
		return "", fmt.Errorf("sealed secret does not open: %w", err)
	}
	return string(plain), nil
}

// TOTPEnrolment is what an authenticator app needs to be set up.
type TOTPEnrolment struct {
	Secret string // base32, for typing in
	URL    string // otpauth:// for the QR code
}

// Key is the enrolment as the otp library has it (for the QR image).
func (e TOTPEnrolment) Key() (*otp.Key, error) { return otp.NewKeyFromURL(e.URL) }

// SecondFactorStatus is what the security page shows.
type SecondFactorStatus struct {
	TOTP          bool
	TOTPSince     *time.Time
	RecoveryLeft  int64
	RecoveryTotal int64
	// Passkeys counts the user's passkeys and security keys.
	Passkeys int64
}

// Enabled reports whether the user has any second factor: an authenticator
// app or a passkey.
func (s SecondFactorStatus) Enabled() bool { return s.TOTP || s.Passkeys > 0 }

// SecondFactorStatusOf reads the user's second factors.
func SecondFactorStatusOf(ctx context.Context, db *gorm.DB, userID int64) (SecondFactorStatus, error) {
	var st SecondFactorStatus
	var f TOTPFactor
	err := db.WithContext(ctx).Where("user_id = ? AND enabled_at IS NOT NULL", userID).Take(&f).Error
	switch {
	case err == nil:
		st.TOTP, st.TOTPSince = true, f.EnabledAt
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return st, err
	}
	var counts struct{ Total, Remaining int64 }
	err = db.WithContext(ctx).Model(&RecoveryCode{}).Where("user_id = ?", userID).
		Select("COUNT(*) AS total, COALESCE(SUM(CASE WHEN used_at IS NULL THEN 1 ELSE 0 END), 0) AS remaining").Scan(&counts).Error
	st.RecoveryTotal, st.RecoveryLeft = counts.Total, counts.Remaining
	if err != nil {
		return st, err
	}
	err = db.WithContext(ctx).Model(&Passkey{}).Where("user_id = ?", userID).Count(&st.Passkeys).Error
	return st, err
}

// HasSecondFactor reports whether signing in as the user takes a second step.
func HasSecondFactor(ctx context.Context, db *gorm.DB, userID int64) (bool, error) {
	st, err := SecondFactorStatusOf(ctx, db, userID)
	return st.Enabled(), err
}

// PendingTOTP is the user's enrolment in progress: the same secret on every
// call until it is confirmed (so reloading the page keeps the QR code the
// app scanned), a new one when there is none. A user whose app is already
// enabled gets ErrTOTPEnabled.
func PendingTOTP(ctx context.Context, db *gorm.DB, box SecretBox, user User, issuer string) (TOTPEnrolment, error) {
	var out TOTPEnrolment
	err := tenancy.InTx(ctx, db, func(tx *gorm.DB) error {
		var f TOTPFactor
		err := tx.Where("user_id = ?", user.ID).Take(&f).Error
		switch {
		case err == nil && f.EnabledAt != nil:
			return ErrTOTPEnabled
		case err == nil:
			secret, err := box.open(f.SecretSealed, user.ID)
			if err == nil {
				out = enrolment(secret, user.Email, issuer)
				return nil
			}
			// A secret sealed under another deployment secret: start over.
			if err := tx.Where("user_id = ?", user.ID).Delete(&TOTPFactor{}).Error; err != nil {
				return err
			}
		case !errors.Is(err, gorm.ErrRecordNotFound):
			return err
		}
		raw := make([]byte, 20) // 160 bits, as RFC 4226 recommends
		if _, err := rand.Read(raw); err != nil {
			return err
		}
		secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw)
		f = TOTPFactor{UserID: user.ID, SecretSealed: box.seal(secret, user.ID), CreatedAt: tenancy.Now()}
		if err := tx.Create(&f).Error; err != nil {
			return err
		}
		out = enrolment(secret, user.Email, issuer)
		return nil
	})
	return out, err
}

func enrolment(secret, email, issuer string) TOTPEnrolment {
	v := url.Values{}
	v.Set("secret", secret)
	v.Set("issuer", issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	v.Set("period", fmt.Sprint(totpPeriod))
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + email, RawQuery: v.Encode()}
	return TOTPEnrolment{Secret: secret, URL: u.String()}
}

// totpStep is the RFC 6238 time step of an instant.
func totpStep(at time.Time) int64 { return at.Unix() / totpPeriod }

// TOTPCode is the code of the secret for the step holding at.
func TOTPCode(secret string, at time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
}

// matchStep is the step within the drift around at whose code is code, and
// later than after; ok is false when there is none.
func matchStep(secret, code string, at time.Time, after int64) (int64, bool) {
	now := totpStep(at)
	for s := now - totpDrift; s <= now+totpDrift; s++ {
		if s <= after {
			continue
		}
		want, err := TOTPCode(secret, time.Unix(s*totpPeriod, 0))
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}

// normalizeCode drops spaces and dashes and lowercases.
func normalizeCode(code string) string {
	return strings.ToLower(strings.NewReplacer(" ", "", "-", "", "\t", "").Replace(strings.TrimSpace(code)))
}

func isTOTPCode(code string) bool {
	if len(code) != 6 {
		return false
	}
	for _, r := range code {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// EnableTOTP confirms the pending enrolment with a code from the app and
// returns the user's new recovery codes (any old ones die). A wrong code is
// ErrCodeInvalid; no enrolment in progress is ErrNoSecondFactor.
func EnableTOTP(ctx context.Context, db *gorm.DB, box SecretBox, userID int64, code string, at time.Time) ([]string, error) {
	code = normalizeCode(code)
	var codes []string
	err := tenancy.InTx(ctx, db, func(tx *gorm.DB) error {
		var f TOTPFactor
		err := tx.Where("user_id = ? AND enabled_at IS NULL", userID).Take(&f).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrNoSecondFactor
		}
		if err != nil {
			return err
		}
		secret, err := box.open(f.SecretSealed, userID)
		if err != nil {
			return err
		}
		step, ok := matchStep(secret, code, at, 0)
		if !isTOTPCode(code) || !ok {
			return ErrCodeInvalid
		}
		t := tenancy.Now()
		res := tx.Model(&TOTPFactor{}).Where("user_id = ? AND enabled_at IS NULL", userID).
			Updates(map[string]any{"enabled_at": t, "last_step": step})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrCodeInvalid // confirmed by a concurrent request
		}
		codes, err = replaceRecoveryCodes(tx, userID)
		return err
	})
	return codes, err
}

// RegenerateRecoveryCodes gives the user new recovery codes; the old ones
// stop working. Only a user with a second factor (an authenticator app or
// a passkey) has any.
func RegenerateRecoveryCodes(ctx context.Context, db *gorm.DB, userID int64) ([]string, error) {
	var codes []string
	err := tenancy.InTx(ctx, db, func(tx *gorm.DB) error {
		on, err := hasSecondFactorTx(tx, userID)
		if err != nil {
			return err
		}
		if !on {
			return ErrNoSecondFactor
		}
		codes, err = replaceRecoveryCodes(tx, userID)
		return err
	})
	return codes, err
}

// hasSecondFactorTx reports, in tx, whether the user has an authenticator
// app or a passkey.
func hasSecondFactorTx(tx *gorm.DB, userID int64) (bool, error) {
	var on bool
	err := tx.Model(&User{}).Where("id = ?", userID).Select(tenancy.SecondFactorColumn).Scan(&on).Error
	return on, err
}

// dropOrphanRecoveryCodes deletes the user's recovery codes once they have
// no second factor left for the codes to stand in for.
func dropOrphanRecoveryCodes(tx *gorm.DB, userID int64) error {
	on, err := hasSecondFactorTx(tx, userID)
	if err != nil || on {
		return err
	}
	return tx.Where("user_id = ?", userID).Delete(&RecoveryCode{}).Error
}

// recoveryAlphabet leaves out letters and digits people confuse (0/o, 1/l/i).
const recoveryAlphabet = "23456789abcdefghjkmnpqrstuvwxyz"

// newRecoveryCode is ten characters (about 50 bits) as "xxxxx-xxxxx", with
// at least one digit so that it never reads as a word.
func newRecoveryCode() (string, error) {
	for {
		raw := make([]byte, 10)
		if _, err := rand.Read(raw); err != nil {
			return "", err
		}
		var b strings.Builder
		digit := false
		for i, x := range raw {
			if i == 5 {
				b.WriteByte('-')
			}
			// 256 is not a multiple of 31: the first 248 values are uniform.
			for x >= 248 {
				var one [1]byte
				if _, err := rand.Read(one[:]); err != nil {
					return "", err
				}
				x = one[0]
			}
			ch := recoveryAlphabet[int(x)%len(recoveryAlphabet)]
			digit = digit || (ch >= '2' && ch <= '9')
			b.WriteByte(ch)
		}
		if digit {
			return b.String(), nil
		}
	}
}

func replaceRecoveryCodes(tx *gorm.DB, userID int64) ([]string, error) {
	if err := tx.Where("user_id = ?", userID).Delete(&RecoveryCode{}).Error; err != nil {
		return nil, err
	}
	t := tenancy.Now()
	codes := make([]string, 0, RecoveryCodeCount)
	rows := make([]RecoveryCode, 0, RecoveryCodeCount)
	for len(codes) < RecoveryCodeCount {
		c, err := newRecoveryCode()
		if err != nil {
			return nil, err
		}
		codes = append(codes, c)
		rows = append(rows, RecoveryCode{UserID: userID, CodeHash: tenancy.HashToken(normalizeCode(c)), CreatedAt: t})
	}
	return codes, tx.Create(&rows).Error
}

// FactorUsed says which factor a code was.
type FactorUsed string

const (
	FactorTOTP     FactorUsed = "totp"
	FactorRecovery FactorUsed = "recovery"
)

// VerifySecondFactor checks a code from the user's authenticator app (six
// digits, ±1 step, never a step already used) or one of their recovery
// codes (each once). Either is used up by the same statement that checks it,
// so two requests racing with one code cannot both pass. A wrong code is
// ErrCodeInvalid.
func VerifySecondFactor(ctx context.Context, db *gorm.DB, box SecretBox, userID int64, code string, at time.Time) (FactorUsed, error) {
	code = normalizeCode(code)
	if code == "" || len(code) > 64 {
		return "", ErrCodeInvalid
	}
	if !isTOTPCode(code) {
		res := db.WithContext(ctx).Model(&RecoveryCode{}).
			Where("user_id = ? AND code_hash = ? AND used_at IS NULL", userID, tenancy.HashToken(code)).
			Update("used_at", tenancy.Now())
		if res.Error != nil {
			return "", res.Error
		}
		if res.RowsAffected != 1 {
			return "", ErrCodeInvalid
		}
		return FactorRecovery, nil
	}
	var f TOTPFactor
	err := db.WithContext(ctx).Where("user_id = ? AND enabled_at IS NOT NULL", userID).Take(&f).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", ErrCodeInvalid
	}
	if err != nil {
		return "", err
	}
	secret, err := box.open(f.SecretSealed, userID)
	if err != nil {
		return "", err
	}
	step, ok := matchStep(secret, code, at, f.LastStep)
	if !ok {
		return "", ErrCodeInvalid
	}
	// Only a later step than the last one used moves it on: a replay
	// arriving at the same time as the first use finds it moved.
	res := db.WithContext(ctx).Model(&TOTPFactor{}).Where("user_id = ? AND last_step < ?", userID, step).Update("last_step", step)
	if res.Error != nil {
		return "", res.Error
	}
	if res.RowsAffected != 1 {
		return "", ErrCodeInvalid
	}
	return FactorTOTP, nil
}

// DisableTOTP removes the user's authenticator app, once their password
// and a current code (or a recovery code) are right, and their recovery
// codes unless a passkey remains for them to stand in for. Wrong ones are
// field errors on current_password and code.
func DisableTOTP(ctx context.Context, db *gorm.DB, box SecretBox, userID int64, password, code string, at time.Time) error {
	user, err := GetUser(ctx, db, userID)
	if err != nil {
		return err
	}
	fe := tenancy.FieldErrors{}
	if !PasswordMatches(user, password) {
		fe["current_password"] = "That is not your current password."
	}
	if len(fe) == 0 {
		if _, err := VerifySecondFactor(ctx, db, box, userID, code, at); errors.Is(err, ErrCodeInvalid) {
			fe["code"] = "That code is not valid. Enter the current code from your app, or a recovery code."
		} else if err != nil {
			return err
		}
	}
	if err := fe.OrNil(); err != nil {
		return err
	}
	return tenancy.InTx(ctx, db, func(tx *gorm.DB) error {
		if err := tx.Where("user_id = ?", userID).Delete(&TOTPFactor{}).Error; err != nil {
			return err
		}
		return dropOrphanRecoveryCodes(tx, userID)
	})
}

// UsersWithSecondFactor says which of the users have a second factor (an
// authenticator app or a passkey), in one query (the members page).
func UsersWithSecondFactor(ctx context.Context, db *gorm.DB, userIDs []int64) (map[int64]bool, error) {
	out := map[int64]bool{}
	if len(userIDs) == 0 {
		return out, nil
	}
	var ids []int64
	err := db.WithContext(ctx).Model(&User{}).Where("id IN ? AND "+tenancy.SecondFactorColumn, userIDs).Pluck("id", &ids).Error
	for _, id := range ids {
		out[id] = true
	}
	return out, err
}
