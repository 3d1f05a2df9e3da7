package models

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"switchboard/models/tenancy"
)

// Session is a signed-in browser. The cookie carries a random token; the
// database keeps only its hash.
type Session struct {
	ID              int64
	TokenHash       string
	UserID          int64
	User            User
	ActiveAccountID *int64
	// ActiveRole is the role the session last acted with in its active
	// account ("" until known); a change gives the session a new token.
	ActiveRole string
	// SSOAccountID is the organization whose IdP signed this session in.
	SSOAccountID *int64 `gorm:"column:sso_account_id"`
	Data         string
	IP           string
	UserAgent    string
	CreatedAt    time.Time
	LastSeenAt   time.Time
	ExpiresAt    time.Time
}

// SessionLifetime bounds a session: Idle without a request ends it, and so
// does Absolute after sign-in, whatever the activity.
type SessionLifetime struct {
	Idle     time.Duration
	Absolute time.Duration
}

// CreateSession starts a session for the user in the given account and
// returns the token for the cookie.
func CreateSession(ctx context.Context, db *gorm.DB, userID, accountID int64, ip, userAgent string, life SessionLifetime) (string, Session, error) {
	token := tenancy.NewToken()
	t := tenancy.Now()
	s := Session{
		TokenHash: tenancy.HashToken(token), UserID: userID, ActiveAccountID: &accountID, Data: "{}",
		IP: truncate(ip, 64), UserAgent: truncate(userAgent, 255),
		CreatedAt: t, LastSeenAt: t, ExpiresAt: t.Add(life.Absolute),
	}
	err := db.WithContext(ctx).Omit("User").Create(&s).Error
	return token, s, err
}

// LoadSession returns the live session for a cookie token, with its user, in
// one query. Unknown, expired and idle sessions are ErrNotFound.
func LoadSession(ctx context.Context, db *gorm.DB, token string, life SessionLifetime) (Session, error) {
	var s Session
	t := tenancy.Now()
	err := db.WithContext(ctx).Joins("User").
		Where("sessions.token_hash = ? AND sessions.expires_at > ? AND sessions.last_seen_at > ?", tenancy.HashToken(token), t, t.Add(-life.Idle)).
		Take(&s).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Session{}, tenancy.ErrNotFound
	}
	return s, err
}

// SaveSession writes the session's active account and role, data and
// last-seen time.
func SaveSession(ctx context.Context, db *gorm.DB, s Session) error {
	return db.WithContext(ctx).Model(&Session{}).Where("id = ?", s.ID).Updates(sessionState(s)).Error
}

// RotateSession writes what SaveSession does and gives the session a new
// token, returned for the cookie: the old one stops working at once, while
// the session keeps its row, data and lifetime.
func RotateSession(ctx context.Context, db *gorm.DB, s Session) (string, Session, error) {
	token := tenancy.NewToken()
	s.TokenHash = tenancy.HashToken(token)
	state := sessionState(s)
	state["token_hash"] = s.TokenHash
	err := db.WithContext(ctx).Model(&Session{}).Where("id = ?", s.ID).Updates(state).Error
	return token, s, err
}

func sessionState(s Session) map[string]any {
	return map[string]any{
		"active_account_id": s.ActiveAccountID,
		"active_role":       s.ActiveRole,
		"sso_account_id":    s.SSOAccountID,
		"data":              s.Data,
		"last_seen_at":      s.LastSeenAt,
	}
}

// TouchSession records activity so that the idle timeout restarts.
func TouchSession(ctx context.Context, db *gorm.DB, id int64, at time.Time) error {
	return db.WithContext(ctx).Model(&Session{}).Where("id = ?", id).Update("last_seen_at", at).Error
}

// DeleteSession ends a session.
func DeleteSession(ctx context.Context, db *gorm.DB, id int64) error {
	return db.WithContext(ctx).Where("id = ?", id).Delete(&Session{}).Error
}

// DeleteExpiredSessions removes sessions past their absolute or idle expiry.
func DeleteExpiredSessions(ctx context.Context, db *gorm.DB, life SessionLifetime) (int64, error) {
	t := tenancy.Now()
	res := db.WithContext(ctx).Where("expires_at <= ? OR last_seen_at <= ?", t, t.Add(-life.Idle)).Delete(&Session{})
	return res.RowsAffected, res.Error
}

// deleteUserSessions ends every session of the user except keepID (0 keeps none).
func deleteUserSessions(tx *gorm.DB, userID, keepID int64) error {
	return tx.Where("user_id = ? AND id <> ?", userID, keepID).Delete(&Session{}).Error
}

// truncate keeps at most n bytes of valid UTF-8 (PostgreSQL refuses
// anything else), cutting on a character boundary.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
