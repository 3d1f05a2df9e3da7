package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// ErrLastAdmin: the change would leave an organization without an
// administrator.
var ErrLastAdmin = errors.New("an organization must keep at least one administrator")

// Audit actions of membership changes.
const (
	AuditInvited           AuditAction = "member.invited"
	AuditInvitationResent  AuditAction = "invitation.resent"
	AuditInvitationRevoked AuditAction = "invitation.revoked"
	AuditJoined            AuditAction = "member.joined"
	AuditRoleChanged       AuditAction = "member.role_changed"
	AuditRemoved           AuditAction = "member.removed"
	AuditLeft              AuditAction = "member.left"
)

// MemberRow is a member as the member list shows them.
type MemberRow struct {
	UserID       int64
	UserPublicID string
	Name         string
	Email        string
	Role         Role
	JoinedAt     time.Time
	HasPassword  bool
	// SSOSignedInAt is when they last signed in through the organization's IdP.
	SSOSignedInAt *time.Time
}

// ListMembers returns a page of the scope's members, administrators first,
// then by name, and how many there are.
func ListMembers(ctx context.Context, db *gorm.DB, s Scope, page Page) ([]MemberRow, int64, error) {
	if err := s.require(CapViewAccount); err != nil {
		return nil, 0, err
	}
	var total int64
	var rows []MemberRow
	err := s.read(ctx, db, func(tx *gorm.DB) error {
		if err := s.apply(tx.Model(&Membership{})).Count(&total).Error; err != nil {
			return err
		}
		return memberRows(tx, s).
			Order("CASE WHEN memberships.role = 'admin' THEN 0 ELSE 1 END, LOWER(users.name), users.id").
			Limit(page.Size).Offset(page.Offset()).
			Scan(&rows).Error
	})
	return rows, total, err
}

// GetMember returns one member of the scope's account by their user's public ID.
func GetMember(ctx context.Context, db *gorm.DB, s Scope, userPublicID string) (MemberRow, error) {
	if err := s.require(CapViewAccount); err != nil {
		return MemberRow{}, err
	}
	var row MemberRow
	err := s.read(ctx, db, func(tx *gorm.DB) error {
		return memberRows(tx, s).Where("users.public_id = ?", userPublicID).Take(&row).Error
	})
	return row, notFound(err)
}

func memberRows(db *gorm.DB, s Scope) *gorm.DB {
	return s.apply(db.Table("memberships")).
		Select("users.id AS user_id, users.public_id AS user_public_id, users.name, users.email, memberships.role, " +
			"memberships.created_at AS joined_at, users.password_hash <> '' AS has_password, memberships.sso_signed_in_at").
		Joins("JOIN users ON users.id = memberships.user_id")
}

// AdminCount is the number of administrators of the scope's account.
func AdminCount(ctx context.Context, db *gorm.DB, s Scope) (int64, error) {
	if err := s.require(CapViewAccount); err != nil {
		return 0, err
	}
	var n int64
	err := s.read(ctx, db, func(tx *gorm.DB) (err error) {
		n, err = countAdmins(tx, s)
		return err
	})
	return n, err
}

// who names a member in the audit log: "Ada Lovelace (ada@example.com)".
func who(u User) string { return u.Name + " (" + u.Email + ")" }

// lockAccount serialises membership changes of one account, so that two
// administrators demoting each other at once cannot both succeed.
func lockAccount(tx *gorm.DB, accountID int64) (Account, error) {
	var a Account
	err := forUpdate(tx).Take(&a, accountID).Error
	return a, notFound(err)
}

// memberOf reads a member of the scope's account by their user's public ID.
func memberOf(tx *gorm.DB, s Scope, userPublicID string) (User, Membership, error) {
	var row struct {
		User
		Role Role
	}
	err := s.mark(tx.Table("users")).Select("users.*, memberships.role").
		Joins("JOIN memberships ON memberships.user_id = users.id AND memberships.account_id = ?", s.AccountID()).
		Where("users.public_id = ?", userPublicID).Take(&row).Error
	if err != nil {
		return User{}, Membership{}, notFound(err)
	}
	return row.User, Membership{AccountID: s.AccountID(), UserID: row.User.ID, Role: row.Role}, nil
}

// lockAs locks the scope's account and checks, under the lock, that its user
// still holds the capability: a request whose scope was loaded before its
// user was demoted or removed must not act with the old role.
func (s Scope) lockAs(tx *gorm.DB, c Capability) (Account, error) {
	a, err := lockAccount(tx, s.AccountID())
	if err != nil {
		return a, err
	}
	var m Membership
	if err := s.apply(tx).Where("user_id = ?", s.UserID()).Take(&m).Error; err != nil {
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

// keepAnAdmin refuses, with ErrLastAdmin, to take the administrator role
// away from m when they are the scope's account's only administrator. The
// caller holds the account's lock, so that the count stays true until it
// commits.
func keepAnAdmin(tx *gorm.DB, s Scope, m Membership) error {
	if m.Role != RoleAdmin {
		return nil
	}
	n, err := countAdmins(tx, s)
	if err != nil {
		return err
	}
	if LastAdmin(m.Role, n) {
		return ErrLastAdmin
	}
	return nil
}

func countAdmins(tx *gorm.DB, s Scope) (int64, error) {
	var n int64
	err := s.apply(tx.Model(&Membership{})).Where("role = ?", RoleAdmin).Count(&n).Error
	return n, err
}

// ChangeRole gives a member another role; administrators only. The last
// administrator cannot be demoted.
func ChangeRole(ctx context.Context, db *gorm.DB, s Scope, userPublicID string, role Role, actor Actor) (User, error) {
	if err := s.require(CapManageMembers); err != nil {
		return User{}, err
	}
	if !s.IsOrganization() {
		return User{}, ErrNotFound
	}
	if _, ok := ParseRole(string(role)); !ok {
		return User{}, FieldErrors{"role": "Choose Administrator or Regular user."}
	}
	var user User
	err := s.write(ctx, db, func(tx *gorm.DB) error {
		if _, err := s.lockAs(tx, CapManageMembers); err != nil {
			return err
		}
		u, m, err := memberOf(tx, s, userPublicID)
		if err != nil {
			return err
		}
		user = u
		if m.Role == role {
			return nil
		}
		if err := keepAnAdmin(tx, s, m); err != nil {
			return err
		}
		if err := s.apply(tx.Model(&Membership{})).Where("user_id = ?", u.ID).Update("role", role).Error; err != nil {
			return err
		}
		return recordAudit(tx, s, actor, AuditRoleChanged, who(u), m.Role.Label()+" → "+role.Label())
	})
	return user, err
}

// RemoveMember takes a member out of the organization; administrators only.
// Their access ends with their next request; their private indexes pass to
// the administrator who removed them.
func RemoveMember(ctx context.Context, db *gorm.DB, s Scope, userPublicID string, actor Actor) (User, error) {
	if err := s.require(CapManageMembers); err != nil {
		return User{}, err
	}
	if !s.IsOrganization() {
		return User{}, ErrNotFound
	}
	var user User
	err := s.write(ctx, db, func(tx *gorm.DB) error {
		if _, err := s.lockAs(tx, CapManageMembers); err != nil {
			return err
		}
		u, m, err := memberOf(tx, s, userPublicID)
		if err != nil {
			return err
		}
		user = u
		heir := s.UserID()
		if u.ID == s.UserID() {
			if heir, err = oldestAdminBut(tx, s, u.ID); err != nil {
				return err
			}
		}
		if err := removeMembership(tx, s, u, m, heir); err != nil {
			return err
		}
		return recordAudit(tx, s, actor, AuditRemoved, who(u), "was "+m.Role.Label())
	})
	return user, err
}

// LeaveOrganization takes the scope's user out of their organization. The
// last administrator cannot leave; their private indexes pass to the
// longest-serving administrator.
func LeaveOrganization(ctx context.Context, db *gorm.DB, s Scope, actor Actor) error {
	if s.IsZero() {
		return ErrUnscoped
	}
	if !s.IsOrganization() {
		return ErrNotFound
	}
	return s.write(ctx, db, func(tx *gorm.DB) error {
		if _, err := lockAccount(tx, s.AccountID()); err != nil {
			return err
		}
		var u User
		if err := tx.Take(&u, s.UserID()).Error; err != nil {
			return notFound(err)
		}
		var m Membership
		if err := s.apply(tx).Where("user_id = ?", u.ID).Take(&m).Error; err != nil {
			return ErrNotMember
		}
		heir, err := oldestAdminBut(tx, s, u.ID)
		if err != nil {
			return err
		}
		if err := removeMembership(tx, s, u, m, heir); err != nil {
			return err
		}
		return recordAudit(tx, s, actor, AuditLeft, who(u), "was "+m.Role.Label())
	})
}

// CanLeave reports whether the scope's user may leave its organization: not
// as its last administrator.
func CanLeave(ctx context.Context, db *gorm.DB, s Scope) (bool, error) {
	if !s.IsOrganization() || s.Role() != RoleAdmin {
		return s.IsOrganization(), nil
	}
	var n int64
	err := s.read(ctx, db, func(tx *gorm.DB) (err error) {
		n, err = countAdmins(tx, s)
		return err
	})
	return !LastAdmin(s.Role(), n), err
}

// oldestAdminBut is the administrator, other than userID, who joined first;
// ErrLastAdmin when there is none.
func oldestAdminBut(tx *gorm.DB, s Scope, userID int64) (int64, error) {
	var ids []int64
	err := s.apply(tx.Model(&Membership{})).Where("role = ? AND user_id <> ?", RoleAdmin, userID).
		Order("created_at, user_id").Limit(1).Pluck("user_id", &ids).Error
	if err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, ErrLastAdmin
	}
	return ids[0], nil
}

// removeMembership ends a membership inside a transaction holding the
// account's lock: the last administrator stays, the member's private indexes
// pass to heir, and their credentials for the account (API keys, a linked
// SSO identity) are revoked.
func removeMembership(tx *gorm.DB, s Scope, u User, m Membership, heir int64) error {
	if err := keepAnAdmin(tx, s, m); err != nil {
		return err
	}
	if err := s.apply(tx).Where("user_id = ?", u.ID).Delete(&Membership{}).Error; err != nil {
		return err
	}
	if err := revokeMemberCredentials(tx, s, u.ID); err != nil {
		return err
	}
	// A link outliving the membership would let the IdP sign them in
	// again the day they are invited back, before they chose to link.
	if err := s.apply(tx).Where("user_id = ?", u.ID).Delete(&SSOLink{}).Error; err != nil {
		return err
	}
	return handOverPrivateIndexes(tx, s, u, heir)
}

// handOverPrivateIndexes gives a departing member's private indexes to heir;
// they stay private. A name heir already sees gets " (from <name>)". Nobody
// but their creator sees private indexes, so the system does it.
func handOverPrivateIndexes(tx *gorm.DB, s Scope, from User, heir int64) error {
	sys := System("hand a departing member's private indexes to an administrator").In(s.account)
	return sys.write(tx.Statement.Context, tx, func(tx *gorm.DB) error {
		return handOver(tx, sys, from, heir)
	})
}

func handOver(tx *gorm.DB, s Scope, from User, heir int64) error {
	var idxs []Index
	if err := s.apply(tx).Where("visibility = ? AND created_by_id = ?", VisibilityPrivate, from.ID).Find(&idxs).Error; err != nil {
		return err
	}
	for _, idx := range idxs {
		name := idx.Name
		who := truncateRunes(from.Name, 40)
		if who != from.Name {
			who += "…"
		}
		for n := 1; ; n++ {
			taken, err := nameTaken(tx, s, heir, strings.ToLower(name), idx.ID)
			if err != nil {
				return err
			}
			if !taken {
				break
			}
			suffix := " (from " + who + ")"
			if n > 1 {
				suffix = fmt.Sprintf(" (from %s, %d)", who, n)
			}
			// The suffix is at most 56 characters: the original name keeps
			// at least 44, and the whole stays within IndexNameMax.
			name = strings.TrimSpace(truncateRunes(idx.Name, IndexNameMax-utf8.RuneCountInString(suffix))) + suffix
		}
		err := s.apply(tx.Model(&Index{})).Where("id = ?", idx.ID).Updates(map[string]any{
			"created_by_id": heir, "name_scope": heir, "name": name, "name_key": strings.ToLower(name), "updated_at": now(),
		}).Error
		if err != nil {
			return err
		}
	}
	return nil
}

func truncateRunes(s string, n int) string {
	if n < 0 {
		n = 0
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// DeleteOrganization deletes the scope's organization with everything in it;
// administrators only, confirming with the organization's exact name.
// Members land in their personal accounts on their next request.
func DeleteOrganization(ctx context.Context, db *gorm.DB, s Scope, confirmName string, actor Actor) error {
	if err := s.require(CapManageAccount); err != nil {
		return err
	}
	if !s.IsOrganization() {
		return ErrNotFound
	}
	return s.write(ctx, db, func(tx *gorm.DB) error {
		acct, err := s.lockAs(tx, CapManageAccount)
		if err != nil {
			return err
		}
		if strings.TrimSpace(confirmName) != acct.Name {
			return FieldErrors{"confirm_name": "Type the organization's name, " + acct.Name + ", exactly."}
		}
		var members []int64
		if err := s.apply(tx.Model(&Membership{})).Pluck("user_id", &members).Error; err != nil {
			return err
		}
		for _, id := range members {
			if err := revokeMemberCredentials(tx, s, id); err != nil {
				return err
			}
		}
		// Resources, invitations, memberships and the audit trail go with the
		// account (ON DELETE CASCADE).
		return tx.Where("id = ?", acct.ID).Delete(&Account{}).Error
	})
}
