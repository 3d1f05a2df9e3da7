package scim

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"switchboard/models"
	"switchboard/models/tenancy"
)

// ErrGroupNameTaken: another group of the organization has the display
// name (409 uniqueness).
var ErrGroupNameTaken = errors.New("a group with this displayName exists")

// Group is a group of provisioned users at the identity provider. The one
// whose display name the organization chose (Settings) maps to
// administrators; the members of no such group are regular users.
type Group struct {
	ID             int64
	PublicID       string
	AccountID      int64
	DisplayName    string
	DisplayNameKey string
	ExternalID     string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// TableName is scim_groups.
func (Group) TableName() string { return "scim_groups" }

type groupMember struct {
	AccountID  int64
	GroupID    int64
	SCIMUserID int64 `gorm:"column:scim_user_id"`
}

func (groupMember) TableName() string { return "scim_group_members" }

// Settings are an organization's provisioning settings.
type Settings struct {
	AccountID  int64 `gorm:"primaryKey"`
	AdminGroup string
}

// TableName is scim_settings.
func (Settings) TableName() string { return "scim_settings" }

// GroupResource is a group as SCIM shows it.
type GroupResource struct {
	Group
	Members []MemberRef `gorm:"-"`
}

// MemberRef names a provisioned user in a group.
type MemberRef struct {
	ID      string
	Display string
}

// GroupInput is a group as the identity provider sends it on create and
// replace: member user IDs.
type GroupInput struct {
	DisplayName string
	ExternalID  string
	Members     []string
}

// GroupChanges are a PATCH's changes to a group: nil leaves an attribute,
// Members (non-nil) replaces the members, then Add and Remove apply.
type GroupChanges struct {
	DisplayName *string
	ExternalID  *string
	Members     *[]string
	Add         []string
	Remove      []string
}

// MaxGroupMembers bounds the members one request may name.
const MaxGroupMembers = 1000

// groupsOf is the groups of the provisioned users with the ids.
func groupsOf(tx *gorm.DB, s tenancy.Scope, ids []int64) (map[int64][]GroupRef, error) {
	var rows []struct {
		SCIMUserID  int64 `gorm:"column:scim_user_id"`
		PublicID    string
		DisplayName string
	}
	err := s.Apply(tx.Model(&groupMember{})).Joins("JOIN scim_groups ON scim_groups.id = scim_group_members.group_id").
		Where("scim_group_members.scim_user_id IN ?", ids).
		Select("scim_group_members.scim_user_id, scim_groups.public_id, scim_groups.display_name").
		Order("scim_groups.display_name_key").Scan(&rows).Error
	out := map[int64][]GroupRef{}
	for _, r := range rows {
		out[r.SCIMUserID] = append(out[r.SCIMUserID], GroupRef{ID: r.PublicID, DisplayName: r.DisplayName})
	}
	return out, err
}

// adminGroupKey is the lower-cased display name of the group mapped to
// administrators; "" when none is.
func adminGroupKey(tx *gorm.DB, s tenancy.Scope) (string, error) {
	var names []string
	err := s.Apply(tx.Model(&Settings{})).Limit(1).Pluck("admin_group", &names).Error
	if err != nil || len(names) == 0 {
		return "", err
	}
	return strings.ToLower(names[0]), nil
}

// mappedRole is the role a provisioned user's groups give them, and false
// when the organization maps no group (roles are then left as they are).
func mappedRole(tx *gorm.DB, s tenancy.Scope, scimUserID int64) (tenancy.Role, bool, error) {
	key, err := adminGroupKey(tx, s)
	if err != nil || key == "" {
		return "", false, err
	}
	var n int64
	err = s.Apply(tx.Model(&groupMember{})).Joins("JOIN scim_groups ON scim_groups.id = scim_group_members.group_id").
		Where("scim_group_members.scim_user_id = ? AND scim_groups.display_name_key = ?", scimUserID, key).Count(&n).Error
	if n > 0 {
		return tenancy.RoleAdmin, true, err
	}
	return tenancy.RoleMember, true, err
}

// syncRoles gives the active provisioned users with the ids (all, for nil)
// the roles their groups map to: promotions first, so that moving the
// administrators from one person to another never leaves none between.
func syncRoles(tx *gorm.DB, s tenancy.Scope, ids []int64, by tenancy.Actor) error {
	key, err := adminGroupKey(tx, s)
	if err != nil || key == "" {
		return err
	}
	q := s.Apply(tx.Model(&User{})).Where("active = ?", true)
	if ids != nil {
		if len(ids) == 0 {
			return nil
		}
		q = q.Where("id IN ?", ids)
	}
	var users []User
	if err := q.Order("id").Find(&users).Error; err != nil {
		return err
	}
	var admins []int64
	err = s.Apply(tx.Model(&groupMember{})).Joins("JOIN scim_groups ON scim_groups.id = scim_group_members.group_id").
		Where("scim_groups.display_name_key = ?", key).Pluck("scim_group_members.scim_user_id", &admins).Error
	if err != nil {
		return err
	}
	for _, promote := range []bool{true, false} {
		for _, u := range users {
			if isAdmin := slices.Contains(admins, u.ID); isAdmin == promote {
				role := tenancy.RoleMember
				if isAdmin {
					role = tenancy.RoleAdmin
				}
				if err := models.SetRoleInTx(tx, s, u.UserID, role, by); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func checkDisplayName(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return v, InvalidValue{"displayName is required."}
	}
	return v, checkText("displayName", v, maxNamePart)
}

// memberIDs turns SCIM user ids into the organization's provisioned users'
// row ids; an id that is not one is InvalidValue.
func memberIDs(tx *gorm.DB, s tenancy.Scope, ids []string) ([]int64, error) {
	if len(ids) > MaxGroupMembers {
		return nil, InvalidValue{"A request may name at most 1000 members."}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var rows []User
	if err := s.Apply(tx).Where("public_id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]int64, 0, len(rows))
	for _, id := range ids {
		i := slices.IndexFunc(rows, func(u User) bool { return u.PublicID == id })
		if i < 0 {
			return nil, InvalidValue{"No provisioned user has the id " + id + "."}
		}
		out = append(out, rows[i].ID)
	}
	return out, nil
}

// CreateGroup creates a group of provisioned users.
func CreateGroup(ctx context.Context, db *gorm.DB, s tenancy.Scope, in GroupInput) (GroupResource, error) {
	if !s.IsSCIM() {
		return GroupResource{}, tenancy.ErrForbidden
	}
	name, err := checkDisplayName(in.DisplayName)
	if err != nil {
		return GroupResource{}, err
	}
	if err := checkText("externalId", in.ExternalID, maxExternalID); err != nil {
		return GroupResource{}, err
	}
	var g Group
	err = s.Write(ctx, db, func(tx *gorm.DB) error {
		if _, err := s.LockAsSCIM(tx); err != nil {
			return err
		}
		if err := nameFree(tx, s, name, 0); err != nil {
			return err
		}
		t := tenancy.Now()
		g = Group{PublicID: tenancy.NewUUID(), DisplayName: name, DisplayNameKey: strings.ToLower(name), ExternalID: in.ExternalID, CreatedAt: t, UpdatedAt: t}
		if err := s.Apply(tx).Create(&g).Error; err != nil {
			return err
		}
		ids, err := memberIDs(tx, s, in.Members)
		if err != nil {
			return err
		}
		if err := addMembers(tx, s, g.ID, ids); err != nil {
			return err
		}
		return syncRoles(tx, s, ids, actor)
	})
	if err != nil {
		return GroupResource{}, err
	}
	return GetGroup(ctx, db, s, g.PublicID, true)
}

func nameFree(tx *gorm.DB, s tenancy.Scope, name string, except int64) error {
	var n int64
	if err := s.Apply(tx.Model(&Group{})).Where("display_name_key = ? AND id <> ?", strings.ToLower(name), except).Count(&n).Error; err != nil {
		return err
	}
	if n > 0 {
		return ErrGroupNameTaken
	}
	return nil
}

func addMembers(tx *gorm.DB, s tenancy.Scope, groupID int64, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	rows := make([]groupMember, len(ids))
	for i, id := range ids {
		rows[i] = groupMember{GroupID: groupID, SCIMUserID: id}
	}
	return s.Apply(tx).Clauses(clause.OnConflict{DoNothing: true}).Create(&rows).Error
}

// GetGroup returns a group of the scope's organization, with its members
// unless withMembers is false.
func GetGroup(ctx context.Context, db *gorm.DB, s tenancy.Scope, id string, withMembers bool) (GroupResource, error) {
	if !s.IsSCIM() {
		return GroupResource{}, tenancy.ErrForbidden
	}
	var gs []GroupResource
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		var err error
		gs, err = groupResources(tx, s, s.Apply(tx.Model(&Group{})).Where("public_id = ?", id).Limit(1), withMembers)
		return err
	})
	if err != nil {
		return GroupResource{}, err
	}
	if len(gs) == 0 {
		return GroupResource{}, tenancy.ErrNotFound
	}
	return gs[0], nil
}

// ListGroups returns the scope's organization's groups matching f, like
// ListUsers.
func ListGroups(ctx context.Context, db *gorm.DB, s tenancy.Scope, f Filter, startIndex, count int, withMembers bool) ([]GroupResource, int64, error) {
	if !s.IsSCIM() {
		return nil, 0, tenancy.ErrForbidden
	}
	var gs []GroupResource
	var total int64
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		q := func() *gorm.DB {
			q := s.Apply(tx.Model(&Group{}))
			switch f.Attr {
			case AttrDisplayName:
				q = q.Where("display_name_key = ?", strings.ToLower(f.Value))
			case AttrExternalID:
				q = q.Where("external_id = ?", f.Value)
			}
			return q
		}
		if err := q().Count(&total).Error; err != nil || count == 0 {
			return err
		}
		var err error
		gs, err = groupResources(tx, s, q().Order("id").Offset(startIndex-1).Limit(count), withMembers)
		return err
	})
	return gs, total, err
}

func groupResources(tx *gorm.DB, s tenancy.Scope, q *gorm.DB, withMembers bool) ([]GroupResource, error) {
	var groups []Group
	if err := q.Find(&groups).Error; err != nil {
		return nil, err
	}
	out := make([]GroupResource, len(groups))
	ids := make([]int64, len(groups))
	for i, g := range groups {
		out[i].Group, ids[i] = g, g.ID
	}
	if !withMembers || len(groups) == 0 {
		return out, nil
	}
	var rows []struct {
		GroupID  int64
		PublicID string
		Name     string
	}
	err := s.Apply(tx.Model(&groupMember{})).
		Joins("JOIN scim_users ON scim_users.id = scim_group_members.scim_user_id").
		Joins("JOIN users ON users.id = scim_users.user_id").
		Where("scim_group_members.group_id IN ?", ids).
		Select("scim_group_members.group_id, scim_users.public_id, users.name").
		Order("scim_users.id").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		i := slices.Index(ids, r.GroupID)
		out[i].Members = append(out[i].Members, MemberRef{ID: r.PublicID, Display: r.Name})
	}
	return out, nil
}

// UpdateGroup applies a PATCH's (or PUT's) changes to a group, and gives
// the members who joined or left it the roles their groups now map to.
func UpdateGroup(ctx context.Context, db *gorm.DB, s tenancy.Scope, id string, ch GroupChanges) (GroupResource, error) {
	if !s.IsSCIM() {
		return GroupResource{}, tenancy.ErrForbidden
	}
	err := s.Write(ctx, db, func(tx *gorm.DB) error {
		if _, err := s.LockAsSCIM(tx); err != nil {
			return err
		}
		var g Group
		if err := s.Apply(tx).Where("public_id = ?", id).Take(&g).Error; err != nil {
			return tenancy.NotFound(err)
		}
		set := map[string]any{"updated_at": tenancy.Now()}
		renamed := false
		if ch.DisplayName != nil {
			name, err := checkDisplayName(*ch.DisplayName)
			if err != nil {
				return err
			}
			if err := nameFree(tx, s, name, g.ID); err != nil {
				return err
			}
			renamed = strings.ToLower(name) != g.DisplayNameKey
			set["display_name"], set["display_name_key"] = name, strings.ToLower(name)
		}
		if ch.ExternalID != nil {
			if err := checkText("externalId", *ch.ExternalID, maxExternalID); err != nil {
				return err
			}
			set["external_id"] = *ch.ExternalID
		}
		if err := s.Apply(tx.Model(&Group{})).Where("id = ?", g.ID).Updates(set).Error; err != nil {
			return err
		}
		var before []int64
		if err := s.Apply(tx.Model(&groupMember{})).Where("group_id = ?", g.ID).Pluck("scim_user_id", &before).Error; err != nil {
			return err
		}
		touched := slices.Clone(before)
		if ch.Members != nil {
			ids, err := memberIDs(tx, s, *ch.Members)
			if err != nil {
				return err
			}
			if err := s.Apply(tx).Where("group_id = ?", g.ID).Delete(&groupMember{}).Error; err != nil {
				return err
			}
			if err := addMembers(tx, s, g.ID, ids); err != nil {
				return err
			}
			touched = append(touched, ids...)
		}
		add, err := memberIDs(tx, s, ch.Add)
		if err != nil {
			return err
		}
		if err := addMembers(tx, s, g.ID, add); err != nil {
			return err
		}
		remove, err := memberIDs(tx, s, ch.Remove)
		if err != nil {
			return err
		}
		if len(remove) > 0 {
			if err := s.Apply(tx).Where("group_id = ? AND scim_user_id IN ?", g.ID, remove).Delete(&groupMember{}).Error; err != nil {
				return err
			}
		}
		touched = append(append(touched, add...), remove...)
		if !renamed && ch.Members == nil {
			touched = append(add, remove...)
		}
		return syncRoles(tx, s, touched, actor)
	})
	if err != nil {
		return GroupResource{}, err
	}
	return GetGroup(ctx, db, s, id, true)
}

// DeleteGroup deletes a group; its members get the roles their other
// groups map to.
func DeleteGroup(ctx context.Context, db *gorm.DB, s tenancy.Scope, id string) error {
	if !s.IsSCIM() {
		return tenancy.ErrForbidden
	}
	return s.Write(ctx, db, func(tx *gorm.DB) error {
		if _, err := s.LockAsSCIM(tx); err != nil {
			return err
		}
		var g Group
		if err := s.Apply(tx).Where("public_id = ?", id).Take(&g).Error; err != nil {
			return tenancy.NotFound(err)
		}
		var members []int64
		if err := s.Apply(tx.Model(&groupMember{})).Where("group_id = ?", g.ID).Pluck("scim_user_id", &members).Error; err != nil {
			return err
		}
		if err := s.Apply(tx).Where("group_id = ?", g.ID).Delete(&groupMember{}).Error; err != nil {
			return err
		}
		if err := s.Apply(tx).Where("id = ?", g.ID).Delete(&Group{}).Error; err != nil {
			return err
		}
		return syncRoles(tx, s, members, actor)
	})
}

// GetSettings returns the organization's provisioning settings;
// administrators only.
func GetSettings(ctx context.Context, db *gorm.DB, s tenancy.Scope) (Settings, error) {
	if err := s.Require(tenancy.CapManageAccount); err != nil {
		return Settings{}, err
	}
	var st Settings
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		return s.Apply(tx).Limit(1).Find(&st).Error
	})
	return st, err
}

// SaveAdminGroup chooses the group whose members are administrators ("":
// none; roles are then left as they are) and gives every active
// provisioned member the role it maps to at once. It is refused, as a
// field error, when that would leave the organization without an
// administrator.
func SaveAdminGroup(ctx context.Context, db *gorm.DB, s tenancy.Scope, group string, by tenancy.Actor) error {
	if err := s.Require(tenancy.CapManageAccount); err != nil {
		return err
	}
	group = strings.Join(strings.Fields(group), " ")
	if err := checkText("The group name", group, maxNamePart); err != nil {
		return tenancy.FieldErrors{"admin_group": err.Error()}
	}
	err := s.Write(ctx, db, func(tx *gorm.DB) error {
		if _, err := s.LockAs(tx, tenancy.CapManageAccount); err != nil {
			return err
		}
		st := Settings{AdminGroup: group}
		err := s.Apply(tx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "account_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"admin_group"})}).Create(&st).Error
		if err != nil {
			return err
		}
		if err := tenancy.RecordAudit(tx, s, by, AuditGroups, group, ""); err != nil {
			return err
		}
		return syncRoles(tx, s, nil, by)
	})
	if errors.Is(err, models.ErrLastAdmin) {
		return tenancy.FieldErrors{"admin_group": "No active provisioned member is in this group, and the organization's administrators are all provisioned: it would be left without an administrator."}
	}
	return err
}
