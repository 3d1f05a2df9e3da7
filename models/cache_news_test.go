package models_test

import (
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
	"switchboard/models/usage"
)

// cacheMisses counts db's scope cache's misses, of every kind.
func cacheMisses(db *gorm.DB) int64 {
	s := tenancy.KeyCacheStatsOf(db)
	return s.Misses + s.SessionMisses + s.MembershipMisses
}

// untilKept waits until lookUps, run again, all answer from db's scope
// cache (the news of the test's own writes may still be on its way). It
// counts db's misses rather than the process's statements, so that tests
// using it may run in parallel.
func untilKept(t *testing.T, db *gorm.DB, lookUps func()) {
	t.Helper()
	untilFromMemory(t, "the look-ups", func() int64 {
		before := cacheMisses(db)
		lookUps()
		return cacheMisses(db) - before
	})
}

// Recording that a session or an API key was used is no news to the scope
// cache (tenancy's quietColumns): touching a session forgets this server's
// copy of that session alone, and the usage recorder's batch, which
// records when keys were last used, forgets nothing; neither empties
// another server's cache (PostgreSQL's notifications, SQLite's counter).
// A write unit that writes no table the cache is read from (an index)
// leaves it as it is, and one that does empties it before it returns.
func TestRecordingUseIsNoNews(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		pg := hearNews(t, db)
		f := dbtest.NewOrgFixture(t, db)
		k := dbtest.NewAPIKey(t, db, f.Member, "used")
		_, touchedToken := newSession(t, db)
		_, keptToken := newSession(t, db)
		var touched models.Session
		var key tenancy.KeyScope
		lookUps := func() {
			var err error
			touched, err = models.LoadSession(t.Context(), db, touchedToken, cachedLife)
			dbtest.Must(t, err)
			_, err = models.LoadSession(t.Context(), db, keptToken, cachedLife)
			dbtest.Must(t, err)
			key, err = models.ScopeForAPIKey(t.Context(), db, k.Secret)
			dbtest.Must(t, err)
			_, err = tenancy.MembershipsOf(t.Context(), db, f.MemberUser.ID)
			dbtest.Must(t, err)
		}
		untilKept(t, db, lookUps)
		flushes := tenancy.KeyCacheStatsOf(db).Flushes

		at := time.Now().UTC().Truncate(time.Microsecond)
		dbtest.Must(t, models.TouchSession(t.Context(), db, touched, at))
		rec := usage.NewUsageRecorder(db, discardLog, time.Hour)
		rec.RecordRequest(key, "indexes", at)
		dbtest.Must(t, rec.Flush(t.Context()))
		_, err := models.CreateIndex(t.Context(), db, f.Member, dbtest.IndexInput("Written", "private"))
		dbtest.Must(t, err)

		before := cacheMisses(db)
		s, err := models.LoadSession(t.Context(), db, touchedToken, cachedLife)
		dbtest.Must(t, err)
		if !s.LastSeenAt.Equal(at) {
			t.Errorf("the touched session loads as last seen at %v, want %v", s.LastSeenAt, at)
		}
		if n := cacheMisses(db) - before; n != 1 {
			t.Errorf("loading the touched session missed the cache %d times, want 1 (its copy forgotten)", n)
		}
		lookUps()
		if n := cacheMisses(db) - before; n != 1 {
			t.Errorf("after a touch, a batch of usage and an index, %d look-ups missed the cache, want only the touched session's", n)
		}
		if pg {
			// Notifications come in the order their transactions committed:
			// once a change made elsewhere after the writes above has been
			// heard, any news of theirs has been too.
			dbtest.Must(t, dbtest.Elsewhere(t, db).Exec("UPDATE users SET name = name WHERE id = ?", f.Member2User.ID).Error)
			untilSeen(t, "a rename", func() (bool, error) { return tenancy.KeyCacheStatsOf(db).Flushes > flushes, nil })
			flushes++
		}
		if got := tenancy.KeyCacheStatsOf(db).Flushes; got != flushes {
			t.Errorf("the cache was emptied %d times by recording use and writing an index, want 0", got-flushes)
		}
		var lastUsed *time.Time
		dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT last_used_at FROM api_keys WHERE id = ?", k.ID).Scan(&lastUsed).Error)
		if lastUsed == nil || !lastUsed.Equal(at) {
			t.Errorf("the key's last use is %v, want %v", lastUsed, at)
		}

		// A write of news empties the cache before it returns, in a
		// statement of its own, in a unit of work, or as raw SQL read
		// through rows in a transaction. (On SQLite, where nothing else
		// empties it meanwhile: PostgreSQL's notifications are on their
		// way.)
		if pg {
			return
		}
		newsWrites := []struct {
			name  string
			write func() error
		}{
			{"renaming a user", func() error { return models.RenameUser(t.Context(), db, f.MemberUser.ID, "Renamed") }},
			{"removing a member", func() error {
				_, err := models.RemoveMember(t.Context(), db, f.Admin, f.Member2User.PublicID, dbtest.ActorOf(f.AdminUser))
				return err
			}},
			{"UPDATE … RETURNING in a transaction", func() error {
				return tenancy.System("a test writes users through rows").Tx(t.Context(), db, func(tx *gorm.DB) error {
					var id int64
					return tx.Raw("UPDATE users SET name = 'Returned' WHERE id = ? RETURNING id", f.MemberUser.ID).Scan(&id).Error
				})
			}},
			{"UPDATE … RETURNING into a model's rows, in a transaction", func() error {
				return tenancy.System("a test writes memberships through rows").Tx(t.Context(), db, func(tx *gorm.DB) error {
					var changed []tenancy.Membership
					return tx.Raw("UPDATE memberships SET role = role WHERE user_id = ? RETURNING *", f.MemberUser.ID).Find(&changed).Error
				})
			}},
		}
		for _, w := range newsWrites {
			before := tenancy.KeyCacheStatsOf(db).Flushes
			dbtest.Must(t, w.write())
			if tenancy.KeyCacheStatsOf(db).Flushes == before {
				t.Errorf("%s left the cache as it was", w.name)
			}
		}
	})
}
