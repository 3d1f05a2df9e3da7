package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"switchboard/models/tenancy"
)

// User is a person who signs in. Email is stored normalised (NormalizeEmail).
type User struct {
	ID              int64
	PublicID        string
	Name            string
	Email           string
	PasswordHash    string
	EmailVerifiedAt *time.Time
	// SecondFactor: the user has a confirmed authenticator app or a
	// passkey. The database's triggers keep it; GORM only reads it.
	SecondFactor bool `gorm:"->"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Verified reports whether the user proved their email address.
func (u User) Verified() bool { return u.EmailVerifiedAt != nil }

// AuditName names the user in the audit log: "Ada Lovelace (ada@example.com)".
func (u User) AuditName() string { return u.Name + " (" + u.Email + ")" }

// User names: 1–100 characters once trimmed.
const UserNameMax = 100

func ValidateUserName(name string) (string, tenancy.FieldErrors) {
	name = strings.Join(strings.Fields(name), " ")
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return name, tenancy.FieldErrors{"name": "Enter your name."}
	case n > UserNameMax:
		return name, tenancy.FieldErrors{"name": fmt.Sprintf("The name must be at most %d characters.", UserNameMax)}
	}
	if msg := tenancy.NameProblem("The name", name); msg != "" {
		return name, tenancy.FieldErrors{"name": msg}
	}
	return name, nil
}

// SignUpInput is what the sign-up form asks for.
type SignUpInput struct {
	Name     string
	Email    string
	Password string
}

// emailTakenMessage refuses a sign-up for an email that has an account.
const emailTakenMessage = "An account with this email already exists. Sign in, or reset your password."

// SignUp creates the user and their personal account (named after them, with
// them as its administrator) in one transaction.
func SignUp(ctx context.Context, db *gorm.DB, in SignUpInput) (User, tenancy.Account, error) {
	name, fe := ValidateUserName(in.Name)
	if fe == nil {
		fe = tenancy.FieldErrors{}
	}
	email, ok := tenancy.ParseEmail(in.Email)
	if !ok {
		fe["email"] = "Enter an email address like name@example.com."
	}
	for k, v := range validatePassword("password", in.Password) {
		fe[k] = v
	}
	if err := fe.OrNil(); err != nil {
		return User{}, tenancy.Account{}, err
	}
	return CreateUser(ctx, db, name, email, HashPassword(in.Password), nil)
}

// CreateUser inserts a user with their personal account and membership.
func CreateUser(ctx context.Context, db *gorm.DB, name, email, passwordHash string, verifiedAt *time.Time) (User, tenancy.Account, error) {
	if !tenancy.ValidEmail(email) {
		// Callers parse addresses first (tenancy.ParseEmail); one that did
		// not must not store an address that compares unlike the others.
		return User{}, tenancy.Account{}, tenancy.FieldErrors{"email": "Enter an email address like name@example.com."}
	}
	user := User{PublicID: tenancy.NewUUID(), Name: name, Email: email, PasswordHash: passwordHash, EmailVerifiedAt: verifiedAt}
	var acct tenancy.Account
	err := tenancy.InTx(ctx, db, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&User{}).Where("email = ?", email).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return tenancy.FieldErrors{"email": emailTakenMessage}
		}
		if err := tx.Create(&user).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return tenancy.FieldErrors{"email": emailTakenMessage}
			}
			return err
		}
		acct = tenancy.Account{PublicID: tenancy.NewUUID(), Kind: tenancy.KindPersonal, Name: name, Plan: tenancy.PlanFree, CreatedByID: user.ID}
		if err := tx.Create(&acct).Error; err != nil {
			return err
		}
		return tenancy.AddFounder(ctx, tx, acct, user.ID)
	})
	return user, acct, err
}

// Authenticate returns the user whose email and password match, or
// ErrBadCredentials whichever of the two is wrong.
func Authenticate(ctx context.Context, db *gorm.DB, email, password string) (User, error) {
	var user User
	err := db.WithContext(ctx).Where("email = ?", tenancy.NormalizeEmail(email)).Take(&user).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		checkPassword(dummyHash, password)
		return User{}, tenancy.ErrBadCredentials
	}
	if err != nil {
		return User{}, err
	}
	if len(password) > PasswordMax || !checkPassword(user.PasswordHash, password) {
		return User{}, tenancy.ErrBadCredentials
	}
	return user, nil
}

// GetUser returns the user with the given internal ID.
func GetUser(ctx context.Context, db *gorm.DB, id int64) (User, error) {
	var u User
	err := db.WithContext(ctx).Take(&u, id).Error
	return u, tenancy.NotFound(err)
}

// FindUserByEmail returns the user with that (normalised) email.
func FindUserByEmail(ctx context.Context, db *gorm.DB, email string) (User, error) {
	var u User
	err := db.WithContext(ctx).Where("email = ?", tenancy.NormalizeEmail(email)).Take(&u).Error
	return u, tenancy.NotFound(err)
}

// RenameUser changes the user's name and, with it, their personal account's.
func RenameUser(ctx context.Context, db *gorm.DB, userID int64, name string) error {
	name, fe := ValidateUserName(name)
	if fe != nil {
		return fe
	}
	return tenancy.InTx(ctx, db, func(tx *gorm.DB) error {
		t := tenancy.Now()
		res := tx.Model(&User{}).Where("id = ?", userID).Updates(map[string]any{"name": name, "updated_at": t})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return tenancy.ErrNotFound
		}
		return tx.Model(&tenancy.Account{}).Where("created_by_id = ? AND kind = ?", userID, tenancy.KindPersonal).
			Updates(map[string]any{"name": name, "updated_at": t}).Error
	})
}

// ChangePassword replaces the user's password after checking the current
// one, and ends every other session of theirs.
func ChangePassword(ctx context.Context, db *gorm.DB, userID int64, current, next string, keepSessionID int64) error {
	user, err := GetUser(ctx, db, userID)
	if err != nil {
		return err
	}
	fe := validatePassword("new_password", next)
	if fe == nil {
		fe = tenancy.FieldErrors{}
	}
	if !checkPassword(user.PasswordHash, current) {
		fe["current_password"] = "That is not your current password."
	}
	if err := fe.OrNil(); err != nil {
		return err
	}
	return tenancy.InTx(ctx, db, func(tx *gorm.DB) error {
		if err := tx.Model(&User{}).Where("id = ?", userID).
			Updates(map[string]any{"password_hash": HashPassword(next), "updated_at": tenancy.Now()}).Error; err != nil {
			return err
		}
		return deleteUserSessions(tx, userID, keepSessionID)
	})
}
