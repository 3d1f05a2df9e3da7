package models

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
	case !tenancy.Now().Before(k.ExpiresAt):
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
	secret = APIKeyPrefix + tenancy.NewToken() // 256 bits of randomness
	return secret, secret[:len(APIKeyPrefix)+8]
}

func validateKeyName(name string) (string, tenancy.FieldErrors) {
	name = strings.Join(strings.Fields(name), " ")
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return name, tenancy.FieldErrors{"name": "Name the key after where it is used, e.g. “CI pipeline”."}
	case n > 100:
		return name, tenancy.FieldErrors{"name": "The name must be at most 100 characters."}
	}
	if msg := tenancy.NameProblem("The name", name); msg != "" {
		return name, tenancy.FieldErrors{"name": msg}
	}
	return name, nil
}

// CreateAPIKey creates a key for the scope's user in the scope's account.
func CreateAPIKey(ctx context.Context, db *gorm.DB, s tenancy.Scope, name string, ttl time.Duration) (NewAPIKey, error) {
	if err := s.Require(tenancy.CapManageOwnKeys); err != nil {
		return NewAPIKey{}, err
	}
	name, fe := validateKeyName(name)
	if fe != nil {
		return NewAPIKey{}, fe
	}
	secret, prefix := newSecret()
	t := tenancy.Now()
	k := APIKey{PublicID: tenancy.NewObjectID(), UserID: s.UserID(), Name: name, Prefix: prefix, KeyHash: tenancy.HashToken(secret),
		CreatedAt: t, ExpiresAt: t.Add(ttl)}
	err := s.Write(ctx, db, func(tx *gorm.DB) error { return s.Apply(tx).Create(&k).Error })
	return NewAPIKey{APIKey: k, Secret: secret}, err
}

// ownKeys is the scope's user's keys in the scope's account: nobody manages
// another member's keys, administrators included.
func ownKeys(s tenancy.Scope, db *gorm.DB) *gorm.DB {
	return s.Apply(db.Model(&APIKey{})).Where("api_keys.user_id = ?", s.UserID())
}

// ListAPIKeys returns the scope's user's keys in the account, newest first.
func ListAPIKeys(ctx context.Context, db *gorm.DB, s tenancy.Scope) ([]APIKey, error) {
	if err := s.Require(tenancy.CapManageOwnKeys); err != nil {
		return nil, err
	}
	var keys []APIKey
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		return ownKeys(s, tx).Order("created_at DESC, id DESC").Limit(200).Find(&keys).Error
	})
	return keys, err
}

// RegenerateAPIKey replaces a key's secret: the old one stops working at
// once, the new one works for a full term.
func RegenerateAPIKey(ctx context.Context, db *gorm.DB, s tenancy.Scope, publicID string, ttl time.Duration) (NewAPIKey, error) {
	if err := s.Require(tenancy.CapManageOwnKeys); err != nil {
		return NewAPIKey{}, err
	}
	var k APIKey
	secret, prefix := newSecret()
	err := s.Write(ctx, db, func(tx *gorm.DB) error {
		if err := ownKeys(s, tx).Where("public_id = ? AND revoked_at IS NULL", publicID).Take(&k).Error; err != nil {
			return tenancy.NotFound(err)
		}
		t := tenancy.Now()
		k.Prefix, k.KeyHash, k.ExpiresAt, k.LastUsedAt = prefix, tenancy.HashToken(secret), t.Add(ttl), nil
		res := ownKeys(s, tx).Where("id = ? AND revoked_at IS NULL", k.ID).
			Updates(map[string]any{"prefix": k.Prefix, "key_hash": k.KeyHash, "expires_at": k.ExpiresAt, "last_used_at": nil})
		if res.Error == nil && res.RowsAffected == 0 {
			return tenancy.ErrNotFound
		}
		return res.Error
	})
	if err != nil {
		return NewAPIKey{}, err
	}
	return NewAPIKey{APIKey: k, Secret: secret}, nil
}

// RevokeAPIKey stops a key for good.
func RevokeAPIKey(ctx context.Context, db *gorm.DB, s tenancy.Scope, publicID string) (APIKey, error) {
	if err := s.Require(tenancy.CapManageOwnKeys); err != nil {
		return APIKey{}, err
	}
	var k APIKey
	err := s.Write(ctx, db, func(tx *gorm.DB) error {
		if err := ownKeys(s, tx).Where("public_id = ? AND revoked_at IS NULL", publicID).Take(&k).Error; err != nil {
			return tenancy.NotFound(err)
		}
		t := tenancy.Now()
		k.RevokedAt = &t
		return ownKeys(s, tx).Where("id = ?", k.ID).Update("revoked_at", t).Error
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
func revokeMemberCredentials(tx *gorm.DB, s tenancy.Scope, userID int64) error {
	return s.Apply(tx.Model(&APIKey{})).Where("user_id = ? AND revoked_at IS NULL", userID).Update("revoked_at", tenancy.Now()).Error
}

// ErrAPIKeyInvalid: the key is unknown, revoked, expired, or its owner left
// the account.
var ErrAPIKeyInvalid = errors.New("API key is either invalid or expired")

// ScopeForAPIKey authenticates a secret in one indexed query that also
// re-checks its owner's membership, so a key is refused on the very next
// request after revocation or removal (nothing is cached).
func ScopeForAPIKey(ctx context.Context, db *gorm.DB, secret string) (tenancy.KeyScope, error) {
	if !strings.HasPrefix(secret, APIKeyPrefix) || len(secret) > 200 {
		return tenancy.KeyScope{}, ErrAPIKeyInvalid
	}
	var k tenancy.KeyScope
	err := tenancy.System("look up an API key by its secret").Do(ctx, db, func(tx *gorm.DB) error {
		var err error
		k, err = tenancy.ScopeForAPIKeyHash(ctx, tx, tenancy.HashToken(secret))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return tenancy.KeyScope{}, ErrAPIKeyInvalid
	}
	if err != nil {
		return tenancy.KeyScope{}, err
	}
	if k.RefusedForSecondFactor() {
		return tenancy.KeyScope{}, ErrSecondFactorRequired
	}
	return k, nil
}

// ErrSecondFactorRequired: the organization requires a second factor of its
// members and the key's owner has none.
var ErrSecondFactorRequired = errors.New("the organization requires two-factor authentication of its members")

// revokeAllAPIKeys stops every key of a user, in every account: their
// address changed hands (an unverified registration was taken over by its
// real owner).
func revokeAllAPIKeys(tx *gorm.DB, userID int64) error {
	return tenancy.System("revoke every API key of a user whose address changed hands").Tx(tx.Statement.Context, tx, func(tx *gorm.DB) error {
		return tx.Model(&APIKey{}).Where("user_id = ? AND revoked_at IS NULL", userID).Update("revoked_at", tenancy.Now()).Error
	})
}
