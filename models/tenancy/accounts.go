package tenancy

import (
	"errors"
	"time"

	"gorm.io/gorm"
)

// AccountKind tells a personal account from an organization.
type AccountKind string

const (
	KindPersonal     AccountKind = "personal"
	KindOrganization AccountKind = "organization"
)

// Label is the kind as the profile menu shows it.
func (k AccountKind) Label() string {
	if k == KindOrganization {
		return "Organization"
	}
	return "Personal"
}

// Plan decides an account's rate limits and prices.
type Plan string

const (
	PlanFree       Plan = "free"
	PlanDeveloper  Plan = "developer"
	PlanEnterprise Plan = "enterprise"
)

// Label is the plan's name as people read it.
func (p Plan) Label() string {
	switch p {
	case PlanDeveloper:
		return "Developer"
	case PlanEnterprise:
		return "Enterprise"
	}
	return "Free"
}

// Account is a personal account or an organization.
type Account struct {
	ID       int64
	PublicID string
	Kind     AccountKind
	Name     string
	Slug     *string
	Plan     Plan
	// RatePerMinute and RatePerDay override the plan's API limits
	// (Enterprise); nil keeps the plan's.
	RatePerMinute *int64
	RatePerDay    *int64
	// SSOEnforced: members other than administrators enter only from a
	// session that signed in through the organization's IdP.
	SSOEnforced bool `gorm:"column:sso_enforced"`
	// Require2FA: members enter only with a second factor (or from a
	// session that signed in through the organization's IdP).
	Require2FA  bool `gorm:"column:require_2fa"`
	CreatedByID int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// SlugOrEmpty is the organization's slug; personal accounts have none.
func (a Account) SlugOrEmpty() string {
	if a.Slug == nil {
		return ""
	}
	return *a.Slug
}

// Membership ties a user to an account with a role.
type Membership struct {
	AccountID     int64 `gorm:"primaryKey"`
	UserID        int64 `gorm:"primaryKey"`
	Role          Role
	CreatedAt     time.Time
	SSOSignedInAt *time.Time `gorm:"column:sso_signed_in_at"`
	// SCIMManaged: the organization's identity provider manages the
	// membership through SCIM; administrators do not change it by hand.
	SCIMManaged bool `gorm:"column:scim_managed"`
}

// LockAccount serialises membership changes of one account, so that two
// administrators demoting each other at once cannot both succeed. The lock
// holds until tx ends; ErrNotFound when the account is gone.
func LockAccount(tx *gorm.DB, accountID int64) (Account, error) {
	var a Account
	err := ForUpdate(tx).Take(&a, accountID).Error
	return a, NotFound(err)
}

// LockAs locks the scope's account and checks, under the lock, that its user
// still holds the capability: a request whose scope was loaded before its
// user was demoted or removed must not act with the old role: ErrNotMember
// when the membership is gone, ErrForbidden when its role lacks c.
func (s Scope) LockAs(tx *gorm.DB, c Capability) (Account, error) {
	a, err := LockAccount(tx, s.AccountID())
	if err != nil {
		return a, err
	}
	var m Membership
	if err := s.Apply(tx).Where("user_id = ?", s.UserID()).Take(&m).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return a, ErrNotMember
		}
		return a, err
	}
	if !Policy[c][m.Role] {
		return a, ErrForbidden
	}
	return a, nil
}
