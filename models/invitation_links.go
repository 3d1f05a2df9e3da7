package models

import (
	"context"
	"errors"

	"gorm.io/gorm"

	"switchboard/models/tenancy"
)

// Opening and accepting an invitation link.

// InvitationView is what an invitation link shows: the invitation, its
// organization and its inviter.
type InvitationView struct {
	Invitation
	AccountName     string
	AccountPublicID string
	InviterName     string
}

// ErrInvitationNotFound: no invitation has this token.
var ErrInvitationNotFound = errors.New("this invitation link is not valid")

// LookupInvitation finds the invitation of a link, in whatever state.
func LookupInvitation(ctx context.Context, db *gorm.DB, token string) (InvitationView, error) {
	var v InvitationView
	err := tenancy.System("look up an invitation by its token").Do(ctx, db, func(tx *gorm.DB) error {
		return tx.Model(&Invitation{}).
			Select("invitations.*, accounts.name AS account_name, accounts.public_id AS account_public_id, users.name AS inviter_name").
			Joins("JOIN accounts ON accounts.id = invitations.account_id").
			Joins("LEFT JOIN users ON users.id = invitations.invited_by_id").
			Where("invitations.token_hash = ?", tenancy.HashToken(token)).
			Take(&v).Error
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return v, ErrInvitationNotFound
	}
	return v, err
}

// ErrInvitationForSomeoneElse: the signed-in user's email is not the one
// invited.
var ErrInvitationForSomeoneElse = errors.New("this invitation was sent to another email address")

// ErrInvitationClosed: the invitation was accepted, revoked or has expired.
var ErrInvitationClosed = errors.New("this invitation can no longer be accepted")

// AcceptInvitation makes the user a member of the invitation's organization
// with its role, and returns their scope there. The user's email must be the
// invited one; accepting proves it.
func AcceptInvitation(ctx context.Context, db *gorm.DB, token string, user User, ip string) (tenancy.Scope, error) {
	var scope tenancy.Scope
	door := tenancy.System("accept an invitation by its token")
	err := door.Tx(ctx, db, func(tx *gorm.DB) error {
		var inv Invitation
		if err := tx.Where("token_hash = ?", tenancy.HashToken(token)).Take(&inv).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return ErrInvitationNotFound
			}
			return err
		}
		acct, err := tenancy.LockAccount(tx, inv.AccountID)
		if err != nil {
			return err
		}
		if inv.State() != InvitationPending {
			return ErrInvitationClosed
		}
		if tenancy.NormalizeEmail(user.Email) != inv.Email {
			return ErrInvitationForSomeoneElse
		}
		t := tenancy.Now()
		org := door.In(acct)
		res := org.Apply(tx.Model(&Invitation{})).Where("id = ? AND accepted_at IS NULL AND revoked_at IS NULL", inv.ID).
			Updates(map[string]any{"accepted_at": t, "accepted_by_id": user.ID})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrInvitationClosed
		}
		var n int64
		if err := org.Apply(tx.Model(&tenancy.Membership{})).Where("user_id = ?", user.ID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			if err := org.Apply(tx).Create(&tenancy.Membership{UserID: user.ID, Role: inv.Role}).Error; err != nil {
				return err
			}
		}
		if user.EmailVerifiedAt == nil {
			if err := tx.Model(&User{}).Where("id = ?", user.ID).Update("email_verified_at", t).Error; err != nil {
				return err
			}
		}
		if scope, err = tenancy.ScopeForSession(ctx, tx, user.ID, acct.ID); err != nil {
			return err
		}
		return tenancy.RecordAudit(tx, scope, tenancy.Actor{UserID: user.ID, Name: user.Name, IP: ip}, AuditJoined, user.Email, "as "+scope.Role().Label())
	})
	return scope, err
}
