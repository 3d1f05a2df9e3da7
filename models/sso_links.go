package models

import (
	"time"

	"gorm.io/gorm"

	"switchboard/models/tenancy"
)

// SSOLink ties an identity at an organization's IdP (its NameID, the
// subject) to the user who linked it themselves.
type SSOLink struct {
	AccountID int64  `gorm:"primaryKey"`
	Subject   string `gorm:"primaryKey"`
	UserID    int64
	CreatedAt time.Time
}

// TableName is sso_links.
func (SSOLink) TableName() string { return "sso_links" }

// dropSSOLinks forgets every identity linked to the user, in every
// organization: their address was just proved by someone who may not be
// who linked them.
func dropSSOLinks(tx *gorm.DB, userID int64) error {
	return tenancy.System("drop the identities linked to a user before their address was proved").Tx(tx.Statement.Context, tx, func(tx *gorm.DB) error {
		return tx.Where("user_id = ?", userID).Delete(&SSOLink{}).Error
	})
}

// LinkedUser is the user who linked the subject at the organization's IdP;
// ErrNotFound when nobody did. org is the system's scope in the
// organization (Door.In), which reads the links of every member.
func LinkedUser(tx *gorm.DB, org tenancy.Scope, subject string) (User, error) {
	var user User
	if subject == "" {
		return user, tenancy.ErrNotFound
	}
	err := org.Mark(tx).Joins("JOIN sso_links ON sso_links.user_id = users.id AND sso_links.account_id = ? AND sso_links.subject = ?", org.AccountID(), subject).
		Take(&user).Error
	return user, tenancy.NotFound(err)
}

// ProveAddressByIdP marks the user's address proved by an organization's
// IdP (in a domain it proved), in tx: whoever registered it before held it
// unproved, so their password goes, and every session, API key and linked
// identity of theirs with it, so a squatter's credentials open nothing.
func ProveAddressByIdP(tx *gorm.DB, userID int64) error {
	t := tenancy.Now()
	if err := tx.Model(&User{}).Where("id = ?", userID).Updates(map[string]any{"email_verified_at": t, "password_hash": "", "updated_at": t}).Error; err != nil {
		return err
	}
	if err := deleteUserSessions(tx, userID, 0); err != nil {
		return err
	}
	if err := revokeAllAPIKeys(tx, userID); err != nil {
		return err
	}
	return dropSSOLinks(tx, userID)
}
