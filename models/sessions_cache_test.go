package models_test

import (
	"errors"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

var cachedLife = models.SessionLifetime{Idle: time.Hour, Absolute: 24 * time.Hour}

// loadSession loads a session by its token, counting its statements.
func loadSession(t *testing.T, db *gorm.DB, token string, life models.SessionLifetime) (models.Session, int64, error) {
	t.Helper()
	before := tenancy.QueryCount()
	s, err := models.LoadSession(t.Context(), db, token, life)
	return s, tenancy.QueryCount() - before, err
}

// newSession signs a new user in, returning the user and the cookie's token.
func newSession(t *testing.T, db *gorm.DB) (models.User, string) {
	t.Helper()
	u, personal := dbtest.User(t, db)
	token, _, err := models.CreateSession(t.Context(), db, u.ID, personal.AccountID(), "192.0.2.1", "test", cachedLife)
	dbtest.Must(t, err)
	return u, token
}

// wantSessionFromMemory fails unless the session soon loads from memory
// (the news of the test's own writes may still be on its way).
func wantSessionFromMemory(t *testing.T, db *gorm.DB, token string) {
	t.Helper()
	untilFromMemory(t, "loading the session", func() int64 {
		_, n, err := loadSession(t, db, token, cachedLife)
		dbtest.Must(t, err)
		return n
	})
}

// A session loaded once answers from memory while the cache hears the
// database's news; signing out, or a change to the user, made through this
// server is seen by the very next request, with no wait. (Not parallel: it
// counts the process's statements.)
func TestSessionsAnswerFromMemoryUntilAChangeHere(t *testing.T) {
	db := dbtest.Postgres(t)
	watchKeyScopes(t, db)
	u, token := newSession(t, db)
	if s, n, err := loadSession(t, db, token, cachedLife); err != nil || n != 1 || s.User.ID != u.ID {
		t.Fatalf("first load: user %d, %d statements, %v; want user %d, 1, nil", s.User.ID, n, err, u.ID)
	}
	wantSessionFromMemory(t, db, token)

	// The caller's copy is its own, what it points to included.
	s, _, _ := loadSession(t, db, token, cachedLife)
	*s.ActiveAccountID = -1
	s.User.Name = "changed by a caller"
	if again, _, _ := loadSession(t, db, token, cachedLife); *again.ActiveAccountID == -1 || again.User.Name == "changed by a caller" {
		t.Fatal("a caller's change to its session reached the cache")
	}

	dbtest.Must(t, models.RenameUser(t.Context(), db, u.ID, "Renamed Here"))
	if s, _, err := loadSession(t, db, token, cachedLife); err != nil || s.User.Name != "Renamed Here" {
		t.Fatalf("right after renaming: %q, %v", s.User.Name, err)
	}
	wantSessionFromMemory(t, db, token)
	dbtest.Must(t, models.DeleteSession(t.Context(), db, s.ID))
	if _, _, err := loadSession(t, db, token, cachedLife); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("right after signing out: %v, want ErrNotFound", err)
	}
}

// A session kept in memory still ends when it goes idle: the cache keeps
// it no longer than it lives.
func TestSessionsKeptInMemoryStillGoIdle(t *testing.T) {
	t.Parallel()
	db := dbtest.Postgres(t)
	watchKeyScopes(t, db)
	short := models.SessionLifetime{Idle: 400 * time.Millisecond, Absolute: time.Hour}
	u, personal := dbtest.User(t, db)
	token, _, err := models.CreateSession(t.Context(), db, u.ID, personal.AccountID(), "192.0.2.1", "test", short)
	dbtest.Must(t, err)
	for range 3 {
		_, err := models.LoadSession(t.Context(), db, token, short)
		dbtest.Must(t, err)
	}
	time.Sleep(short.Idle)
	if _, err := models.LoadSession(t.Context(), db, token, short); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("an idle session loads: %v, want ErrNotFound", err)
	}
}

// A change made anywhere else (another server, the operator's raw SQL) to
// a session or its user reaches the cache through PostgreSQL's
// notifications.
func TestSessionsHearChangesMadeElsewhere(t *testing.T) {
	t.Parallel()
	db := dbtest.Postgres(t)
	watchKeyScopes(t, db)
	elsewhere := dbtest.Elsewhere(t, db)
	changes := []struct {
		name string
		sql  string
		seen func(s models.Session, err error) bool
	}{
		{"signed out", "DELETE FROM sessions WHERE user_id = ?",
			func(_ models.Session, err error) bool { return errors.Is(err, tenancy.ErrNotFound) }},
		{"expired", "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = ?",
			func(_ models.Session, err error) bool { return errors.Is(err, tenancy.ErrNotFound) }},
		{"user renamed", "UPDATE users SET name = 'Renamed elsewhere' WHERE id = ?",
			func(s models.Session, err error) bool { return err == nil && s.User.Name == "Renamed elsewhere" }},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			u, token := newSession(t, db)
			for range 2 { // the second from memory, once the news of the sign-in is in
				_, err := models.LoadSession(t.Context(), db, token, cachedLife)
				dbtest.Must(t, err)
			}
			dbtest.Must(t, elsewhere.Exec(c.sql, u.ID).Error)
			untilSeen(t, c.name, func() (bool, error) {
				s, err := models.LoadSession(t.Context(), db, token, cachedLife)
				if c.seen(s, err) {
					return true, nil
				}
				return false, err
			})
		})
	}
}

// When its channel is down the cache does not answer sessions: a sign-out
// nobody hears of is seen by the very next request.
func TestSessionsFailClosedWhileTheChannelIsDown(t *testing.T) {
	db := dbtest.Postgres(t)
	watchKeyScopes(t, db)
	u, token := newSession(t, db)
	for range 2 {
		_, err := models.LoadSession(t.Context(), db, token, cachedLife)
		dbtest.Must(t, err)
	}
	cutOffNews(t, db)
	changeUnheard(t, db, func(tx *gorm.DB) error { return tx.Exec("DELETE FROM sessions WHERE user_id = ?", u.ID).Error })
	if _, n, err := loadSession(t, db, token, cachedLife); n != 1 || !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("load while the channel is down, after signing out: %d statements, %v; want 1 (from the database), ErrNotFound", n, err)
	}
}
