package tenancy

import (
	"context"
	"errors"

	"gorm.io/gorm"
)

// Role is a member's role in an account.
type Role string

const (
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// ParseRole accepts the roles forms use ("admin", "member").
func ParseRole(s string) (Role, bool) {
	switch Role(s) {
	case RoleAdmin, RoleMember:
		return Role(s), true
	}
	return "", false
}

// Label is the role's name as people read it.
func (r Role) Label() string {
	if r == RoleAdmin {
		return "Administrator"
	}
	return "Regular user"
}

// Scope proves that a user may act in an account with a role, or that the
// system acts in it (Door.In). Only the constructors of this package build
// one (LoadScope, ScopeForSession, PersonalScope, Door.In, and the API key
// and SCIM token look-ups); its zero value scopes nothing, and every query
// through it fails with ErrUnscoped. See walls.go for the walls it opens.
type Scope struct {
	account Account
	userID  int64
	role    Role
	door    string // why the system acts, for a system scope
	// scimToken is the SCIM token a provisioning scope acts by: its
	// organization's, with no user.
	scimToken int64
}

func (s Scope) AccountID() int64 { return s.account.ID }
func (s Scope) UserID() int64    { return s.userID }
func (s Scope) Role() Role       { return s.role }
func (s Scope) Account() Account { return s.account }
func (s Scope) IsZero() bool {
	return s.account.ID == 0 || (s.userID == 0 && s.door == "" && s.scimToken == 0)
}

// IsSCIM reports whether the scope is an organization's identity provider
// provisioning its members through a SCIM token.
func (s Scope) IsSCIM() bool { return s.scimToken != 0 && s.account.ID != 0 }

// SCIMTokenID is the SCIM token a provisioning scope acts by (0 otherwise).
func (s Scope) SCIMTokenID() int64   { return s.scimToken }
func (s Scope) IsPersonal() bool     { return s.account.Kind == KindPersonal }
func (s Scope) IsOrganization() bool { return s.account.Kind == KindOrganization }

// membershipRow is a membership joined with its account, as one query reads it.
type membershipRow struct {
	Account
	Role Role
}

// loadScope reads the user's membership of the account matching where, in
// one query. An account the user does not belong to, or that does not exist,
// is ErrNotMember.
func loadScope(ctx context.Context, db *gorm.DB, userID int64, where string, arg any) (Scope, error) {
	if userID == 0 {
		return Scope{}, ErrNotMember
	}
	var row membershipRow
	view := ViewOf(userID)
	err := view.Read(ctx, db, func(tx *gorm.DB) error {
		return view.Mark(tx.Table("accounts")).
			Select("accounts.*, memberships.role").
			Joins("JOIN memberships ON memberships.account_id = accounts.id AND memberships.user_id = ?", userID).
			Where(where, arg).
			Take(&row).Error
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Scope{}, ErrNotMember
	}
	if err != nil {
		return Scope{}, err
	}
	return Scope{account: row.Account, userID: userID, role: row.Role}, nil
}

// LoadScope checks that the user belongs to the account with the given public
// ID and returns the scope to act in it.
func LoadScope(ctx context.Context, db *gorm.DB, userID int64, accountPublicID string) (Scope, error) {
	if accountPublicID == "" {
		return Scope{}, ErrNotMember
	}
	return loadScope(ctx, db, userID, "accounts.public_id = ?", accountPublicID)
}

// ScopeForSession re-checks the membership a session points at; sessions
// hold the internal account ID.
func ScopeForSession(ctx context.Context, db *gorm.DB, userID, accountID int64) (Scope, error) {
	return loadScope(ctx, db, userID, "accounts.id = ?", accountID)
}

// PersonalScope is the scope of the user's own personal account, where they
// hold every capability.
func PersonalScope(ctx context.Context, db *gorm.DB, userID int64) (Scope, error) {
	return loadScope(ctx, db, userID, "accounts.kind = ?", KindPersonal)
}

// AddFounder makes the user who just created an account (in tx) its first
// administrator: the one membership nobody else grants. Call it only in
// the transaction that inserted a; on any other account it would grant
// what only an administrator may.
func AddFounder(ctx context.Context, tx *gorm.DB, a Account, userID int64) error {
	s := Scope{account: a, userID: userID, role: RoleAdmin}
	return s.Write(ctx, tx, func(tx *gorm.DB) error {
		return s.Apply(tx).Create(&Membership{UserID: userID, Role: RoleAdmin}).Error
	})
}

// KeyScope is what an API request acts as: the scope of the key's owner in
// the key's account, and the key itself.
type KeyScope struct {
	Scope
	KeyID int64
}

// keyScopeSQL reads a live key with its owner's membership and the whole
// account row: every column of Account, in order, then the key's.
var keyScopeSQL = NewHotSQL(`SELECT accounts.id, accounts.public_id, accounts.kind, accounts.name, accounts.slug, accounts.plan,
	accounts.rate_per_minute, accounts.rate_per_day, accounts.sso_enforced, accounts.created_by_id, accounts.created_at, accounts.updated_at,
	api_keys.id, api_keys.user_id, memberships.role
FROM api_keys
JOIN memberships ON memberships.account_id = api_keys.account_id AND memberships.user_id = api_keys.user_id
JOIN accounts ON accounts.id = api_keys.account_id
WHERE api_keys.key_hash = ? AND api_keys.revoked_at IS NULL AND api_keys.expires_at > ?`)

// ScopeForAPIKeyHash reads the live API key with the hash, with its owner's
// membership and the whole account row, in one indexed query, and builds
// the scope the key acts in: sql.ErrNoRows when no live key of a current
// member has the hash. db must run through the system door (the key's
// account is not known yet); anything else is refused by wall 1.
func ScopeForAPIKeyHash(ctx context.Context, db *gorm.DB, hash string) (KeyScope, error) {
	var k KeyScope
	a := &k.account
	err := keyScopeSQL.ScanRow(ctx, db, []any{hash, Now()},
		&a.ID, &a.PublicID, &a.Kind, &a.Name, &a.Slug, &a.Plan, &a.RatePerMinute, &a.RatePerDay, &a.SSOEnforced, &a.CreatedByID,
		&a.CreatedAt, &a.UpdatedAt, &k.KeyID, &k.userID, &k.role)
	if err != nil {
		return KeyScope{}, err
	}
	return k, nil
}

// SCIMScope is what a SCIM request acts as: its organization, with no user,
// by the token named.
type SCIMScope struct {
	Scope
	TokenName string
}

// scimScopeSQL reads a live SCIM token with the whole row of its
// organization: every column of Account, in order, then the token's.
var scimScopeSQL = NewHotSQL(`SELECT accounts.id, accounts.public_id, accounts.kind, accounts.name, accounts.slug, accounts.plan,
	accounts.rate_per_minute, accounts.rate_per_day, accounts.sso_enforced, accounts.created_by_id, accounts.created_at, accounts.updated_at,
	scim_tokens.id, scim_tokens.name
FROM scim_tokens
JOIN accounts ON accounts.id = scim_tokens.account_id
WHERE scim_tokens.token_hash = ? AND scim_tokens.revoked_at IS NULL AND accounts.kind = ?`)

// ScopeForSCIMTokenHash reads the live SCIM token with the hash and the
// whole row of its organization, in one indexed query, and builds the scope
// the token acts in: that organization only, as its identity provider (no
// user), sql.ErrNoRows when no live token has the hash. db must run
// through the system door (the token's account is not known yet).
func ScopeForSCIMTokenHash(ctx context.Context, db *gorm.DB, hash string) (SCIMScope, error) {
	var k SCIMScope
	a := &k.account
	err := scimScopeSQL.ScanRow(ctx, db, []any{hash, KindOrganization},
		&a.ID, &a.PublicID, &a.Kind, &a.Name, &a.Slug, &a.Plan, &a.RatePerMinute, &a.RatePerDay, &a.SSOEnforced, &a.CreatedByID,
		&a.CreatedAt, &a.UpdatedAt, &k.scimToken, &k.TokenName)
	if err != nil {
		return SCIMScope{}, err
	}
	k.role = RoleAdmin
	return k, nil
}

// LockAsSCIM locks a provisioning scope's organization and checks, under
// the lock, that its token is still live: a request authenticated just
// before the token was revoked must not act. ErrNotMember when it was.
func (s Scope) LockAsSCIM(tx *gorm.DB) (Account, error) {
	if !s.IsSCIM() {
		return Account{}, ErrUnscoped
	}
	a, err := LockAccount(tx, s.AccountID())
	if err != nil {
		return a, err
	}
	var n int64
	if err := s.Apply(tx.Table("scim_tokens")).Where("id = ? AND revoked_at IS NULL", s.scimToken).Count(&n).Error; err != nil {
		return a, err
	}
	if n == 0 {
		return a, ErrNotMember
	}
	return a, nil
}

// RequiresSSO reports whether the scope may only be entered from a session
// that signed in through the organization's IdP: enforcement is on and the
// member is not an administrator (administrators keep a password way in,
// so a broken IdP cannot lock the organization out).
func (s Scope) RequiresSSO() bool {
	return s.IsOrganization() && s.account.SSOEnforced && s.role != RoleAdmin
}
