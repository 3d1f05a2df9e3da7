// Package scim is SCIM 2.0 provisioning (RFC 7643/7644): an organization's
// identity provider adds, updates and removes its members with a bearer
// token the organization's administrators create. A token acts in its own
// organization only (tenancy.ScopeForSCIMTokenHash); removal does what a
// manual removal does (models.RemoveMemberInTx).
package scim

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"switchboard/models/tenancy"
)

// TokenPrefix starts every SCIM token, so that a leaked one is easy to
// recognise.
const TokenPrefix = "sbscim_"

// Audit actions of SCIM tokens and provisioning.
const (
	AuditTokenCreated tenancy.AuditAction = "scim.token_created"
	AuditTokenRevoked tenancy.AuditAction = "scim.token_revoked"
	AuditProvisioned  tenancy.AuditAction = "scim.user_provisioned"
	AuditUpdated      tenancy.AuditAction = "scim.user_updated"
	AuditReactivated  tenancy.AuditAction = "scim.user_reactivated"
	AuditGroups       tenancy.AuditAction = "scim.admin_group_set"
)

// actor is how the audit log names the identity provider acting through a
// token.
var actor = tenancy.Actor{Name: "SCIM"}

// Token is a bearer token of an organization's identity provider. Only its
// hash is stored.
type Token struct {
	ID          int64
	PublicID    string
	AccountID   int64
	Name        string
	Prefix      string
	TokenHash   string
	CreatedByID *int64
	CreatedAt   time.Time
	RevokedAt   *time.Time
}

// TableName is scim_tokens.
func (Token) TableName() string { return "scim_tokens" }

// NewToken is a token as created: the record and the secret, which exists
// only here and is shown once.
type NewToken struct {
	Token
	Secret string
}

// MaxTokens bounds an organization's live tokens: a few for rotation.
const MaxTokens = 10

func validateTokenName(name string) (string, tenancy.FieldErrors) {
	name = strings.Join(strings.Fields(name), " ")
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return name, tenancy.FieldErrors{"name": "Name the token after the identity provider that uses it, e.g. “Okta”."}
	case n > 100:
		return name, tenancy.FieldErrors{"name": "The name must be at most 100 characters."}
	}
	if msg := tenancy.NameProblem("The name", name); msg != "" {
		return name, tenancy.FieldErrors{"name": msg}
	}
	return name, nil
}

// CreateToken makes a SCIM token for the scope's organization;
// administrators only. Several may be live at once, for rotation.
func CreateToken(ctx context.Context, db *gorm.DB, s tenancy.Scope, name string, by tenancy.Actor) (NewToken, error) {
	if err := s.Require(tenancy.CapManageAccount); err != nil {
		return NewToken{}, err
	}
	if !s.IsOrganization() {
		return NewToken{}, tenancy.ErrNotFound
	}
	name, fe := validateTokenName(name)
	if fe != nil {
		return NewToken{}, fe
	}
	secret := TokenPrefix + tenancy.NewToken()
	user := s.UserID()
	k := Token{PublicID: tenancy.NewObjectID(), Name: name, Prefix: secret[:len(TokenPrefix)+8], TokenHash: tenancy.HashToken(secret),
		CreatedByID: &user, CreatedAt: tenancy.Now()}
	err := s.Write(ctx, db, func(tx *gorm.DB) error {
		if _, err := s.LockAs(tx, tenancy.CapManageAccount); err != nil {
			return err
		}
		var n int64
		if err := s.Apply(tx.Model(&Token{})).Where("revoked_at IS NULL").Count(&n).Error; err != nil {
			return err
		}
		if n >= MaxTokens {
			return tenancy.FieldErrors{"name": "An organization can have at most 10 tokens; revoke one first."}
		}
		if err := s.Apply(tx).Create(&k).Error; err != nil {
			return err
		}
		return tenancy.RecordAudit(tx, s, by, AuditTokenCreated, name, k.Prefix+"…")
	})
	if err != nil {
		return NewToken{}, err
	}
	return NewToken{Token: k, Secret: secret}, nil
}

// ListTokens returns the organization's live tokens, newest first.
func ListTokens(ctx context.Context, db *gorm.DB, s tenancy.Scope) ([]Token, error) {
	if err := s.Require(tenancy.CapManageAccount); err != nil {
		return nil, err
	}
	var ks []Token
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		return s.Apply(tx).Where("revoked_at IS NULL").Order("created_at DESC, id DESC").Limit(MaxTokens).Find(&ks).Error
	})
	return ks, err
}

// RevokeToken stops a token for good: its next request is refused.
func RevokeToken(ctx context.Context, db *gorm.DB, s tenancy.Scope, publicID string, by tenancy.Actor) (Token, error) {
	if err := s.Require(tenancy.CapManageAccount); err != nil {
		return Token{}, err
	}
	var k Token
	err := s.Write(ctx, db, func(tx *gorm.DB) error {
		if _, err := s.LockAs(tx, tenancy.CapManageAccount); err != nil {
			return err
		}
		if err := s.Apply(tx).Where("public_id = ? AND revoked_at IS NULL", publicID).Take(&k).Error; err != nil {
			return tenancy.NotFound(err)
		}
		t := tenancy.Now()
		k.RevokedAt = &t
		if err := s.Apply(tx.Model(&Token{})).Where("id = ?", k.ID).Update("revoked_at", t).Error; err != nil {
			return err
		}
		return tenancy.RecordAudit(tx, s, by, AuditTokenRevoked, k.Name, k.Prefix+"…")
	})
	return k, err
}

// ErrTokenInvalid: the token is unknown or revoked.
var ErrTokenInvalid = errors.New("the SCIM token is invalid or revoked")

// ScopeForToken authenticates a bearer token in one indexed query: the
// scope of its organization, as its identity provider. Nothing is cached: a
// revoked token is refused on its very next request.
func ScopeForToken(ctx context.Context, db *gorm.DB, secret string) (tenancy.SCIMScope, error) {
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) > 200 {
		return tenancy.SCIMScope{}, ErrTokenInvalid
	}
	var k tenancy.SCIMScope
	err := tenancy.System("look up a SCIM token by its secret").Do(ctx, db, func(tx *gorm.DB) error {
		var err error
		k, err = tenancy.ScopeForSCIMTokenHash(ctx, tx, tenancy.HashToken(secret))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return tenancy.SCIMScope{}, ErrTokenInvalid
	}
	return k, err
}
