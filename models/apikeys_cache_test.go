package models_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

var discardLog = slog.New(slog.DiscardHandler)

// watchKeyScopes keeps db's key cache informed, as a server does, until the
// test ends, and waits until it answers.
func watchKeyScopes(t *testing.T, db *gorm.DB) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tenancy.WatchKeyScopes(ctx, db, discardLog); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	waitForKeyCache(t, db, true)
}

// hearNews keeps db's caches informed as a server does, and says whether
// db is PostgreSQL: there they listen (watchKeyScopes); on SQLite they read
// their counters themselves.
func hearNews(t *testing.T, db *gorm.DB) (pg bool) {
	t.Helper()
	if tenancy.DialectOfDB(db) != tenancy.Postgres {
		return false
	}
	watchKeyScopes(t, db)
	return true
}

// waitForKeyCache waits until db's key cache answers (or stops answering).
func waitForKeyCache(t *testing.T, db *gorm.DB, live bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if tenancy.KeyCacheStatsOf(db).Live == live {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("key cache live = %v after 10 s, want %v", !live, live)
		}
	}
}

// lookUp looks a key up, counting its statements.
func lookUp(t *testing.T, db *gorm.DB, secret string) (int64, error) {
	t.Helper()
	before := tenancy.QueryCount()
	_, err := models.ScopeForAPIKey(t.Context(), db, secret)
	return tenancy.QueryCount() - before, err
}

// untilFromMemory fails unless a read soon goes no further than memory
// (cost returns its statements, or its cache misses): the news of the
// test's own writes may still be on its way, and flush what an earlier read
// kept.
func untilFromMemory(t *testing.T, what string, cost func() int64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		n := cost()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still read the database (%d statements or misses) after 5 s; want them from memory", what, n)
		}
	}
}

// wantFromMemory fails unless the key soon answers from memory.
func wantFromMemory(t *testing.T, db *gorm.DB, secret string) {
	t.Helper()
	untilFromMemory(t, "a look-up", func() int64 {
		n, err := lookUp(t, db, secret)
		dbtest.Must(t, err)
		return n
	})
}

// untilSeen waits until seen reports a change made elsewhere a moment ago,
// and logs how long its news took; it fails on seen's error or after 5 s.
func untilSeen(t *testing.T, what string, seen func() (bool, error)) {
	t.Helper()
	changed := time.Now()
	for {
		ok, err := seen()
		if ok {
			t.Logf("seen %v after the change committed", time.Since(changed))
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Since(changed) > 5*time.Second {
			t.Fatalf("still not seen 5 s after %s elsewhere", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// cutOffNews ends the connection db's cache hears its news on, and waits
// until the cache stops answering.
func cutOffNews(t *testing.T, db *gorm.DB) {
	t.Helper()
	dbtest.Must(t, dbtest.Elsewhere(t, db).Exec("SELECT pg_terminate_backend(?)", tenancy.KeyCacheStatsOf(db).Listener).Error)
	waitForKeyCache(t, db, false)
}

// changeUnheard makes a change elsewhere whose news is lost: the triggers
// are off for its transaction.
func changeUnheard(t *testing.T, db *gorm.DB, change func(tx *gorm.DB) error) {
	t.Helper()
	dbtest.Must(t, dbtest.Elsewhere(t, db).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("SET LOCAL session_replication_role = replica").Error; err != nil {
			return err
		}
		return change(tx)
	}))
}

// A key read once answers from memory while the cache hears the database's
// news, and a change made through this server is seen by the very next
// look-up, with no wait. (Not parallel: it counts the process's statements.)
func TestKeyCacheAnswersFromMemoryUntilAChangeHere(t *testing.T) {
	db := dbtest.Postgres(t)
	watchKeyScopes(t, db)
	f := dbtest.NewOrgFixture(t, db)
	k := dbtest.NewAPIKey(t, db, f.Member, "cached")

	if n, err := lookUp(t, db, k.Secret); err != nil || n != 1 {
		t.Fatalf("first look-up: %d statements, %v; want 1, nil", n, err)
	}
	wantFromMemory(t, db, k.Secret)
	_, err := models.RevokeAPIKey(t.Context(), db, f.Member, k.PublicID)
	dbtest.Must(t, err)
	if _, err := lookUp(t, db, k.Secret); !errors.Is(err, models.ErrAPIKeyInvalid) {
		t.Fatalf("look-up right after revoking: %v, want ErrAPIKeyInvalid", err)
	}
}

// A change made anywhere else (another server, the operator's raw SQL) to
// any table a key's scope is read from reaches the cache through
// PostgreSQL's notifications.
func TestKeyCacheHearsChangesMadeElsewhere(t *testing.T) {
	t.Parallel()
	db := dbtest.Postgres(t)
	watchKeyScopes(t, db)
	elsewhere := dbtest.Elsewhere(t, db)
	changes := []struct {
		name string
		sql  string
		want error
	}{
		{"key revoked", "UPDATE api_keys SET revoked_at = now() WHERE id = ?", models.ErrAPIKeyInvalid},
		{"key expired", "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = ?", models.ErrAPIKeyInvalid},
		{"owner removed", "DELETE FROM memberships WHERE user_id = (SELECT user_id FROM api_keys WHERE id = ?) AND account_id = (SELECT account_id FROM api_keys WHERE id = ?)", models.ErrAPIKeyInvalid},
		{"policy turned on", "UPDATE accounts SET require_2fa = TRUE WHERE id = (SELECT account_id FROM api_keys WHERE id = ?)", models.ErrSecondFactorRequired},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			f := dbtest.NewOrgFixture(t, db)
			k := dbtest.NewAPIKey(t, db, f.Member, c.name)
			for range 2 { // the second from memory
				if _, err := models.ScopeForAPIKey(t.Context(), db, k.Secret); err != nil {
					t.Fatal(err)
				}
			}
			args := []any{k.ID}
			if c.name == "owner removed" {
				args = append(args, k.ID)
			}
			dbtest.Must(t, elsewhere.Exec(c.sql, args...).Error)
			untilSeen(t, c.name, func() (bool, error) {
				_, err := models.ScopeForAPIKey(t.Context(), db, k.Secret)
				if errors.Is(err, c.want) {
					return true, nil
				}
				return false, err
			})
		})
	}
}

// When its channel is down the cache does not answer: every look-up reads
// the database, so a change nobody hears of still counts. Once the
// listener is back, it starts over empty.
func TestKeyCacheFailsClosedWhileItsChannelIsDown(t *testing.T) {
	db := dbtest.Postgres(t)
	watchKeyScopes(t, db)
	f := dbtest.NewOrgFixture(t, db)
	k := dbtest.NewAPIKey(t, db, f.Member, "cut off")
	for range 2 {
		_, err := models.ScopeForAPIKey(t.Context(), db, k.Secret)
		dbtest.Must(t, err)
	}
	cutOffNews(t, db)

	if n, err := lookUp(t, db, k.Secret); err != nil || n != 1 {
		t.Fatalf("look-up while the channel is down: %d statements, %v; want 1 (from the database), nil", n, err)
	}
	changeUnheard(t, db, func(tx *gorm.DB) error {
		return tx.Exec("UPDATE api_keys SET revoked_at = now() WHERE id = ?", k.ID).Error
	})
	if _, err := lookUp(t, db, k.Secret); !errors.Is(err, models.ErrAPIKeyInvalid) {
		t.Fatalf("look-up while the channel is down, after revoking: %v, want ErrAPIKeyInvalid", err)
	}

	waitForKeyCache(t, db, true)
	other := dbtest.NewAPIKey(t, db, f.Member, "after")
	wantFromMemory(t, db, other.Secret)
}

// On SQLite the cache hears of every change committed to its tables, by
// any connection of any process (the operator's commands), before it
// answers (the counter of scope_cache_news): a key, a session and
// memberships answer from memory, a write to another table (the rate
// limiter's) leaves them there, and a change made elsewhere is seen by the
// very next read.
// (Not parallel: it counts the process's statements.)
func TestScopeCacheOnSQLiteHearsEveryConnection(t *testing.T) {
	db := dbtest.SQLite(t)
	elsewhere := dbtest.Elsewhere(t, db)
	f := dbtest.NewOrgFixture(t, db)
	k := dbtest.NewAPIKey(t, db, f.Member, "kept")
	for i, want := range []int64{1, 0} {
		if n, err := lookUp(t, db, k.Secret); err != nil || n != want {
			t.Fatalf("look-up %d: %d statements, %v; want %d, nil", i+1, n, err, want)
		}
	}
	dbtest.Must(t, elsewhere.Exec("INSERT INTO rate_windows (account_id, minute_start, minute_count, day_start, day_count) VALUES (?, 0, 1, 0, 1)", f.Member.AccountID()).Error)
	if n, err := lookUp(t, db, k.Secret); err != nil || n != 0 {
		t.Fatalf("look-up after a write to another table: %d statements, %v; want 0, nil", n, err)
	}
	dbtest.Must(t, elsewhere.Exec("UPDATE api_keys SET revoked_at = ? WHERE id = ?", time.Now().UTC(), k.ID).Error)
	if _, err := lookUp(t, db, k.Secret); !errors.Is(err, models.ErrAPIKeyInvalid) {
		t.Fatalf("look-up right after a revocation elsewhere: %v, want ErrAPIKeyInvalid", err)
	}

	user := f.MemberUser.ID
	for i, want := range []int64{1, 0} {
		if m, n := membershipsOf(t, db, user); n != want || !has(m, f.Member) {
			t.Fatalf("memberships %d: %d statements, in the organization %v; want %d, true", i+1, n, has(m, f.Member), want)
		}
	}
	dbtest.Must(t, elsewhere.Exec("DELETE FROM memberships WHERE user_id = ? AND account_id = ?", user, f.Member.AccountID()).Error)
	if m, _ := membershipsOf(t, db, user); has(m, f.Member) {
		t.Fatal("right after a removal elsewhere, the memberships still hold the organization")
	}

	_, token := newSession(t, db)
	for i, want := range []int64{1, 0} {
		if _, n, err := loadSession(t, db, token, cachedLife); err != nil || n != want {
			t.Fatalf("session %d: %d statements, %v; want %d, nil", i+1, n, err, want)
		}
	}
	dbtest.Must(t, elsewhere.Exec("DELETE FROM sessions").Error)
	if _, _, err := loadSession(t, db, token, cachedLife); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("right after signing out elsewhere: %v, want ErrNotFound", err)
	}
}
