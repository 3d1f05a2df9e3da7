package tenancy

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

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
	// secondFactor: the user has a second factor (read with the membership).
	secondFactor bool
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
	Role         Role
	SecondFactor bool
}

// SecondFactorColumn is true when the user of a users row has a second
// factor: a confirmed authenticator app or a passkey. Triggers keep it in
// the transactions that enroll, confirm and remove factors (migration
// 00026). The scope reads it with the membership, so that the
// organization's two-factor policy costs no query.
const SecondFactorColumn = "users.second_factor"

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
			Select("accounts.*, memberships.role, "+SecondFactorColumn+" AS second_factor").
			Joins("JOIN memberships ON memberships.account_id = accounts.id AND memberships.user_id = ?", userID).
			Joins("JOIN users ON users.id = memberships.user_id").
			Where(where, arg).
			Take(&row).Error
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Scope{}, ErrNotMember
	}
	if err != nil {
		return Scope{}, err
	}
	return Scope{account: row.Account, userID: userID, role: row.Role, secondFactor: row.SecondFactor}, nil
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
	// ssoMember: the key's owner has signed in through the organization's
	// IdP, which counts as its second factor.
	ssoMember bool
}

// RefusedForSecondFactor reports whether the organization's two-factor
// policy refuses the key: its owner has no second factor and has never
// signed in through the organization's IdP.
func (k KeyScope) RefusedForSecondFactor() bool {
	return k.LacksRequiredSecondFactor() && !k.ssoMember
}

// keyScopeSQL reads a live key with its owner's membership and the whole
// account row: every column of Account, in order, then the key's.
var keyScopeSQL = NewHotSQL(`SELECT accounts.id, accounts.public_id, accounts.kind, accounts.name, accounts.slug, accounts.plan,
	accounts.rate_per_minute, accounts.rate_per_day, accounts.sso_enforced, accounts.require_2fa, accounts.created_by_id, accounts.created_at, accounts.updated_at,
	api_keys.id, api_keys.user_id, api_keys.expires_at, memberships.role, ` + SecondFactorColumn + `, memberships.sso_signed_in_at IS NOT NULL
FROM api_keys
JOIN memberships ON memberships.account_id = api_keys.account_id AND memberships.user_id = api_keys.user_id
JOIN accounts ON accounts.id = api_keys.account_id
JOIN users ON users.id = api_keys.user_id
WHERE api_keys.key_hash = ? AND api_keys.revoked_at IS NULL AND api_keys.expires_at > ?`)

// ScopeForAPIKeyHash reads the live API key with the hash, with its owner's
// membership and the whole account row, in one indexed query, and builds
// the scope the key acts in: sql.ErrNoRows when no live key of a current
// member has the hash. db must run through the system door (the key's
// account is not known yet); anything else is refused by wall 1. While the
// scope cache is live (see scopeCache) a key read before answers from memory,
// with no statement.
func ScopeForAPIKeyHash(ctx context.Context, db *gorm.DB, hash string) (KeyScope, error) {
	now := Now()
	return recall(ctx, db, cacheKey{apiKeyScopes, hash}, now, true, func() (KeyScope, time.Time, error) {
		var k KeyScope
		var expires time.Time
		a := &k.account
		err := keyScopeSQL.ScanRow(ctx, db, []any{hash, now},
			&a.ID, &a.PublicID, &a.Kind, &a.Name, &a.Slug, &a.Plan, &a.RatePerMinute, &a.RatePerDay, &a.SSOEnforced, &a.Require2FA, &a.CreatedByID,
			&a.CreatedAt, &a.UpdatedAt, &k.KeyID, &k.userID, &expires, &k.role, &k.secondFactor, &k.ssoMember)
		return k, expires, err
	})
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

// Memberships are every account a user belongs to, with their role there,
// read in one statement at the start of a request: the session's scope
// check, the personal fallback and the account switcher all come from it.
// Accounts are ordered as the switcher lists them: the personal account
// first, then organizations by name.
type Memberships struct {
	user int64
	// secondFactor: the user has a second factor, for the scopes it makes.
	secondFactor bool
	Rows         []MembershipOf
	// CreatedOrganization reports whether the user has created an
	// organization (each may create one).
	CreatedOrganization bool
}

// MembershipOf is one account of Memberships with the user's role there.
type MembershipOf struct {
	Account
	Role Role
}

// MembershipsOf reads the user's memberships, their accounts and whether
// they created an organization, in one statement; while the scope cache is
// live (see scopeCache), memberships read before answer from memory.
func MembershipsOf(ctx context.Context, db *gorm.DB, userID int64) (Memberships, error) {
	return membershipsOf(ctx, db, userID, true)
}

// MembershipsFromDatabase is MembershipsOf read from the database, never
// the cache (which it refreshes): for a refusal, which must not rest on
// memberships kept from before a change whose news is still on its way
// from another server.
func MembershipsFromDatabase(ctx context.Context, db *gorm.DB, userID int64) (Memberships, error) {
	return membershipsOf(ctx, db, userID, false)
}

func membershipsOf(ctx context.Context, db *gorm.DB, userID int64, fromCache bool) (Memberships, error) {
	if userID == 0 {
		return Memberships{}, ErrNotMember
	}
	now := time.Now()
	m, err := recall(ctx, db, cacheKey{userMemberships, strconv.FormatInt(userID, 10)}, now, fromCache, func() (Memberships, time.Time, error) {
		type row struct {
			MembershipOf
			CreatedOrganization bool
			SecondFactor        bool
		}
		var rows []row
		view := ViewOf(userID)
		err := view.Find(ctx, db, &rows, func(tx *gorm.DB) *gorm.DB {
			return view.Mark(tx.Table("accounts")).
				Select("accounts.*, memberships.role, EXISTS (SELECT 1 FROM accounts o WHERE o.created_by_id = ? AND o.kind = ?) AS created_organization, "+
					SecondFactorColumn+" AS second_factor", userID, KindOrganization).
				Joins("JOIN memberships ON memberships.account_id = accounts.id AND memberships.user_id = ?", userID).
				Joins("JOIN users ON users.id = memberships.user_id").
				Order("CASE WHEN accounts.kind = 'personal' THEN 0 ELSE 1 END, LOWER(accounts.name), accounts.id")
		})
		m := Memberships{user: userID, Rows: make([]MembershipOf, len(rows))}
		for i, r := range rows {
			m.Rows[i] = r.MembershipOf
			m.CreatedOrganization = m.CreatedOrganization || r.CreatedOrganization
			m.secondFactor = m.secondFactor || r.SecondFactor
		}
		return m, now.Add(keyCacheMaxAge), err
	})
	if err != nil {
		return Memberships{}, err
	}
	// The rows are the caller's: the kept ones stay as they are.
	m.Rows = slices.Clone(m.Rows)
	return m, nil
}

// Scope is the user's scope in the account with this internal ID, as
// ScopeForSession would have read it: ErrNotMember when they do not belong
// to it (or it is gone).
func (m Memberships) Scope(accountID int64) (Scope, error) {
	for _, r := range m.Rows {
		if r.ID == accountID && m.user != 0 {
			return Scope{account: r.Account, userID: m.user, role: r.Role, secondFactor: m.secondFactor}, nil
		}
	}
	return Scope{}, ErrNotMember
}

// Personal is the user's scope in their personal account.
func (m Memberships) Personal() (Scope, error) {
	for _, r := range m.Rows {
		if r.Kind == KindPersonal && m.user != 0 {
			return Scope{account: r.Account, userID: m.user, role: r.Role, secondFactor: m.secondFactor}, nil
		}
	}
	return Scope{}, ErrNotMember
}

// standInScope is s with stand-ins for its account (every field but its
// kind) and user, for a Statement to render its shapes with, dry (no
// statement runs with it): the round's stand-in IDs, and the account's
// other fields zero in the first round and not in the second, so that a
// statement binding any of them is caught.
func standInScope(s Scope, round int) Scope {
	stand := Scope{role: s.role, secondFactor: s.secondFactor}
	stand.account = Account{ID: standInInt(round, 0), Kind: s.account.Kind}
	stand.userID = standInInt(round, 1)
	if round == 1 {
		slug := "\x00stand-in"
		n := int64(7)
		stand.account.PublicID, stand.account.Name, stand.account.Slug, stand.account.Plan = "\x00stand-in", "\x00stand-in", &slug, "\x00stand-in"
		stand.account.RatePerMinute, stand.account.RatePerDay = &n, &n
		stand.account.SSOEnforced, stand.account.Require2FA = true, true
		stand.account.CreatedByID = standInInt(round, 2)
		stand.account.CreatedAt, stand.account.UpdatedAt = time.Unix(1, 0), time.Unix(2, 0)
	}
	return stand
}
