package models_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

func TestSessionRoundTrip(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, personal := dbtest.User(t, db)
		other, otherPersonal := dbtest.User(t, db)
		org := dbtest.Org(t, db, u)

		token, created, err := models.CreateSession(t.Context(), db, u.ID, org.AccountID(), "203.0.113.5", "Firefox", life)
		dbtest.Must(t, err)
		otherToken, _, err := models.CreateSession(t.Context(), db, other.ID, otherPersonal.AccountID(), "203.0.113.6", "Chrome", life)
		dbtest.Must(t, err)
		if token == "" || token == otherToken || created.ID == 0 {
			t.Fatalf("token %q, session %+v", token, created)
		}
		if d := created.ExpiresAt.Sub(created.CreatedAt); d != life.Absolute {
			t.Errorf("session lasts %v, want %v", d, life.Absolute)
		}

		s, err := models.LoadSession(t.Context(), db, token, life)
		dbtest.Must(t, err)
		if s.ID != created.ID || s.UserID != u.ID || s.IP != "203.0.113.5" || s.UserAgent != "Firefox" || s.Data != "{}" {
			t.Errorf("loaded %+v", s)
		}
		if s.ActiveAccountID == nil || *s.ActiveAccountID != org.AccountID() {
			t.Errorf("active account %v, want %d", s.ActiveAccountID, org.AccountID())
		}
		if s.User.ID != u.ID || s.User.Email != u.Email || s.User.Name != u.Name || s.User.PublicID != u.PublicID {
			t.Errorf("session's user %+v, want %+v", s.User, u)
		}
		if !s.ExpiresAt.Equal(created.ExpiresAt) {
			t.Errorf("expires at %v, want %v", s.ExpiresAt, created.ExpiresAt)
		}

		o, err := models.LoadSession(t.Context(), db, otherToken, life)
		dbtest.Must(t, err)
		if o.UserID != other.ID || o.User.ID != other.ID {
			t.Errorf("the other token loads user %d/%d, want %d", o.UserID, o.User.ID, other.ID)
		}

		// SaveSession writes the active account, data and last-seen time.
		s.ActiveAccountID = new(personal.AccountID())
		s.Data = `{"flash":"hi"}`
		s.LastSeenAt = dbtest.UTC()
		dbtest.Must(t, models.SaveSession(t.Context(), db, s))
		s2, err := models.LoadSession(t.Context(), db, token, life)
		dbtest.Must(t, err)
		if *s2.ActiveAccountID != personal.AccountID() || s2.Data != `{"flash":"hi"}` || !s2.LastSeenAt.Equal(s.LastSeenAt) {
			t.Errorf("after SaveSession: %+v", s2)
		}

		dbtest.Must(t, models.DeleteSession(t.Context(), db, s.ID))
		_, err = models.LoadSession(t.Context(), db, token, life)
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		if _, err := models.LoadSession(t.Context(), db, otherToken, life); err != nil {
			t.Fatalf("deleting one session ended another: %v", err)
		}
	})
}

func TestLoadSessionRefusesBadTokens(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, personal := dbtest.User(t, db)
		token, s, err := models.CreateSession(t.Context(), db, u.ID, personal.AccountID(), "", "", life)
		dbtest.Must(t, err)
		cases := map[string]string{
			"empty":           "",
			"another token":   tenancy.NewToken(),
			"the hash itself": s.TokenHash,
			"truncated":       token[:len(token)-1],
			"upper-cased":     strings.ToUpper(token),
			"padded":          " " + token,
		}
		for label, bad := range cases {
			t.Run(label, func(t *testing.T) {
				got, err := models.LoadSession(t.Context(), db, bad, life)
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				if got.ID != 0 || got.User.ID != 0 {
					t.Fatalf("a refused token loaded %+v", got)
				}
			})
		}
	})
}

func TestLoadSessionRefusesExpiredAndIdleSessions(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, personal := dbtest.User(t, db)
		cases := []struct {
			label   string
			columns map[string]any
			live    bool
		}{
			{"fresh", nil, true},
			{"past its absolute expiry", map[string]any{"expires_at": dbtest.UTC().Add(-time.Second)}, false},
			{"at its absolute expiry", map[string]any{"expires_at": dbtest.UTC()}, false},
			{"idle for longer than the timeout", map[string]any{"last_seen_at": dbtest.UTC().Add(-life.Idle - time.Second)}, false},
			{"idle for almost the timeout", map[string]any{"last_seen_at": dbtest.UTC().Add(-life.Idle + time.Minute)}, true},
			{"about to expire", map[string]any{"expires_at": dbtest.UTC().Add(time.Minute)}, true},
		}
		for _, c := range cases {
			t.Run(c.label, func(t *testing.T) {
				token, s, err := models.CreateSession(t.Context(), db, u.ID, personal.AccountID(), "", "", life)
				dbtest.Must(t, err)
				if c.columns != nil {
					dbtest.Must(t, dbtest.Plain(t, db).Model(&models.Session{}).Where("id = ?", s.ID).Updates(c.columns).Error)
				}
				_, err = models.LoadSession(t.Context(), db, token, life)
				if c.live {
					dbtest.Must(t, err)
				} else {
					dbtest.WantIs(t, err, tenancy.ErrNotFound)
				}
			})
		}

		// Activity restarts the idle timeout.
		token, s, err := models.CreateSession(t.Context(), db, u.ID, personal.AccountID(), "", "", life)
		dbtest.Must(t, err)
		dbtest.Must(t, models.TouchSession(t.Context(), db, s, dbtest.UTC().Add(-2*life.Idle)))
		_, err = models.LoadSession(t.Context(), db, token, life)
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		dbtest.Must(t, models.TouchSession(t.Context(), db, s, dbtest.UTC()))
		if _, err := models.LoadSession(t.Context(), db, token, life); err != nil {
			t.Fatalf("a touched session does not load: %v", err)
		}
	})
}

// TestSessionStoresOnlyTheTokenHash: a copy of the sessions table must not
// let anyone sign in.
func TestSessionStoresOnlyTheTokenHash(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, personal := dbtest.User(t, db)
		token, s, err := models.CreateSession(t.Context(), db, u.ID, personal.AccountID(), "192.0.2.1", "agent", life)
		dbtest.Must(t, err)
		sum := sha256.Sum256([]byte(token))
		if want := hex.EncodeToString(sum[:]); s.TokenHash != want || tenancy.HashToken(token) != want {
			t.Fatalf("token hash %q, want SHA-256 hex %q", s.TokenHash, want)
		}
		var rows []map[string]any
		dbtest.Must(t, dbtest.Plain(t, db).Table("sessions").Where("id = ?", s.ID).Find(&rows).Error)
		if len(rows) != 1 {
			t.Fatalf("%d rows", len(rows))
		}
		for col, v := range rows[0] {
			text := fmt.Sprint(v)
			if b, ok := v.([]byte); ok {
				text = string(b)
			}
			if strings.Contains(text, token) {
				t.Errorf("column %s holds the raw token", col)
			}
		}
		if fmt.Sprint(rows[0]["token_hash"]) != s.TokenHash {
			t.Errorf("stored token_hash %v, want %s", rows[0]["token_hash"], s.TokenHash)
		}
	})
}

// TestCreateSessionTruncatesLongClientStrings: the IP and user agent come
// from the client; long ones are cut to their columns' bounds, and cutting
// must not split a UTF-8 character (PostgreSQL refuses invalid UTF-8).
func TestCreateSessionTruncatesLongClientStrings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		label, ip, ua string
	}{
		{"ASCII", strings.Repeat("1", 100), strings.Repeat("a", 400)},
		{"multi-byte user agent cut mid-character", "192.0.2.1", strings.Repeat("a", 254) + "é and more"},
		{"multi-byte IP cut mid-character", strings.Repeat("1", 63) + "é", "agent"},
		{"short user agent holding invalid UTF-8", "192.0.2.1", "Mozilla/5.0 \xff\xfe"},
	}
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, personal := dbtest.User(t, db)
		for _, c := range cases {
			t.Run(c.label, func(t *testing.T) {
				token, _, err := models.CreateSession(t.Context(), db, u.ID, personal.AccountID(), c.ip, c.ua, life)
				dbtest.Must(t, err)
				s, err := models.LoadSession(t.Context(), db, token, life)
				dbtest.Must(t, err)
				if len(s.IP) > 64 || len(s.UserAgent) > 255 {
					t.Errorf("stored IP of %d bytes and user agent of %d", len(s.IP), len(s.UserAgent))
				}
				if !utf8.ValidString(s.IP) || !utf8.ValidString(s.UserAgent) {
					t.Errorf("stored invalid UTF-8: %q / %q", s.IP, s.UserAgent)
				}
				// At most a split character (3 bytes) may be dropped beyond the bound.
				if !utf8.ValidString(c.ua) {
					return // what to keep of invalid input is the implementation's choice
				}
				if !strings.HasPrefix(c.ua, s.UserAgent) || len(s.UserAgent) < min(len(c.ua), 255-3) {
					t.Errorf("user agent %q stored as %q", c.ua, s.UserAgent)
				}
				if !strings.HasPrefix(c.ip, s.IP) || len(s.IP) < min(len(c.ip), 64-3) {
					t.Errorf("IP %q stored as %q", c.ip, s.IP)
				}
			})
		}
	})
}

func TestDeleteExpiredSessions(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, personal := dbtest.User(t, db)
		other, otherPersonal := dbtest.User(t, db)
		mk := func(user models.User, account int64, columns map[string]any) (string, int64) {
			token, s, err := models.CreateSession(t.Context(), db, user.ID, account, "", "", life)
			dbtest.Must(t, err)
			if columns != nil {
				dbtest.Must(t, dbtest.Plain(t, db).Model(&models.Session{}).Where("id = ?", s.ID).Updates(columns).Error)
			}
			return token, s.ID
		}
		liveToken, live := mk(u, personal.AccountID(), nil)
		otherLiveToken, otherLive := mk(other, otherPersonal.AccountID(), map[string]any{"last_seen_at": dbtest.UTC().Add(-life.Idle + time.Minute)})
		_, expired := mk(u, personal.AccountID(), map[string]any{"expires_at": dbtest.UTC().Add(-time.Minute)})
		_, idle := mk(other, otherPersonal.AccountID(), map[string]any{"last_seen_at": dbtest.UTC().Add(-life.Idle - time.Minute)})

		n, err := models.DeleteExpiredSessions(t.Context(), db, life)
		dbtest.Must(t, err)
		if n != 2 {
			t.Errorf("deleted %d sessions, want 2", n)
		}
		for id, want := range map[int64]int64{live: 1, otherLive: 1, expired: 0, idle: 0} {
			if got := dbtest.CountRows(t, db, "sessions", "id = ?", id); got != want {
				t.Errorf("session %d: %d rows, want %d", id, got, want)
			}
		}
		for _, token := range []string{liveToken, otherLiveToken} {
			if _, err := models.LoadSession(t.Context(), db, token, life); err != nil {
				t.Errorf("a live session no longer loads: %v", err)
			}
		}
		n, err = models.DeleteExpiredSessions(t.Context(), db, life)
		dbtest.Must(t, err)
		if n != 0 {
			t.Errorf("second sweep deleted %d sessions, want 0", n)
		}
	})
}

// RotateSession replaces the token of the same session: the old token stops
// working, the new one loads the session with its state and lifetime.
func TestRotateSession(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, u)
		token, created, err := models.CreateSession(t.Context(), db, u.ID, org.AccountID(), "203.0.113.5", "Firefox", life)
		dbtest.Must(t, err)
		otherToken, _, err := models.CreateSession(t.Context(), db, u.ID, org.AccountID(), "203.0.113.6", "Chrome", life)
		dbtest.Must(t, err)
		created.ActiveRole = string(tenancy.RoleAdmin)
		created.Data = `{"flash":"kept"}`
		newToken, rotated, err := models.RotateSession(t.Context(), db, created)
		dbtest.Must(t, err)
		if newToken == "" || newToken == token || rotated.TokenHash != tenancy.HashToken(newToken) || rotated.ID != created.ID {
			t.Fatalf("rotated to %q, %+v", newToken, rotated)
		}
		if _, err := models.LoadSession(t.Context(), db, token, life); err != tenancy.ErrNotFound {
			t.Fatalf("the old token loads a session: %v", err)
		}
		s, err := models.LoadSession(t.Context(), db, newToken, life)
		dbtest.Must(t, err)
		if s.ID != created.ID || s.ActiveRole != string(tenancy.RoleAdmin) || s.Data != `{"flash":"kept"}` ||
			!s.CreatedAt.Equal(created.CreatedAt) || !s.ExpiresAt.Equal(created.ExpiresAt) {
			t.Fatalf("rotated session %+v, want %+v's state", s, created)
		}
		// The user's other sessions are untouched.
		if _, err := models.LoadSession(t.Context(), db, otherToken, life); err != nil {
			t.Fatalf("another session of the user: %v", err)
		}
	})
}
