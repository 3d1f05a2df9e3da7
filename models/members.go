package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"switchboard/models/tenancy"
)

// ErrLastAdmin: the change would leave an organization without an
// administrator.
var ErrLastAdmin = errors.New("an organization must keep at least one administrator")

// ErrSCIMManaged: the organization's identity provider manages the member
// through SCIM; their role and membership change there, not by hand.
var ErrSCIMManaged = errors.New("the member is managed by the organization's identity provider (SCIM)")

// Audit actions of membership changes.
const (
	AuditInvited           tenancy.AuditAction = "member.invited"
	AuditInvitationResent  tenancy.AuditAction = "invitation.resent"
	AuditInvitationRevoked tenancy.AuditAction = "invitation.revoked"
	AuditJoined            tenancy.AuditAction = "member.joined"
	AuditRoleChanged       tenancy.AuditAction = "member.role_changed"
	AuditRemoved           tenancy.AuditAction = "member.removed"
	AuditLeft              tenancy.AuditAction = "member.left"
)

// MemberRow is a member as the member list shows them.
type MemberRow struct {
	UserID       int64
	UserPublicID string
	Name         string
	Email        string
	Role         tenancy.Role
	JoinedAt     time.Time
	HasPassword  bool
	// SSOSignedInAt is when they last signed in through the organization's IdP.
	SSOSignedInAt *time.Time
	// SecondFactor: they have a second factor (an authenticator app or a
	// passkey).
	SecondFactor bool
	// SCIMManaged: the organization's IdP manages the membership.
	SCIMManaged bool
}

// ListMembers returns a page of the scope's members, administrators first,
// then by name, and how many there are.
func ListMembers(ctx context.Context, db *gorm.DB, s tenancy.Scope, page tenancy.Page) ([]MemberRow, int64, error) {
	rows, total, _, err := ListMembersAndAdmins(ctx, db, s, page)
	return rows, total, err
}

// ListMembersAndAdmins is ListMembers that also says how many of the
// members are administrators, in one statement (a second only for a page
// past the end, which carries no count).
func ListMembersAndAdmins(ctx context.Context, db *gorm.DB, s tenancy.Scope, page tenancy.Page) (rows []MemberRow, total, admins int64, err error) {
	if err := s.Require(tenancy.CapViewAccount); err != nil {
		return nil, 0, 0, err
	}
	kept, err := memberPage.Query(ctx, db, s, struct{}{}, page.Bounds())
	// The kept page is shared: the caller gets a slice of its own.
	rows, total, admins = append(make([]MemberRow, 0, len(kept.rows)), kept.rows...), kept.total, kept.admins
	if err == nil && len(rows) == 0 && page.Offset() > 0 {
		var c struct{ Total, Admins int64 }
		err = s.Find(ctx, db, &c, func(tx *gorm.DB) *gorm.DB {
			return s.Apply(tx.Model(&tenancy.Membership{})).
				Select("COUNT(*) AS total, COALESCE(SUM(CASE WHEN memberships.role = 'admin' THEN 1 ELSE 0 END), 0) AS admins")
		})
		total, admins = c.Total, c.Admins
	}
	return rows, total, admins, err
}

// memberPage is a page of ListMembersAndAdmins's members, administrators
// first, with the counts of every member (the window's counts are taken
// before the page's LIMIT), kept in memory until the account's members
// change (tenancy.Kept).
var memberPage = tenancy.NewKept(func(tx *gorm.DB, s tenancy.Scope, _ struct{}, page tenancy.Bounds) *gorm.DB {
	return memberRows(tx, s).
		Select(memberColumns + ", COUNT(*) OVER () AS total, SUM(CASE WHEN memberships.role = 'admin' THEN 1 ELSE 0 END) OVER () AS admins").
		Order("CASE WHEN memberships.role = 'admin' THEN 0 ELSE 1 END, LOWER(users.name), users.id").
		Limit(page.Limit).Offset(page.Offset)
}, scanMemberPage)

// memberPageAnswer is memberPage's answer.
type memberPageAnswer struct {
	rows          []MemberRow
	total, admins int64
}

func scanMemberPage(r tenancy.Rows) (memberPageAnswer, error) {
	var a memberPageAnswer
	scan := newMemberScan(&a.total, &a.admins)
	for r.Next() {
		m, err := scan.row(r)
		if err != nil {
			return a, err
		}
		a.rows = append(a.rows, m)
	}
	return a, r.Err()
}

// memberScan reads rows of memberColumns and then counts into their types
// (GORM's scan reflects on every field of every row, and had pgx allocate
// each value), through one set of variables reused row after row: Scan
// takes them as interfaces, so each would be a heap allocation a row.
type memberScan struct {
	m         MemberRow
	role      string
	ssoSignIn sql.Null[time.Time]
	dest      []any
}

func newMemberScan(counts ...any) *memberScan {
	s := &memberScan{}
	s.dest = append([]any{&s.m.UserID, &s.m.UserPublicID, &s.m.Name, &s.m.Email, &s.role, &s.m.JoinedAt, &s.m.HasPassword,
		&s.ssoSignIn, &s.m.SecondFactor, &s.m.SCIMManaged}, counts...)
	return s
}

// row reads the current row.
func (s *memberScan) row(r tenancy.Rows) (MemberRow, error) {
	if err := r.Scan(s.dest...); err != nil {
		return MemberRow{}, err
	}
	m := s.m
	m.Role = tenancy.Role(s.role)
	if s.ssoSignIn.Valid {
		m.SSOSignedInAt = new(s.ssoSignIn.V)
	}
	return m, nil
}

// GetMember returns one member of the scope's account by their user's public ID.
func GetMember(ctx context.Context, db *gorm.DB, s tenancy.Scope, userPublicID string) (MemberRow, error) {
	if err := s.Require(tenancy.CapViewAccount); err != nil {
		return MemberRow{}, err
	}
	var row MemberRow
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		return memberRows(tx, s).Where("users.public_id = ?", userPublicID).Take(&row).Error
	})
	return row, tenancy.NotFound(err)
}

// memberColumns are a MemberRow's, as memberRows selects them.
var memberColumns = "users.id AS user_id, users.public_id AS user_public_id, users.name, users.email, memberships.role, " +
	"memberships.created_at AS joined_at, users.password_hash <> '' AS has_password, memberships.sso_signed_in_at, " +
	tenancy.SecondFactorColumn + " AS second_factor, memberships.scim_managed"

func memberRows(db *gorm.DB, s tenancy.Scope) *gorm.DB {
	return s.Apply(db.Table("memberships")).Select(memberColumns).Joins("JOIN users ON users.id = memberships.user_id")
}

// AdminCount is the number of administrators of the scope's account.
func AdminCount(ctx context.Context, db *gorm.DB, s tenancy.Scope) (int64, error) {
	if err := s.Require(tenancy.CapViewAccount); err != nil {
		return 0, err
	}
	var n int64
	err := s.Read(ctx, db, func(tx *gorm.DB) (err error) {
		n, err = countAdmins(tx, s)
		return err
	})
	return n, err
}

// memberOf reads a member of the scope's account by their user's public ID.
func memberOf(tx *gorm.DB, s tenancy.Scope, userPublicID string) (User, tenancy.Membership, error) {
	var row struct {
		User
		Role        tenancy.Role
		SCIMManaged bool
	}
	err := s.Mark(tx.Table("users")).Select("users.*, memberships.role, memberships.scim_managed").
		Joins("JOIN memberships ON memberships.user_id = users.id AND memberships.account_id = ?", s.AccountID()).
		Where("users.public_id = ?", userPublicID).Take(&row).Error
	if err != nil {
		return User{}, tenancy.Membership{}, tenancy.NotFound(err)
	}
	return row.User, tenancy.Membership{AccountID: s.AccountID(), UserID: row.User.ID, Role: row.Role, SCIMManaged: row.SCIMManaged}, nil
}

// keepAnAdmin refuses, with ErrLastAdmin, to take the administrator role
// away from m when they are the scope's account's only administrator. The
// caller holds the account's lock, so that the count stays true until it
// commits.
func keepAnAdmin(tx *gorm.DB, s tenancy.Scope, m tenancy.Membership) error {
	if m.Role != tenancy.RoleAdmin {
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

func countAdmins(tx *gorm.DB, s tenancy.Scope) (int64, error) {
	var n int64
	err := s.Apply(tx.Model(&tenancy.Membership{})).Where("role = ?", tenancy.RoleAdmin).Count(&n).Error
	return n, err
}

// ChangeRole gives a member another role; administrators only. The last
// administrator cannot be demoted.
func ChangeRole(ctx context.Context, db *gorm.DB, s tenancy.Scope, userPublicID string, role tenancy.Role, actor tenancy.Actor) (User, error) {
	if err := s.Require(tenancy.CapManageMembers); err != nil {
		return User{}, err
	}
	if !s.IsOrganization() {
		return User{}, tenancy.ErrNotFound
	}
	if _, ok := tenancy.ParseRole(string(role)); !ok {
		return User{}, tenancy.FieldErrors{"role": "Choose Administrator or Regular user."}
	}
	var user User
	err := s.Write(ctx, db, func(tx *gorm.DB) error {
		if _, err := s.LockAs(tx, tenancy.CapManageMembers); err != nil {
			return err
		}
		u, m, err := memberOf(tx, s, userPublicID)
		if err != nil {
			return err
		}
		user = u
		if m.SCIMManaged {
			return ErrSCIMManaged
		}
		if m.Role == role {
			return nil
		}
		if err := keepAnAdmin(tx, s, m); err != nil {
			return err
		}
		if err := s.Apply(tx.Model(&tenancy.Membership{})).Where("user_id = ?", u.ID).Update("role", role).Error; err != nil {
			return err
		}
		return tenancy.RecordAudit(tx, s, actor, AuditRoleChanged, u.AuditName(), m.Role.Label()+" → "+role.Label())
	})
	return user, err
}

// RemoveMember takes a member out of the organization; administrators only.
// Their access ends with their next request; their private indexes pass to
// the administrator who removed them.
func RemoveMember(ctx context.Context, db *gorm.DB, s tenancy.Scope, userPublicID string, actor tenancy.Actor) (User, error) {
	if err := s.Require(tenancy.CapManageMembers); err != nil {
		return User{}, err
	}
	if !s.IsOrganization() {
		return User{}, tenancy.ErrNotFound
	}
	var user User
	err := s.Write(ctx, db, func(tx *gorm.DB) error {
		if _, err := s.LockAs(tx, tenancy.CapManageMembers); err != nil {
			return err
		}
		u, m, err := memberOf(tx, s, userPublicID)
		if err != nil {
			return err
		}
		user = u
		if m.SCIMManaged {
			return ErrSCIMManaged
		}
		heir := s.UserID()
		if u.ID == s.UserID() {
			if heir, err = oldestAdminBut(tx, s, u.ID); err != nil {
				return err
			}
		}
		if err := removeMembership(tx, s, u, m, heir); err != nil {
			return err
		}
		return tenancy.RecordAudit(tx, s, actor, AuditRemoved, u.AuditName(), "was "+m.Role.Label())
	})
	return user, err
}

// RemoveMemberInTx is the removal a manual one does (API keys of the
// account revoked, linked identity dropped, private indexes handed to the
// longest-serving other administrator, the last administrator kept), for
// the organization's identity provider acting through SCIM: in tx, whose
// caller holds the account's lock. It records the removal in the audit log
// under actor; a user who is not a member is left as they are.
func RemoveMemberInTx(tx *gorm.DB, s tenancy.Scope, userID int64, actor tenancy.Actor) error {
	if !s.IsSCIM() {
		return tenancy.ErrForbidden
	}
	var u User
	if err := tx.Take(&u, userID).Error; err != nil {
		return tenancy.NotFound(err)
	}
	var m tenancy.Membership
	err := s.Apply(tx).Where("user_id = ?", userID).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	heir, err := oldestAdminBut(tx, s, u.ID)
	if err != nil {
		return err
	}
	if err := removeMembership(tx, s, u, m, heir); err != nil {
		return err
	}
	return tenancy.RecordAudit(tx, s, actor, AuditRemoved, u.AuditName(), "was "+m.Role.Label())
}

// SetRoleInTx gives a member another role for the organization's identity
// provider (its groups, through SCIM, or an administrator choosing which
// group maps to administrators), in tx, whose caller holds the
// account's lock: the last administrator keeps theirs (ErrLastAdmin). A
// user who is not a member is left as they are.
func SetRoleInTx(tx *gorm.DB, s tenancy.Scope, userID int64, role tenancy.Role, actor tenancy.Actor) error {
	if !s.IsSCIM() && !s.Can(tenancy.CapManageMembers) {
		return tenancy.ErrForbidden
	}
	var m tenancy.Membership
	err := s.Apply(tx).Where("user_id = ?", userID).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) || err == nil && m.Role == role {
		return nil
	}
	if err != nil {
		return err
	}
	if err := keepAnAdmin(tx, s, m); err != nil {
		return err
	}
	var u User
	if err := tx.Take(&u, userID).Error; err != nil {
		return tenancy.NotFound(err)
	}
	if err := s.Apply(tx.Model(&tenancy.Membership{})).Where("user_id = ?", userID).Update("role", role).Error; err != nil {
		return err
	}
	return tenancy.RecordAudit(tx, s, actor, AuditRoleChanged, u.AuditName(), m.Role.Label()+" → "+role.Label())
}

// LeaveOrganization takes the scope's user out of their organization. The
// last administrator cannot leave, nor can a member the organization's
// identity provider manages (ErrSCIMManaged); their private indexes pass to the
// longest-serving administrator.
func LeaveOrganization(ctx context.Context, db *gorm.DB, s tenancy.Scope, actor tenancy.Actor) error {
	if s.IsZero() {
		return tenancy.ErrUnscoped
	}
	if !s.IsOrganization() {
		return tenancy.ErrNotFound
	}
	return s.Write(ctx, db, func(tx *gorm.DB) error {
		if _, err := tenancy.LockAccount(tx, s.AccountID()); err != nil {
			return err
		}
		var u User
		if err := tx.Take(&u, s.UserID()).Error; err != nil {
			return tenancy.NotFound(err)
		}
		var m tenancy.Membership
		if err := s.Apply(tx).Where("user_id = ?", u.ID).Take(&m).Error; err != nil {
			return tenancy.ErrNotMember
		}
		if m.SCIMManaged {
			return ErrSCIMManaged
		}
		heir, err := oldestAdminBut(tx, s, u.ID)
		if err != nil {
			return err
		}
		if err := removeMembership(tx, s, u, m, heir); err != nil {
			return err
		}
		return tenancy.RecordAudit(tx, s, actor, AuditLeft, u.AuditName(), "was "+m.Role.Label())
	})
}

// ManagedBySCIM reports whether the organization's identity provider
// manages the scope's user's membership: they leave when it deprovisions
// them, not by hand.
func ManagedBySCIM(ctx context.Context, db *gorm.DB, s tenancy.Scope) (bool, error) {
	if !s.IsOrganization() || s.UserID() == 0 {
		return false, nil
	}
	var managed []bool
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		return s.Apply(tx.Model(&tenancy.Membership{})).Where("user_id = ?", s.UserID()).Pluck("scim_managed", &managed).Error
	})
	return len(managed) == 1 && managed[0], err
}

// CanLeave reports whether the scope's user may leave its organization: not
// as its last administrator.
func CanLeave(ctx context.Context, db *gorm.DB, s tenancy.Scope) (bool, error) {
	if !s.IsOrganization() || s.Role() != tenancy.RoleAdmin {
		return s.IsOrganization(), nil
	}
	var n int64
	err := s.Read(ctx, db, func(tx *gorm.DB) (err error) {
		n, err = countAdmins(tx, s)
		return err
	})
	return !LastAdmin(s.Role(), n), err
}

// oldestAdminBut is the administrator, other than userID, who joined first;
// ErrLastAdmin when there is none.
func oldestAdminBut(tx *gorm.DB, s tenancy.Scope, userID int64) (int64, error) {
	var ids []int64
	err := s.Apply(tx.Model(&tenancy.Membership{})).Where("role = ? AND user_id <> ?", tenancy.RoleAdmin, userID).
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
func removeMembership(tx *gorm.DB, s tenancy.Scope, u User, m tenancy.Membership, heir int64) error {
	if err := keepAnAdmin(tx, s, m); err != nil {
		return err
	}
	if err := s.Apply(tx).Where("user_id = ?", u.ID).Delete(&tenancy.Membership{}).Error; err != nil {
		return err
	}
	if err := revokeMemberCredentials(tx, s, u.ID); err != nil {
		return err
	}
	// A link outliving the membership would let the IdP sign them in
	// again the day they are invited back, before they chose to link.
	if err := s.Apply(tx).Where("user_id = ?", u.ID).Delete(&SSOLink{}).Error; err != nil {
		return err
	}
	return handOverPrivateIndexes(tx, s, u, heir)
}

// handOverPrivateIndexes gives a departing member's private indexes to heir;
// they stay private. A name heir already sees gets " (from <name>)". Nobody
// but their creator sees private indexes, so the system does it.
func handOverPrivateIndexes(tx *gorm.DB, s tenancy.Scope, from User, heir int64) error {
	sys := tenancy.System("hand a departing member's private indexes to an administrator").In(s.Account())
	return sys.Write(tx.Statement.Context, tx, func(tx *gorm.DB) error {
		return handOver(tx, sys, from, heir)
	})
}

func handOver(tx *gorm.DB, s tenancy.Scope, from User, heir int64) error {
	var idxs []Index
	if err := s.Apply(tx).Where("visibility = ? AND created_by_id = ?", VisibilityPrivate, from.ID).Find(&idxs).Error; err != nil {
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
		err := s.Apply(tx.Model(&Index{})).Where("id = ?", idx.ID).Updates(map[string]any{
			"created_by_id": heir, "name_scope": heir, "name": name, "name_key": strings.ToLower(name), "updated_at": tenancy.Now(),
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
func DeleteOrganization(ctx context.Context, db *gorm.DB, s tenancy.Scope, confirmName string, actor tenancy.Actor) error {
	if err := s.Require(tenancy.CapManageAccount); err != nil {
		return err
	}
	if !s.IsOrganization() {
		return tenancy.ErrNotFound
	}
	return s.Write(ctx, db, func(tx *gorm.DB) error {
		acct, err := s.LockAs(tx, tenancy.CapManageAccount)
		if err != nil {
			return err
		}
		if strings.TrimSpace(confirmName) != acct.Name {
			return tenancy.FieldErrors{"confirm_name": "Type the organization's name, " + acct.Name + ", exactly."}
		}
		var members []int64
		if err := s.Apply(tx.Model(&tenancy.Membership{})).Pluck("user_id", &members).Error; err != nil {
			return err
		}
		for _, id := range members {
			if err := revokeMemberCredentials(tx, s, id); err != nil {
				return err
			}
		}
		// Resources, invitations, memberships and the audit trail go with the
		// account (ON DELETE CASCADE).
		return tx.Where("id = ?", acct.ID).Delete(&tenancy.Account{}).Error
	})
}
