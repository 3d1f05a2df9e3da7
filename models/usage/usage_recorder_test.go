package usage_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models/dbtest"
	"switchboard/models/usage"
)

// logCounter counts the records logged at Error.
type logCounter struct {
	mu     sync.Mutex
	errors []string
}

func (l *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logCounter) WithGroup(string) slog.Handler            { return l }
func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		l.mu.Lock()
		l.errors = append(l.errors, r.Message)
		l.mu.Unlock()
	}
	return nil
}

func (l *logCounter) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.errors)
}

// A recorder that nothing flushes stops growing at its bound: what comes
// after is dropped and counted, and each such episode is logged once.
func TestUsageRecorderIsBounded(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		admin := keyScope(t, db, dbtest.NewAPIKey(t, db, f.Admin, "admin"))
		logs := &logCounter{}
		rec := usage.NewUsageRecorder(db, slog.New(logs), time.Hour)
		usage.SetMaxPendingUsage(rec, 3)
		t0 := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
		for i := range 10 {
			rec.RecordRequest(admin, "indexes", t0.Add(time.Duration(i)*time.Second))
		}
		if got := rec.Dropped(); got != 7 {
			t.Errorf("dropped %d, want 7", got)
		}
		if got := logs.count(); got != 1 {
			t.Errorf("%d errors logged for one overflow, want 1", got)
		}
		dbtest.Must(t, rec.Flush(t.Context()))
		if evs := usageEvents(t, db); len(evs) != 3 {
			t.Fatalf("%d events written, want the 3 kept", len(evs))
		}
		// The key's last use is still the latest request's.
		if k := dbtest.RawAPIKey(t, db, admin.KeyID); k.LastUsedAt == nil || !k.LastUsedAt.Equal(t0.Add(9*time.Second)) {
			t.Errorf("key last used %v, want %v", k.LastUsedAt, t0.Add(9*time.Second))
		}
		// Room again: recording resumes; a new overflow is a new episode.
		for i := range 5 {
			rec.RecordRequest(admin, "indexes", t0.Add(time.Minute+time.Duration(i)*time.Second))
		}
		if got := rec.Dropped(); got != 9 {
			t.Errorf("dropped %d in all, want 9", got)
		}
		if got := logs.count(); got != 2 {
			t.Errorf("%d errors logged for two overflows, want 2", got)
		}
		dbtest.Must(t, rec.Flush(t.Context()))
		if evs := usageEvents(t, db); len(evs) != 6 {
			t.Fatalf("%d events written, want 6", len(evs))
		}
	})
}

// Requests are recorded as they are answered, not as they were admitted: a
// slow one admitted earlier may come after a quick one admitted later. The
// key's last use stays the latest admission, and each event keeps its own.
func TestUsageRecorderKeepsTheLatestUseOfAKey(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		admin := keyScope(t, db, dbtest.NewAPIKey(t, db, f.Admin, "admin"))
		rec := usage.NewUsageRecorder(db, slog.New(&logCounter{}), time.Hour)
		t0 := time.Date(2030, 6, 1, 23, 59, 59, 0, time.UTC)
		rec.RecordRequest(admin, "indexes.read", t0.Add(2*time.Second))
		rec.RecordRequest(admin, "indexes.read", t0)
		dbtest.Must(t, rec.Flush(t.Context()))
		if k := dbtest.RawAPIKey(t, db, admin.KeyID); k.LastUsedAt == nil || !k.LastUsedAt.Equal(t0.Add(2*time.Second)) {
			t.Errorf("key last used %v, want %v", k.LastUsedAt, t0.Add(2*time.Second))
		}
		days := map[string]int64{}
		for _, ev := range usageEvents(t, db) {
			days[usage.DayOf(ev.OccurredAt)] += ev.Quantity
		}
		if days["2030-06-01"] != 1 || days["2030-06-02"] != 1 {
			t.Errorf("events by day %v, want one on each side of midnight", days)
		}
	})
}

// A flush whose transaction fails once it has an ID may have committed (a
// connection lost while committing): the next flush asks PostgreSQL, and
// writes its events only if it did not. Either way every request is
// counted once, in the events and in the rollups.
func TestUsageIsWrittenOnceWhenACommitIsNotAnswered(t *testing.T) {
	t.Parallel()
	db := dbtest.Postgres(t)
	for _, afterCommit := range []bool{true, false} {
		name := "lost before it committed"
		if afterCommit {
			name = "committed, its answer lost"
		}
		t.Run(name, func(t *testing.T) {
			f := dbtest.NewOrgFixture(t, db)
			k := keyScope(t, db, dbtest.NewAPIKey(t, db, f.Admin, name))
			rec := usage.NewUsageRecorder(db, slog.New(slog.DiscardHandler), time.Hour)
			t0 := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
			for i := range 4 {
				rec.RecordRequest(k, "indexes", t0.Add(time.Duration(i)*time.Second))
			}
			lost := errors.New("the connection was lost")
			usage.LoseFlushes(rec, func(after bool) error {
				if after == afterCommit {
					return lost
				}
				return nil
			})
			if err := rec.Flush(t.Context()); !errors.Is(err, lost) {
				t.Fatalf("the failing flush: %v, want the lost connection", err)
			}
			usage.LoseFlushes(rec, nil)
			rec.RecordRequest(k, "indexes", t0.Add(time.Minute))
			dbtest.Must(t, rec.Flush(t.Context()))
			var events, rolledUp int64
			dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT COUNT(*) FROM usage_events WHERE account_id = ?", f.Admin.AccountID()).Scan(&events).Error)
			dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT COALESCE(SUM(quantity), 0) FROM usage_daily WHERE account_id = ?", f.Admin.AccountID()).Scan(&rolledUp).Error)
			if events != 5 || rolledUp != 5 {
				t.Errorf("%d events stored and %d rolled up for 5 requests", events, rolledUp)
			}
			if s := rec.Stats(); s.Written != 5 || s.Pending != 0 {
				t.Errorf("the recorder counts %d written and %d pending, want 5 and 0", s.Written, s.Pending)
			}
		})
	}
}
