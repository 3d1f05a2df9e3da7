package scim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/sso"
	"switchboard/models/tenancy"
)

// Refusals of provisioning, besides tenancy.ErrNotFound (404) and
// models.ErrLastAdmin.
var (
	// ErrUserNameTaken: another provisioned user of the organization has
	// the userName (409 uniqueness).
	ErrUserNameTaken = errors.New("a user with this userName is already provisioned")
	// ErrAlreadyProvisioned: the account with this email is provisioned
	// already, under another userName (409 uniqueness).
	ErrAlreadyProvisioned = errors.New("the user with this email is already provisioned under another userName")
	// ErrEmailTaken: another user has the email (409 uniqueness).
	ErrEmailTaken = errors.New("another user has this email")
	// ErrUnprovedDomain: the organization has not proved it owns the
	// email's domain, so its identity provider may neither create a user
	// there nor take in an account that is not a member yet (400
	// invalidValue).
	ErrUnprovedDomain = errors.New("the organization has not proved it owns this email's domain (Settings › Single sign-on › Domains); only a proved domain lets its identity provider create users or add people who are not members yet")
	// ErrEmailNotOwned: the email of a user may change through SCIM only
	// when the organization proved the domains of both addresses (400
	// invalidValue).
	ErrEmailNotOwned = errors.New("the email can change only from and to addresses in domains the organization proved")
)

// InvalidValue is a value SCIM refuses (400 invalidValue), with why.
type InvalidValue struct{ Detail string }

func (e InvalidValue) Error() string { return e.Detail }

// User is a provisioned user: the identity provider's names for them and
// whether it wants them active. An inactive one has no membership.
type User struct {
	ID          int64
	PublicID    string
	AccountID   int64
	UserID      int64
	UserName    string
	UserNameKey string
	ExternalID  string
	GivenName   string
	FamilyName  string
	Active      bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// TableName is scim_users.
func (User) TableName() string { return "scim_users" }

// Resource is a provisioned user as SCIM shows them: the row, the user's
// name and email, and their groups.
type Resource struct {
	User
	DisplayName string
	Email       string
	Groups      []GroupRef `gorm:"-"`
}

// GroupRef names a group a user belongs to.
type GroupRef struct {
	ID          string
	DisplayName string
}

// UserInput is a user as the identity provider sends it on create and
// replace.
type UserInput struct {
	UserName    string
	ExternalID  string
	GivenName   string
	FamilyName  string
	DisplayName string
	Email       string // "" takes the userName when it is an address
	Active      bool
}

// Changes are the attributes a PATCH or PUT sets; nil leaves one as it is.
type Changes struct {
	UserName    *string
	ExternalID  *string
	GivenName   *string
	FamilyName  *string
	DisplayName *string
	Email       *string
	Active      *bool
}

// Limits of provisioned attributes.
const (
	maxUserName   = 256
	maxExternalID = 256
	maxNamePart   = models.UserNameMax
	// maxUserText bounds a user's externalId, names and displayName, on
	// create and update alike; the user's own name is cut to
	// models.UserNameMax.
	maxUserText = max(maxNamePart, maxExternalID)
)

func checkText(field, v string, max int) error {
	if utf8.RuneCountInString(v) > max {
		return InvalidValue{fmt.Sprintf("%s must be at most %d characters.", field, max)}
	}
	if msg := tenancy.NameProblem(field, v); msg != "" && v != "" {
		return InvalidValue{msg}
	}
	return nil
}

func checkUserName(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return v, InvalidValue{"userName is required."}
	}
	return v, checkText("userName", v, maxUserName)
}

func checkEmail(v string) (string, error) {
	v = tenancy.NormalizeEmail(v)
	if !tenancy.ValidEmail(v) {
		return v, InvalidValue{"The user needs a work email address like name@example.com (emails, or a userName that is one)."}
	}
	return v, nil
}

// displayName is the name a user goes by: the display name, else the given
// and family names, else the email's local part.
func displayName(display, given, family, email string) string {
	name := strings.Join(strings.Fields(display), " ")
	if name == "" {
		name = strings.Join(strings.Fields(given+" "+family), " ")
	}
	if name == "" {
		name, _, _ = strings.Cut(email, "@")
	}
	if utf8.RuneCountInString(name) > models.UserNameMax {
		name = string([]rune(name)[:models.UserNameMax])
	}
	return name
}

// provedDomain reports whether the scope's organization proved the email's
// domain.
func provedDomain(tx *gorm.DB, s tenancy.Scope, email string) (bool, error) {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false, nil
	}
	var n int64
	err := s.Apply(tx.Model(&sso.SSODomain{})).Where("domain = ? AND verified_at IS NOT NULL", email[at+1:]).Count(&n).Error
	return n > 0, err
}

// scimDoor creates the users the identity provider provisions in a proved
// domain, with their personal accounts (outside the organization's scope).
var scimDoor = tenancy.System("SCIM provisioning creates a user and their personal account")

// CreateUser provisions a user in the scope's organization. An account
// with the email is taken in when it is a member already, or when the
// organization proved the email's domain; otherwise, in a proved domain, a
// user is created who has no password (they sign in through the
// organization's SSO, or set one through a reset). Either way, active,
// they become a member with the role their groups map to.
func CreateUser(ctx context.Context, db *gorm.DB, s tenancy.Scope, in UserInput) (Resource, error) {
	if !s.IsSCIM() {
		return Resource{}, tenancy.ErrForbidden
	}
	var err error
	if in.UserName, err = checkUserName(in.UserName); err != nil {
		return Resource{}, err
	}
	if in.Email == "" {
		in.Email = in.UserName
	}
	if in.Email, err = checkEmail(in.Email); err != nil {
		return Resource{}, err
	}
	for _, f := range []struct{ field, v string }{{"externalId", in.ExternalID}, {"name.givenName", in.GivenName},
		{"name.familyName", in.FamilyName}, {"displayName", in.DisplayName}} {
		if err := checkText(f.field, f.v, maxUserText); err != nil {
			return Resource{}, err
		}
	}
	var row User
	err = s.Write(ctx, db, func(tx *gorm.DB) error {
		if _, err := s.LockAsSCIM(tx); err != nil {
			return err
		}
		var n int64
		if err := s.Apply(tx.Model(&User{})).Where("user_name_key = ?", strings.ToLower(in.UserName)).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return ErrUserNameTaken
		}
		proved, err := provedDomain(tx, s, in.Email)
		if err != nil {
			return err
		}
		var u models.User
		err = tx.Where("email = ?", in.Email).Take(&u).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			if !proved {
				return ErrUnprovedDomain
			}
			t := tenancy.Now()
			name := displayName(in.DisplayName, in.GivenName, in.FamilyName, in.Email)
			if err := scimDoor.Tx(ctx, tx, func(tx *gorm.DB) error {
				u, _, err = models.CreateUser(ctx, tx, name, in.Email, "", &t)
				if _, taken := tenancy.AsFieldErrors(err); taken {
					// Someone signed up with the address since it was looked up.
					return ErrEmailTaken
				}
				return err
			}); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			var member int64
			if err := s.Apply(tx.Model(&tenancy.Membership{})).Where("user_id = ?", u.ID).Count(&member).Error; err != nil {
				return err
			}
			if member == 0 && !proved {
				return ErrUnprovedDomain
			}
			if err := s.Apply(tx.Model(&User{})).Where("user_id = ?", u.ID).Count(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				return ErrAlreadyProvisioned
			}
			if proved && u.EmailVerifiedAt == nil {
				// Whoever signed up with the address never proved it, and
				// the organization's IdP now does: as at an SSO sign-in, a
				// squatter's password, sessions and keys go before the
				// account joins.
				if err := scimDoor.Tx(ctx, tx, func(tx *gorm.DB) error { return models.ProveAddressByIdP(tx, u.ID) }); err != nil {
					return err
				}
			}
		}
		t := tenancy.Now()
		row = User{PublicID: tenancy.NewUUID(), UserID: u.ID, UserName: in.UserName, UserNameKey: strings.ToLower(in.UserName),
			ExternalID: in.ExternalID, GivenName: in.GivenName, FamilyName: in.FamilyName, CreatedAt: t, UpdatedAt: t}
		if err := s.Apply(tx).Create(&row).Error; err != nil {
			return err
		}
		if err := tenancy.RecordAudit(tx, s, actor, AuditProvisioned, u.AuditName(), "userName "+in.UserName); err != nil {
			return err
		}
		if in.Active {
			return activate(tx, s, &row, u)
		}
		return nil
	})
	if err != nil {
		return Resource{}, err
	}
	return GetUser(ctx, db, s, row.PublicID)
}

// activate makes a provisioned user a member managed by SCIM, with the role
// their groups map to: an existing membership (someone invited before) is
// taken over; a missing one is created (or restored, on reactivation,
// without the API keys it had).
func activate(tx *gorm.DB, s tenancy.Scope, row *User, u models.User) error {
	role, mapped, err := mappedRole(tx, s, row.ID)
	if err != nil {
		return err
	}
	var m tenancy.Membership
	err = s.Apply(tx).Where("user_id = ?", u.ID).Take(&m).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		if !mapped {
			role = tenancy.RoleMember
		}
		if err := s.Apply(tx).Create(&tenancy.Membership{UserID: u.ID, Role: role, SCIMManaged: true}).Error; err != nil {
			return err
		}
		if err := tenancy.RecordAudit(tx, s, actor, models.AuditJoined, u.AuditName(), "provisioned as "+role.Label()); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if err := s.Apply(tx.Model(&tenancy.Membership{})).Where("user_id = ?", u.ID).Update("scim_managed", true).Error; err != nil {
			return err
		}
		if mapped {
			if err := models.SetRoleInTx(tx, s, u.ID, role, actor); err != nil {
				return err
			}
		}
	}
	row.Active = true
	return s.Apply(tx.Model(&User{})).Where("id = ?", row.ID).Updates(map[string]any{"active": true, "updated_at": tenancy.Now()}).Error
}

// deactivate ends a provisioned user's membership as a manual removal
// does: their API keys of the organization are revoked, their sessions in
// it land in their personal account on their next request.
func deactivate(tx *gorm.DB, s tenancy.Scope, row *User) error {
	if err := models.RemoveMemberInTx(tx, s, row.UserID, actor); err != nil {
		return err
	}
	row.Active = false
	return s.Apply(tx.Model(&User{})).Where("id = ?", row.ID).Updates(map[string]any{"active": false, "updated_at": tenancy.Now()}).Error
}

// GetUser returns a provisioned user of the scope's organization by its
// SCIM id; ErrNotFound for any other.
func GetUser(ctx context.Context, db *gorm.DB, s tenancy.Scope, id string) (Resource, error) {
	if !s.IsSCIM() {
		return Resource{}, tenancy.ErrForbidden
	}
	var rs []Resource
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		var err error
		rs, err = resources(tx, s, resourceRows(tx, s).Where("scim_users.public_id = ?", id).Limit(1))
		return err
	})
	if err != nil {
		return Resource{}, err
	}
	if len(rs) == 0 {
		return Resource{}, tenancy.ErrNotFound
	}
	return rs[0], nil
}

// MaxCount is the most resources one list answers (ServiceProviderConfig's
// filter.maxResults).
const MaxCount = 200

// ListUsers returns the scope's organization's provisioned users matching
// f, from the 1-based startIndex, at most count, in the order they were
// provisioned, and how many match.
func ListUsers(ctx context.Context, db *gorm.DB, s tenancy.Scope, f Filter, startIndex, count int) ([]Resource, int64, error) {
	if !s.IsSCIM() {
		return nil, 0, tenancy.ErrForbidden
	}
	var rs []Resource
	var total int64
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		q := func() *gorm.DB {
			q := resourceRows(tx, s)
			switch f.Attr {
			case AttrUserName:
				q = q.Where("scim_users.user_name_key = ?", strings.ToLower(f.Value))
			case AttrExternalID:
				q = q.Where("scim_users.external_id = ?", f.Value)
			case AttrEmail:
				q = q.Where("users.email = ?", tenancy.NormalizeEmail(f.Value))
			}
			return q
		}
		if err := q().Count(&total).Error; err != nil {
			return err
		}
		if count == 0 {
			return nil
		}
		var err error
		rs, err = resources(tx, s, q().Order("scim_users.id").Offset(startIndex-1).Limit(count))
		return err
	})
	return rs, total, err
}

// resourceRows is the scope's provisioned users with their users.
func resourceRows(tx *gorm.DB, s tenancy.Scope) *gorm.DB {
	return s.Apply(tx.Model(&User{})).Joins("JOIN users ON users.id = scim_users.user_id")
}

// resources reads the rows q selects, with their groups: two queries.
func resources(tx *gorm.DB, s tenancy.Scope, q *gorm.DB) ([]Resource, error) {
	var rs []Resource
	if err := q.Select("scim_users.*, users.name AS display_name, users.email").Scan(&rs).Error; err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return rs, nil
	}
	ids := make([]int64, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	groups, err := groupsOf(tx, s, ids)
	if err != nil {
		return nil, err
	}
	for i := range rs {
		rs[i].Groups = groups[rs[i].ID]
	}
	return rs, nil
}

// UpdateUser applies a PATCH's or PUT's changes to a provisioned user.
// The user's own name and email change only when the organization proved
// the domain of their address (it owns the identity), and the email only to
// another address in a proved domain; otherwise the names are kept as the
// identity provider's, on the provisioning record. active false removes the
// membership as a manual removal does; true restores it.
func UpdateUser(ctx context.Context, db *gorm.DB, s tenancy.Scope, id string, ch Changes) (Resource, error) {
	if !s.IsSCIM() {
		return Resource{}, tenancy.ErrForbidden
	}
	err := s.Write(ctx, db, func(tx *gorm.DB) error {
		if _, err := s.LockAsSCIM(tx); err != nil {
			return err
		}
		var row User
		if err := s.Apply(tx).Where("public_id = ?", id).Take(&row).Error; err != nil {
			return tenancy.NotFound(err)
		}
		var u models.User
		if err := tx.Take(&u, row.UserID).Error; err != nil {
			return tenancy.NotFound(err)
		}
		return update(tx, s, &row, u, ch)
	})
	if err != nil {
		return Resource{}, err
	}
	return GetUser(ctx, db, s, id)
}

func update(tx *gorm.DB, s tenancy.Scope, row *User, u models.User, ch Changes) error {
	set := map[string]any{}
	var changed []string
	if ch.UserName != nil {
		name, err := checkUserName(*ch.UserName)
		if err != nil {
			return err
		}
		if key := strings.ToLower(name); key != row.UserNameKey {
			var n int64
			if err := s.Apply(tx.Model(&User{})).Where("user_name_key = ? AND id <> ?", key, row.ID).Count(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				return ErrUserNameTaken
			}
			set["user_name_key"] = key
		}
		if name != row.UserName {
			set["user_name"], row.UserName = name, name
			changed = append(changed, "userName")
		}
	}
	for _, f := range []struct {
		field, col string
		v          *string
		dst        *string
	}{{"externalId", "external_id", ch.ExternalID, &row.ExternalID}, {"name.givenName", "given_name", ch.GivenName, &row.GivenName},
		{"name.familyName", "family_name", ch.FamilyName, &row.FamilyName}} {
		if f.v == nil {
			continue
		}
		v := strings.TrimSpace(*f.v)
		if err := checkText(f.field, v, maxUserText); err != nil {
			return err
		}
		if v != *f.dst {
			set[f.col], *f.dst = v, v
			changed = append(changed, f.field)
		}
	}
	owned, err := provedDomain(tx, s, u.Email)
	if err != nil {
		return err
	}
	userSet := map[string]any{}
	if ch.Email != nil {
		email, err := checkEmail(*ch.Email)
		if err != nil {
			return err
		}
		if email != u.Email {
			provedNew, err := provedDomain(tx, s, email)
			if err != nil {
				return err
			}
			if !owned || !provedNew {
				return ErrEmailNotOwned
			}
			var n int64
			if err := tx.Model(&models.User{}).Where("email = ? AND id <> ?", email, u.ID).Count(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				return ErrEmailTaken
			}
			userSet["email"] = email
			changed = append(changed, "email "+u.Email+" → "+email)
		}
	}
	if ch.DisplayName != nil || ch.GivenName != nil || ch.FamilyName != nil {
		display := ""
		if ch.DisplayName != nil {
			display = *ch.DisplayName
			if err := checkText("displayName", strings.TrimSpace(display), maxUserText); err != nil {
				return err
			}
		}
		if name := displayName(display, row.GivenName, row.FamilyName, u.Email); owned && name != u.Name {
			userSet["name"] = name
			changed = append(changed, "name")
		}
	}
	if len(userSet) > 0 {
		userSet["updated_at"] = tenancy.Now()
		if err := tx.Model(&models.User{}).Where("id = ?", u.ID).Updates(userSet).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return ErrEmailTaken
			}
			return err
		}
	}
	if len(set) > 0 {
		set["updated_at"] = tenancy.Now()
		if err := s.Apply(tx.Model(&User{})).Where("id = ?", row.ID).Updates(set).Error; err != nil {
			return err
		}
	}
	if len(changed) > 0 {
		if err := tenancy.RecordAudit(tx, s, actor, AuditUpdated, u.AuditName(), strings.Join(changed, ", ")); err != nil {
			return err
		}
	}
	if ch.Active != nil && *ch.Active != row.Active {
		if *ch.Active {
			if err := activate(tx, s, row, u); err != nil {
				return err
			}
			return tenancy.RecordAudit(tx, s, actor, AuditReactivated, u.AuditName(), "")
		}
		return deactivate(tx, s, row)
	}
	return nil
}

// ReplaceUser is PUT: the user becomes in as sent; the email, when sent,
// follows UpdateUser's rules.
func ReplaceUser(ctx context.Context, db *gorm.DB, s tenancy.Scope, id string, in UserInput) (Resource, error) {
	ch := Changes{UserName: &in.UserName, ExternalID: &in.ExternalID, GivenName: &in.GivenName, FamilyName: &in.FamilyName,
		DisplayName: &in.DisplayName, Active: &in.Active}
	if in.Email != "" {
		ch.Email = &in.Email
	}
	return UpdateUser(ctx, db, s, id, ch)
}

// DeleteUser deprovisions a user: their membership ends as a manual removal
// ends it, and the provisioning record goes. Their user and personal
// account stay.
func DeleteUser(ctx context.Context, db *gorm.DB, s tenancy.Scope, id string) error {
	if !s.IsSCIM() {
		return tenancy.ErrForbidden
	}
	return s.Write(ctx, db, func(tx *gorm.DB) error {
		if _, err := s.LockAsSCIM(tx); err != nil {
			return err
		}
		var row User
		if err := s.Apply(tx).Where("public_id = ?", id).Take(&row).Error; err != nil {
			return tenancy.NotFound(err)
		}
		if row.Active {
			if err := deactivate(tx, s, &row); err != nil {
				return err
			}
		}
		return s.Apply(tx).Where("id = ?", row.ID).Delete(&User{}).Error
	})
}
