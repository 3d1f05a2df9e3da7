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
)

// APIKeyPrefix starts every key, so that leaked keys are easy to recognise
// (secret scanners look for such prefixes).
const APIKeyPrefix = "sbk_"

// DefaultAPIKeyTTL is how long a key works after it is created or regenerated.
const DefaultAPIKeyTTL = 90 * 24 * time.Hour

// APIKey belongs to a user in one account: the same person has other keys
// in their other accounts. Only the key's hash is stored.
type APIKey struct {
	ID         int64
	PublicID   string
	AccountID  int64
	UserID     int64
	Name       string
	Prefix     string
	KeyHash    string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// TableName is api_keys.
func (APIKey) TableName() string { return "api_keys" }

// APIKeyStatus is where a key stands.
type APIKeyStatus string

const (
	KeyActive  APIKeyStatus = "active"
	KeyExpired APIKeyStatus = "expired"
	KeyRevoked APIKeyStatus = "revoked"
)

// Status says whether the key works, and if not why.
func (k APIKey) Status() APIKeyStatus {
	switch {
	case k.RevokedAt != nil:
		return KeyRevoked
	case !now().Before(k.ExpiresAt):
		return KeyExpired
	}
	return KeyActive
}

// NewAPIKey is a key as created: the record and the secret, which exists
// only here and is shown to its owner once.
type NewAPIKey struct {
	APIKey
	Secret string
}

func newSecret() (secret, prefix string) {
	secret = APIKeyPrefix + NewToken() // 256 bits of randomness
	return secret, secret[:len(APIKeyPrefix)+8]
}

func validateKeyName(name string) (string, FieldErrors) {
	name = strings.Join(strings.Fields(name), " ")
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return name, FieldErrors{"name": "Name the key after where it is used, e.g. “CI pipeline”."}
	case n > 100:
		return name, FieldErrors{"name": "The name must be at most 100 characters."}
	}
	if msg := nameProblem("The name", name); msg != "" {
		return name, FieldErrors{"name": msg}
	}
	return name, nil
}

// CreateAPIKey creates a key for the scope's user in the scope's account.
func CreateAPIKey(ctx context.Context, db *gorm.DB, s Scope, name string, ttl time.Duration) (NewAPIKey, error) {
	if err := s.require(CapManageOwnKeys); err != nil {
		return NewAPIKey{}, err
	}
	name, fe := validateKeyName(name)
	if fe != nil {
		return NewAPIKey{}, fe
	}
	secret, prefix := newSecret()
	t := now()
	k := APIKey{PublicID: newObjectID(), UserID: s.userID, Name: name, Prefix: prefix, KeyHash: HashToken(secret),
		CreatedAt: t, ExpiresAt: t.Add(ttl)}
	err := s.write(ctx, db, func(tx *gorm.DB) error { return s.apply(tx).Create(&k).Error })
	return NewAPIKey{APIKey: k, Secret: secret}, err
}

// ownKeys is the scope's user's keys in the scope's account: nobody manages
// another member's keys, administrators included.
func (s Scope) ownKeys(db *gorm.DB) *gorm.DB {
	return s.apply(db.Model(&APIKey{})).Where("api_keys.user_id = ?", s.userID)
}

// ListAPIKeys returns the scope's user's keys in the account, newest first.
func ListAPIKeys(ctx context.Context, db *gorm.DB, s Scope) ([]APIKey, error) {
	if err := s.require(CapManageOwnKeys); err != nil {
		return nil, err
	}
	var keys []APIKey
	err := s.read(ctx, db, func(tx *gorm.DB) error {
		return s.ownKeys(tx).Order("created_at DESC, id DESC").Limit(200).Find(&keys).Error
	})
	return keys, err
}

// RegenerateAPIKey replaces a key's secret: the old one stops working at
// once, the new one works for a full term.
func RegenerateAPIKey(ctx context.Context, db *gorm.DB, s Scope, publicID string, ttl time.Duration) (NewAPIKey, error) {
	if err := s.require(CapManageOwnKeys); err != nil {
		return NewAPIKey{}, err
	}
	var k APIKey
	secret, prefix := newSecret()
	err := s.write(ctx, db, func(tx *gorm.DB) error {
		if err := s.ownKeys(tx).Where("public_id = ? AND revoked_at IS NULL", publicID).Take(&k).Error; err != nil {
			return notFound(err)
		}
		t := now()
		k.Prefix, k.KeyHash, k.ExpiresAt, k.LastUsedAt = prefix, HashToken(secret), t.Add(ttl), nil
		res := s.ownKeys(tx).Where("id = ? AND revoked_at IS NULL", k.ID).
			Updates(map[string]any{"prefix": k.Prefix, "key_hash": k.KeyHash, "expires_at": k.ExpiresAt, "last_used_at": nil})
		if res.Error == nil && res.RowsAffected == 0 {
			return ErrNotFound
		}
		return res.Error
	})
	if err != nil {
		return NewAPIKey{}, err
	}
	return NewAPIKey{APIKey: k, Secret: secret}, nil
}

// RevokeAPIKey stops a key for good.
func RevokeAPIKey(ctx context.Context, db *gorm.DB, s Scope, publicID string) (APIKey, error) {
	if err := s.require(CapManageOwnKeys); err != nil {
		return APIKey{}, err
	}
	var k APIKey
	err := s.write(ctx, db, func(tx *gorm.DB) error {
		if err := s.ownKeys(tx).Where("public_id = ? AND revoked_at IS NULL", publicID).Take(&k).Error; err != nil {
			return notFound(err)
		}
		t := now()
		k.RevokedAt = &t
		return s.ownKeys(tx).Where("id = ?", k.ID).Update("revoked_at", t).Error
	})
	if err != nil {
		return APIKey{}, err
	}
	return k, nil
}

// revokeMemberCredentials ends every credential a departing member holds for
// the scope's account, in the transaction that removes them: their API
// keys. (Their sessions are not per account: the next request re-checks
// the membership.)
func revokeMemberCredentials(tx *gorm.DB, s Scope, userID int64) error {
	return s.apply(tx.Model(&APIKey{})).Where("user_id = ? AND revoked_at IS NULL", userID).Update("revoked_at", now()).Error
}

// ErrAPIKeyInvalid: the key is unknown, revoked, expired, or its owner left
// the account.
var ErrAPIKeyInvalid = errors.New("API key is either invalid or expired")

// KeyScope is what an API request acts as: the scope of the key's owner in
// the key's account, and the key itself.
type KeyScope struct {
	Scope
	KeyID int64
}

// keyScopeSQL reads a live key with its owner's membership and the whole
// account row: every column of Account, in order, then the key's.
var keyScopeSQL = newHotSQL(`SELECT accounts.id, accounts.public_id, accounts.kind, accounts.name, accounts.slug, accounts.plan,
	accounts.rate_per_minute, accounts.rate_per_day, accounts.sso_enforced, accounts.created_by_id, accounts.created_at, accounts.updated_at,
	api_keys.id, api_keys.user_id, memberships.role
FROM api_keys
JOIN memberships ON memberships.account_id = api_keys.account_id AND memberships.user_id = api_keys.user_id
JOIN accounts ON accounts.id = api_keys.account_id
WHERE api_keys.key_hash = ? AND api_keys.revoked_at IS NULL AND api_keys.expires_at > ?`)

// ScopeForAPIKey authenticates a secret in one indexed query that also
// re-checks its owner's membership, so a key is refused on the very next
// request after revocation or removal (nothing is cached).
func ScopeForAPIKey(ctx context.Context, db *gorm.DB, secret string) (KeyScope, error) {
	if !strings.HasPrefix(secret, APIKeyPrefix) || len(secret) > 200 {
		return KeyScope{}, ErrAPIKeyInvalid
	}
	var k KeyScope
	a := &k.account
	err := System("look up an API key by its secret").Do(ctx, db, func(tx *gorm.DB) error {
		return keyScopeSQL.scanRow(ctx, tx, []any{HashToken(secret), now()},
			&a.ID, &a.PublicID, &a.Kind, &a.Name, &a.Slug, &a.Plan, &a.RatePerMinute, &a.RatePerDay, &a.SSOEnforced, &a.CreatedByID,
			&a.CreatedAt, &a.UpdatedAt, &k.KeyID, &k.userID, &k.role)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return KeyScope{}, ErrAPIKeyInvalid
	}
	if err != nil {
		return KeyScope{}, err
	}
	return k, nil
}

// touchAPIKeys records when keys were last used; called in batches, through
// the system door (tx).
func touchAPIKeys(tx *gorm.DB, used map[int64]time.Time) error {
	for id, at := range used {
		if err := tx.Model(&APIKey{}).Where("id = ? AND (last_used_at IS NULL OR last_used_at < ?)", id, at).
			Update("last_used_at", at).Error; err != nil {
			return fmt.Errorf("touch api key %d: %w", id, err)
		}
	}
	return nil
}
