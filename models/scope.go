package models

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
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

// Scope proves that a user may act in an account with a role. Only
// membership-checking constructors in this package build one (LoadScope,
// ScopeForSession, PersonalScope); its zero value scopes nothing, and every
// query through it fails with ErrUnscoped.
type Scope struct {
	account Account
	userID  int64
	role    Role
}

func (s Scope) AccountID() int64     { return s.account.ID }
func (s Scope) UserID() int64        { return s.userID }
func (s Scope) Role() Role           { return s.role }
func (s Scope) Account() Account     { return s.account }
func (s Scope) IsZero() bool         { return s.account.ID == 0 || s.userID == 0 }
func (s Scope) IsPersonal() bool     { return s.account.Kind == KindPersonal }
func (s Scope) IsOrganization() bool { return s.account.Kind == KindOrganization }

// trusted is the scopeKey value of statements whose authority is not a
// scope (see bySecret and systemWrite): the guard lets them through and
// inserts keep the account IDs they carry.
type trusted struct{}

// scopeKey marks a GORM statement as scoped to an account; the guard
// callbacks refuse statements on account-owned tables without it.
const scopeKey = "switchboard:account_scope"

// accountOwned lists the tables whose rows belong to one account. Every
// query, update or delete on them must go through Scope.apply.
var accountOwned = map[string]bool{
	"api_keys":            true,
	"audit_events":        true,
	"billing_contacts":    true,
	"enterprise_requests": true,
	"invoices":            true,
	"invoice_lines":       true,
	"indexes":             true,
	"invitations":         true,
	"videos":              true,
	"s3_integrations":     true,
	"sso_connections":     true,
	"sso_domains":         true,
	"sso_links":           true,
	"sso_requests":        true,
	"usage_events":        true,
	"usage_daily":         true,
	"usage_daily_account": true,
}

// apply restricts db to the scope's account (on the statement's own table)
// and marks the statement as scoped.
func (s Scope) apply(db *gorm.DB) *gorm.DB {
	if s.IsZero() {
		_ = db.AddError(ErrUnscoped)
		return db
	}
	return db.Set(scopeKey, s.account.ID).Where(clause.Eq{
		Column: clause.Column{Table: clause.CurrentTable, Name: "account_id"},
		Value:  s.account.ID,
	})
}

// guardScope fails a statement on an account-owned table that was not built
// through Scope.apply: an unscoped query is an error, never "all rows". It
// looks at every table the statement names — its table, a raw table
// expression with aliases or quotes, and its joins — and refuses when any
// of them is account-owned.
func guardScope(db *gorm.DB) {
	if db.Error != nil {
		return
	}
	if _, ok := db.Statement.Get(scopeKey); ok {
		return
	}
	if table, ok := namesAccountOwned(db.Statement); ok {
		_ = db.AddError(fmt.Errorf("%w: %s", ErrUnscoped, table))
	}
}

// namesAccountOwned reports the first account-owned table a statement
// mentions anywhere in its FROM or JOIN text.
func namesAccountOwned(stmt *gorm.Statement) (string, bool) {
	texts := []string{stmt.Table}
	if stmt.TableExpr != nil {
		texts = append(texts, stmt.TableExpr.SQL)
	}
	for _, j := range stmt.Joins {
		texts = append(texts, j.Name)
		if j.Expression != nil {
			if e, ok := j.Expression.(clause.Expr); ok {
				texts = append(texts, e.SQL)
			}
		}
	}
	for _, text := range texts {
		for _, word := range strings.FieldsFunc(strings.ToLower(text), notIdentifier) {
			if accountOwned[word] {
				return word, true
			}
		}
	}
	return "", false
}

func notIdentifier(r rune) bool {
	return !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
}

// guardCreate makes every insert into an account-owned table take its
// account_id from the scope, whatever the struct held.
func guardCreate(db *gorm.DB) {
	if db.Error != nil {
		return
	}
	if _, owned := namesAccountOwned(db.Statement); !owned {
		return
	}
	id, ok := db.Statement.Get(scopeKey)
	if !ok {
		_ = db.AddError(fmt.Errorf("%w: insert into %s", ErrUnscoped, db.Statement.Table))
		return
	}
	if _, isTrusted := id.(trusted); !isTrusted {
		db.Statement.SetColumn("account_id", id)
	}
}

// membershipRow is a membership joined with its account, as one query reads it.
type membershipRow struct {
	Account
	Role Role
}

// loadScope reads the user's membership of the account matching where, in
// one query. An account the user does not belong to, or that does not exist,
// is ErrNotMember.
func loadScope(ctx context.Context, db *gorm.DB, userID int64, where string, arg any) (Scope, error) {
	var row membershipRow
	err := db.WithContext(ctx).Table("accounts").
		Select("accounts.*, memberships.role").
		Joins("JOIN memberships ON memberships.account_id = accounts.id AND memberships.user_id = ?", userID).
		Where(where, arg).
		Take(&row).Error
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
