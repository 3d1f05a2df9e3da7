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
	// AuthMethod is how the session signed in (an AuthMethod).
	AuthMethod AuthMethod
	// SecondFactorPending: the password was right and the second factor is
	// still owed; such a session reaches only the second-factor step.
	SecondFactorPending bool
	Data                string
	IP                  string
	UserAgent           string
	CreatedAt           time.Time
	LastSeenAt          time.Time
	ExpiresAt           time.Time
}

// AuthMethod is how a session signed in.
type AuthMethod string

const (
	AuthPassword     AuthMethod = "password"
	AuthPasswordTOTP AuthMethod = "password+2fa"
	// AuthPasswordPasskey: a password, then a passkey as the second factor.
	AuthPasswordPasskey AuthMethod = "password+passkey"
	// AuthPasskey: a passkey alone (with user verification: a factor the
	// user has and one they know or are).
	AuthPasskey AuthMethod = "passkey"
	AuthSSO     AuthMethod = "sso"
)

// ProvesPassword reports whether signing in this way took the user's
// password.
func (m AuthMethod) ProvesPassword() bool {
	return m == AuthPassword || m == AuthPasswordTOTP || m == AuthPasswordPasskey
}

// Label is the method as the sessions list shows it.
func (m AuthMethod) Label() string {
	switch m {
	case AuthPasswordTOTP:
		return "Password + 2FA"
	case AuthPasswordPasskey:
		return "Password + passkey"
	case AuthPasskey:
		return "Passkey"
	case AuthSSO:
		return "Single sign-on"
	}
	return "Password"
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
		TokenHash: tenancy.HashToken(token), UserID: userID, ActiveAccountID: &accountID, Data: "{}", AuthMethod: AuthPassword,
		IP: truncate(ip, 64), UserAgent: truncate(userAgent, 255),
		CreatedAt: t, LastSeenAt: t, ExpiresAt: t.Add(life.Absolute),
	}
	err := db.WithContext(ctx).Omit("User").Create(&s).Error
	return token, s, err
}

// LoadSession returns the live session for a cookie token, with its user, in
// one query, or none while the scope cache holds it (see
// tenancy.RecallSession). Unknown, expired and idle sessions are
// ErrNotFound.
func LoadSession(ctx context.Context, db *gorm.DB, token string, life SessionLifetime) (Session, error) {
	t := tenancy.Now()
	s, err := tenancy.RecallSession(ctx, db, tenancy.HashToken(token), t, func() (Session, time.Time, error) {
		var s Session
		err := db.WithContext(ctx).Joins("User").
			Where("sessions.token_hash = ? AND sessions.expires_at > ? AND sessions.last_seen_at > ?", tenancy.HashToken(token), t, t.Add(-life.Idle)).
			Take(&s).Error
		until := s.LastSeenAt.Add(life.Idle)
		if s.ExpiresAt.Before(until) {
			until = s.ExpiresAt
		}
		return s, until, err
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Session{}, tenancy.ErrNotFound
	}
	// The caller's own copy: it changes the session as it goes.
	s.ActiveAccountID = clonePtr(s.ActiveAccountID)
	s.SSOAccountID = clonePtr(s.SSOAccountID)
	s.User.EmailVerifiedAt = clonePtr(s.User.EmailVerifiedAt)
	return s, err
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
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
		"active_account_id":     s.ActiveAccountID,
		"active_role":           s.ActiveRole,
		"sso_account_id":        s.SSOAccountID,
		"auth_method":           s.AuthMethod,
		"second_factor_pending": s.SecondFactorPending,
		"data":                  s.Data,
		"last_seen_at":          s.LastSeenAt,
	}
}

// TouchSession records activity so that the idle timeout restarts. Only
// last_seen_at is written, which is no news to the scope cache: this
// process forgets its copy of the session alone, rather than every server
// all of theirs.
func TouchSession(ctx context.Context, db *gorm.DB, s Session, at time.Time) error {
	err := db.WithContext(ctx).Model(&Session{}).Where("id = ?", s.ID).Update("last_seen_at", at).Error
	tenancy.ForgetSession(db, s.TokenHash)
	return err
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

// ListUserSessions returns the user's live, fully signed-in sessions, most
// recently seen first (at most 100).
func ListUserSessions(ctx context.Context, db *gorm.DB, userID int64, life SessionLifetime) ([]Session, error) {
	var out []Session
	t := tenancy.Now()
	err := db.WithContext(ctx).
		Where("user_id = ? AND second_factor_pending = ? AND expires_at > ? AND last_seen_at > ?", userID, false, t, t.Add(-life.Idle)).
		Order("last_seen_at DESC, id DESC").Limit(100).Find(&out).Error
	return out, err
}

// RevokeUserSession ends one of the user's sessions; another user's
// session, or none, is ErrNotFound.
func RevokeUserSession(ctx context.Context, db *gorm.DB, userID, sessionID int64) error {
	res := db.WithContext(ctx).Where("id = ? AND user_id = ?", sessionID, userID).Delete(&Session{})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return tenancy.ErrNotFound
	}
	return nil
}

// RevokeOtherSessions ends every session of the user but keepID, and says
// how many ended.
func RevokeOtherSessions(ctx context.Context, db *gorm.DB, userID, keepID int64) (int64, error) {
	res := db.WithContext(ctx).Where("user_id = ? AND id <> ?", userID, keepID).Delete(&Session{})
	return res.RowsAffected, res.Error
}
