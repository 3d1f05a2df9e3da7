package models

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"

	"switchboard/models/tenancy"
)

// TokenPurpose says what an emailed link does.
type TokenPurpose string

const (
	PurposeVerify TokenPurpose = "verify"
	PurposeReset  TokenPurpose = "reset"
)

// How long emailed links stay valid.
const (
	VerifyTokenTTL = 48 * time.Hour
	ResetTokenTTL  = time.Hour
)

// EmailToken is a single-use emailed link; only its hash is stored.
type EmailToken struct {
	ID        int64
	TokenHash string
	UserID    int64
	Purpose   TokenPurpose
	Email     string
	ExpiresAt time.Time
	UsedAt    *time.Time
	CreatedAt time.Time
}

// IssueEmailToken creates a link token for the user and returns the secret
// to put in the link. Earlier unused tokens of the same purpose stop working.
func IssueEmailToken(ctx context.Context, db *gorm.DB, user User, purpose TokenPurpose) (string, error) {
	ttl := VerifyTokenTTL
	if purpose == PurposeReset {
		ttl = ResetTokenTTL
	}
	token := tenancy.NewToken()
	t := tenancy.Now()
	err := tenancy.InTx(ctx, db, func(tx *gorm.DB) error {
		if err := tx.Model(&EmailToken{}).Where("user_id = ? AND purpose = ? AND used_at IS NULL", user.ID, purpose).
			Update("used_at", t).Error; err != nil {
			return err
		}
		return tx.Create(&EmailToken{TokenHash: tenancy.HashToken(token), UserID: user.ID, Purpose: purpose, Email: user.Email, ExpiresAt: t.Add(ttl)}).Error
	})
	return token, err
}

// PeekEmailToken returns the user a live token belongs to, without using it
// (a reset form is shown before it is submitted).
func PeekEmailToken(ctx context.Context, db *gorm.DB, token string, purpose TokenPurpose) (User, error) {
	tok, err := liveToken(db.WithContext(ctx), token, purpose)
	if err != nil {
		return User{}, err
	}
	return GetUser(ctx, db, tok.UserID)
}

func liveToken(tx *gorm.DB, token string, purpose TokenPurpose) (EmailToken, error) {
	var tok EmailToken
	err := tx.Where("token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?", tenancy.HashToken(token), purpose, tenancy.Now()).Take(&tok).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return tok, tenancy.ErrTokenInvalid
	}
	return tok, err
}

// consumeToken marks a live token used; a token used concurrently by another
// request is ErrTokenInvalid here.
func consumeToken(tx *gorm.DB, token string, purpose TokenPurpose) (EmailToken, error) {
	tok, err := liveToken(tx, token, purpose)
	if err != nil {
		return tok, err
	}
	res := tx.Model(&EmailToken{}).Where("id = ? AND used_at IS NULL", tok.ID).Update("used_at", tenancy.Now())
	if res.Error != nil {
		return tok, res.Error
	}
	if res.RowsAffected != 1 {
		return tok, tenancy.ErrTokenInvalid
	}
	return tok, nil
}

// VerifyEmail uses a verification link: the user's address is proved if it
// is still the address the link was sent to.
func VerifyEmail(ctx context.Context, db *gorm.DB, token string) (User, error) {
	var user User
	err := tenancy.InTx(ctx, db, func(tx *gorm.DB) error {
		tok, err := consumeToken(tx, token, PurposeVerify)
		if err != nil {
			return err
		}
		if err := tx.Take(&user, tok.UserID).Error; err != nil {
			return tenancy.NotFound(err)
		}
		if user.Email != tok.Email {
			return tenancy.ErrTokenInvalid
		}
		if user.EmailVerifiedAt == nil {
			t := tenancy.Now()
			user.EmailVerifiedAt = &t
			if err := tx.Model(&User{}).Where("id = ?", user.ID).Update("email_verified_at", t).Error; err != nil {
				return err
			}
			// Whoever held the account before its address was proved may
			// have linked an IdP identity to it.
			return dropSSOLinks(tx, user.ID)
		}
		return nil
	})
	return user, err
}

// ResetPassword uses a reset link: it sets the new password, proves the
// email (the link reached it) and ends all of the user's sessions.
func ResetPassword(ctx context.Context, db *gorm.DB, token, password string) (User, error) {
	if fe := validatePassword("password", password); fe != nil {
		return User{}, fe
	}
	var user User
	err := tenancy.InTx(ctx, db, func(tx *gorm.DB) error {
		tok, err := consumeToken(tx, token, PurposeReset)
		if err != nil {
			return err
		}
		if err := tx.Take(&user, tok.UserID).Error; err != nil {
			return tenancy.NotFound(err)
		}
		t := tenancy.Now()
		updates := map[string]any{"password_hash": HashPassword(password), "updated_at": t}
		tookOver := user.EmailVerifiedAt == nil && user.Email == tok.Email
		if tookOver {
			updates["email_verified_at"] = t
			user.EmailVerifiedAt = &t
		}
		if err := tx.Model(&User{}).Where("id = ?", user.ID).Updates(updates).Error; err != nil {
			return err
		}
		if tookOver {
			// Whoever registered the address before its owner proved it
			// loses every credential they made, and every identity they
			// linked.
			if err := revokeAllAPIKeys(tx, user.ID); err != nil {
				return err
			}
			if err := dropSSOLinks(tx, user.ID); err != nil {
				return err
			}
		}
		return deleteUserSessions(tx, user.ID, 0)
	})
	return user, err
}
