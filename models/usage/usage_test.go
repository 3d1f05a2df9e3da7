package usage_test

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
	"switchboard/models/usage"
)

// quietLog discards what the recorder logs.
var quietLog = slog.New(slog.DiscardHandler)

// usageEvents reads every usage event with raw SQL (the tables are
// account-owned: scoped queries would not see them all), oldest first.
func usageEvents(t *testing.T, db *gorm.DB) []usage.UsageEvent {
	t.Helper()
	var evs []usage.UsageEvent
	dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT * FROM usage_events ORDER BY occurred_at, id").Scan(&evs).Error)
	return evs
}

// dailyKey names one rollup row.
type dailyKey struct {
	Account  int64
	Day      string
	User     int64
	Metric   string
	Category string
}

// usageDaily reads the whole rollup with raw SQL.
func usageDaily(t *testing.T, db *gorm.DB) map[dailyKey]int64 {
	t.Helper()
	var rows []usage.UsageDaily
	dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT * FROM usage_daily").Scan(&rows).Error)
	out := map[dailyKey]int64{}
	for _, r := range rows {
		out[dailyKey{r.AccountID, r.Day, r.UserID, r.Metric, r.Category}] = r.Quantity
	}
	return out
}

func showDaily(m map[dailyKey]int64) string {
	var lines []string
	for k, v := range m {
		lines = append(lines, fmt.Sprintf("%+v=%d", k, v))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n\t")
}

func wantDaily(t *testing.T, db *gorm.DB, want map[dailyKey]int64) {
	t.Helper()
	got := usageDaily(t, db)
	same := len(got) == len(want)
	for k, v := range want {
		if got[k] != v {
			same = false
		}
	}
	if !same {
		t.Fatalf("usage_daily:\n\t%s\nwant:\n\t%s", showDaily(got), showDaily(want))
	}
}

// keyScope authenticates a key or fails the test.
func keyScope(t *testing.T, db *gorm.DB, k models.NewAPIKey) tenancy.KeyScope {
	t.Helper()
	ks, err := models.ScopeForAPIKey(t.Context(), db, k.Secret)
	dbtest.Must(t, err)
	return ks
}

func wantLastUsed(t *testing.T, db *gorm.DB, k models.NewAPIKey, want *time.Time) {
	t.Helper()
	got := dbtest.RawAPIKey(t, db, k.ID).LastUsedAt
	switch {
	case want == nil && got != nil:
		t.Errorf("key %q last used %v, want never", k.Name, *got)
	case want != nil && (got == nil || !got.Equal(*want)):
		t.Errorf("key %q last used %v, want %v", k.Name, got, *want)
	}
}

func TestUsageRecorderFlush(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		adminKey := dbtest.NewAPIKey(t, db, f.Admin, "admin")
		memberKey := dbtest.NewAPIKey(t, db, f.Member, "member")
		personalKey := dbtest.NewAPIKey(t, db, f.AdminPersonal, "personal")
		unused := dbtest.NewAPIKey(t, db, f.Admin, "unused")
		admin, member, personal := keyScope(t, db, adminKey), keyScope(t, db, memberKey), keyScope(t, db, personalKey)

		rec := usage.NewUsageRecorder(db, quietLog, time.Hour)
		t0 := time.Date(2030, 6, 1, 23, 58, 0, 123456789, time.UTC) // nanoseconds: stored to the microsecond
		for i := range 3 {
			rec.RecordRequest(admin, "indexes", t0.Add(time.Duration(i+1)*time.Second))
		}
		rec.RecordRequest(admin, "videos", t0.Add(4*time.Second))
		rec.RecordRequest(admin, "indexes", t0.Add(2*time.Minute)) // the next UTC day
		rec.RecordRequest(member, "indexes", t0.Add(5*time.Second))
		rec.RecordRequest(member, "indexes", t0.Add(5*time.Second))
		// Another zone is the same instant, and the same UTC day.
		rec.RecordRequest(personal, "indexes", t0.Add(6*time.Second).In(time.FixedZone("UTC+10", 10*3600)))

		if n := dbtest.CountRows(t, db, "usage_events", ""); n != 0 {
			t.Fatalf("%d usage events written before the flush: recording must not write", n)
		}
		dbtest.Must(t, rec.Flush(t.Context()))

		evs := usageEvents(t, db)
		if len(evs) != 8 {
			t.Fatalf("%d usage events, want 8", len(evs))
		}
		byKey := map[int64]int{}
		for _, ev := range evs {
			if ev.Metric != usage.MetricAPIRequests || ev.Quantity != 1 || ev.UserID == nil || ev.APIKeyID == nil {
				t.Fatalf("event %+v", ev)
			}
			var want tenancy.KeyScope
			for _, ks := range []tenancy.KeyScope{admin, member, personal} {
				if ks.KeyID == *ev.APIKeyID {
					want = ks
				}
			}
			if ev.AccountID != want.AccountID() || *ev.UserID != want.UserID() {
				t.Errorf("event of key %d: account %d, user %d; want %d, %d", *ev.APIKeyID, ev.AccountID, *ev.UserID, want.AccountID(), want.UserID())
			}
			byKey[*ev.APIKeyID]++
		}
		if byKey[admin.KeyID] != 5 || byKey[member.KeyID] != 2 || byKey[personal.KeyID] != 1 {
			t.Errorf("events per key: %v", byKey)
		}
		if first := evs[0]; !first.OccurredAt.Equal(t0.Add(time.Second).Truncate(time.Microsecond)) || first.Category != "indexes" {
			t.Errorf("first event at %v (%s), want %v", first.OccurredAt, first.Category, t0.Add(time.Second))
		}

		org, me, them := f.Admin.AccountID(), f.AdminUser.ID, f.MemberUser.ID
		want := map[dailyKey]int64{
			{org, "2030-06-01", me, usage.MetricAPIRequests, "indexes"}:                         3,
			{org, "2030-06-01", me, usage.MetricAPIRequests, "videos"}:                          1,
			{org, "2030-06-02", me, usage.MetricAPIRequests, "indexes"}:                         1,
			{org, "2030-06-01", them, usage.MetricAPIRequests, "indexes"}:                       2,
			{f.AdminPersonal.AccountID(), "2030-06-01", me, usage.MetricAPIRequests, "indexes"}: 1,
		}
		wantDaily(t, db, want)

		last := t0.Add(2 * time.Minute).Truncate(time.Microsecond)
		wantLastUsed(t, db, adminKey, &last)
		memberLast := t0.Add(5 * time.Second).Truncate(time.Microsecond)
		wantLastUsed(t, db, memberKey, &memberLast)
		personalLast := t0.Add(6 * time.Second).Truncate(time.Microsecond)
		wantLastUsed(t, db, personalKey, &personalLast)
		wantLastUsed(t, db, unused, nil)

		// Nothing pending: nothing done, not even a query.
		before := tenancy.QueryCount()
		dbtest.Must(t, rec.Flush(t.Context()))
		if n := tenancy.QueryCount() - before; n != 0 {
			t.Errorf("an empty flush ran %d statements", n)
		}
		if n := dbtest.CountRows(t, db, "usage_events", ""); n != 8 {
			t.Errorf("%d usage events after an empty flush, want 8", n)
		}

		// A second batch adds to the rollup; an older request does not
		// move last use back.
		rec.RecordRequest(admin, "indexes", t0.Add(-time.Hour))
		rec.RecordRequest(admin, "indexes", t0.Add(-time.Hour))
		rec.RecordRequest(member, "indexes", t0.Add(10*time.Second))
		dbtest.Must(t, rec.Flush(t.Context()))
		want[dailyKey{org, "2030-06-01", me, usage.MetricAPIRequests, "indexes"}] = 5
		want[dailyKey{org, "2030-06-01", them, usage.MetricAPIRequests, "indexes"}] = 3
		wantDaily(t, db, want)
		if n := dbtest.CountRows(t, db, "usage_events", ""); n != 11 {
			t.Errorf("%d usage events, want 11", n)
		}
		wantLastUsed(t, db, adminKey, &last)
		memberLast = t0.Add(10 * time.Second).Truncate(time.Microsecond)
		wantLastUsed(t, db, memberKey, &memberLast)
	})
}

// A flush that fails keeps its events for the next one, which writes them
// once.
func TestUsageRecorderKeepsEventsWhenAFlushFails(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		user, s := dbtest.User(t, db)
		k := dbtest.NewAPIKey(t, db, s, "key")
		ks := keyScope(t, db, k)
		rec := usage.NewUsageRecorder(db, quietLog, time.Hour)
		at := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
		rec.RecordRequest(ks, "indexes", at)
		rec.RecordRequest(ks, "indexes", at)

		t.Run("rollup fails", func(t *testing.T) {
			// The events are inserted, then the rollup fails: all of it
			// rolls back.
			dbtest.FailOn(t, db, "INSERT", "usage_daily")
			if err := rec.Flush(t.Context()); err == nil {
				t.Fatal("flush succeeded although the rollup could not be written")
			}
			if n := dbtest.CountRows(t, db, "usage_events", ""); n != 0 {
				t.Fatalf("%d events left by a failed flush", n)
			}
			wantLastUsed(t, db, k, nil)
		})
		rec.RecordRequest(ks, "videos", at.Add(time.Second))
		dbtest.Must(t, rec.Flush(t.Context()))
		if n := dbtest.CountRows(t, db, "usage_events", ""); n != 3 {
			t.Errorf("%d events, want 3", n)
		}
		wantDaily(t, db, map[dailyKey]int64{
			{s.AccountID(), "2030-06-01", user.ID, usage.MetricAPIRequests, "indexes"}: 2,
			{s.AccountID(), "2030-06-01", user.ID, usage.MetricAPIRequests, "videos"}:  1,
		})
		last := at.Add(time.Second)
		wantLastUsed(t, db, k, &last)
	})
}

// On SQLite a flush of many events writes them in short transactions; when
// one fails, what the earlier ones wrote stays written, once, and the rest
// waits for the next flush. On PostgreSQL the flush is one transaction.
func TestUsageRecorderWritesInShortTransactions(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		user, s := dbtest.User(t, db)
		k := dbtest.NewAPIKey(t, db, s, "busy")
		ks := keyScope(t, db, k)
		rec := usage.NewUsageRecorder(db, quietLog, time.Hour)
		at := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
		for i := range 1200 {
			rec.RecordRequest(ks, "indexes", at.Add(time.Duration(i)*time.Millisecond))
		}
		// The table takes 500 rows, then refuses: the second transaction
		// fails.
		drop := "DROP TRIGGER IF EXISTS usage_events_full"
		if tenancy.DialectOfDB(db) == tenancy.Postgres {
			dbtest.Must(t, dbtest.Plain(t, db).Exec(`CREATE OR REPLACE FUNCTION usage_events_full() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN IF (SELECT COUNT(*) FROM usage_events) >= 500 THEN RAISE EXCEPTION 'full'; END IF; RETURN NEW; END $$`).Error)
			dbtest.Must(t, dbtest.Plain(t, db).Exec("CREATE TRIGGER usage_events_full BEFORE INSERT ON usage_events FOR EACH ROW EXECUTE FUNCTION usage_events_full()").Error)
			drop += " ON usage_events"
		} else {
			dbtest.Must(t, dbtest.Plain(t, db).Exec("CREATE TRIGGER usage_events_full BEFORE INSERT ON usage_events WHEN (SELECT COUNT(*) FROM usage_events) >= 500 BEGIN SELECT RAISE(ABORT, 'full'); END").Error)
		}
		t.Cleanup(func() { dbtest.Plain(t, db).Exec(drop) })
		if err := rec.Flush(t.Context()); err == nil {
			t.Fatal("the flush succeeded although its second transaction could not insert")
		}
		// SQLite writes 500 at a time; PostgreSQL all at once.
		firstWrite := int64(500)
		if tenancy.DialectOfDB(db) == tenancy.Postgres {
			firstWrite = 0
		}
		if n := dbtest.CountRows(t, db, "usage_events", ""); n != firstWrite {
			t.Fatalf("%d events after the failed flush, want %d", n, firstWrite)
		}
		key := dailyKey{s.AccountID(), "2030-06-01", user.ID, usage.MetricAPIRequests, "indexes"}
		last := at.Add(1199 * time.Millisecond)
		if firstWrite > 0 {
			wantDaily(t, db, map[dailyKey]int64{key: firstWrite})
			wantLastUsed(t, db, k, &last) // written with the first transaction
		} else {
			wantDaily(t, db, map[dailyKey]int64{})
			wantLastUsed(t, db, k, nil)
		}
		if st := rec.Stats(); st.Written != firstWrite || st.Pending != 1200-firstWrite || st.Dropped != 0 {
			t.Errorf("stats %+v, want %d written and the rest pending", st, firstWrite)
		}

		dbtest.Must(t, dbtest.Plain(t, db).Exec(drop).Error)
		dbtest.Must(t, rec.Flush(t.Context()))
		if n := dbtest.CountRows(t, db, "usage_events", ""); n != 1200 {
			t.Errorf("%d events, want 1200", n)
		}
		wantDaily(t, db, map[dailyKey]int64{key: 1200})
		if st := rec.Stats(); st.Written != 1200 || st.Pending != 0 {
			t.Errorf("stats %+v, want 1200 written, none pending", st)
		}
	})
}

func TestUsageRecorderUnderConcurrency(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		user, s := dbtest.User(t, db)
		ks := keyScope(t, db, dbtest.NewAPIKey(t, db, s, "busy"))
		rec := usage.NewUsageRecorder(db, quietLog, time.Hour)
		at := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
		var wg sync.WaitGroup
		for g := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					rec.RecordRequest(ks, "indexes", at.Add(time.Duration(g*50+i)*time.Millisecond))
					if i%10 == 0 {
						if err := rec.Flush(context.Background()); err != nil {
							t.Errorf("flush: %v", err)
						}
					}
				}
			}()
		}
		wg.Wait()
		dbtest.Must(t, rec.Flush(t.Context()))
		if n := dbtest.CountRows(t, db, "usage_events", ""); n != 1000 {
			t.Errorf("%d events, want 1000", n)
		}
		wantDaily(t, db, map[dailyKey]int64{{s.AccountID(), "2030-06-01", user.ID, usage.MetricAPIRequests, "indexes"}: 1000})
	})
}

func TestUsageRecorderRunFlushesOnCancel(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		_, s := dbtest.User(t, db)
		k := dbtest.NewAPIKey(t, db, s, "key")
		ks := keyScope(t, db, k)
		rec := usage.NewUsageRecorder(db, quietLog, time.Hour) // never ticks during the test
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { rec.Run(ctx); close(done) }()
		at := dbtest.UTC()
		rec.RecordRequest(ks, "indexes", at)
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
		if n := dbtest.CountRows(t, db, "usage_events", ""); n != 1 {
			t.Errorf("%d events after shutdown, want 1", n)
		}
		wantLastUsed(t, db, k, &at)
	})
}

func TestUsageRecorderRunFlushesPeriodically(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		_, s := dbtest.User(t, db)
		ks := keyScope(t, db, dbtest.NewAPIKey(t, db, s, "key"))
		rec := usage.NewUsageRecorder(db, quietLog, 20*time.Millisecond)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { rec.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		rec.RecordRequest(ks, "indexes", dbtest.UTC())
		deadline := time.Now().Add(5 * time.Second)
		for dbtest.CountRows(t, db, "usage_events", "") == 0 {
			if time.Now().After(deadline) {
				t.Fatal("nothing flushed 5 s after recording with a 20 ms interval")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func TestAddVideoRecordsIndexingSeconds(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		idx := dbtest.NewIndex(t, db, f.Admin, "clips", "")
		dbtest.AddVideo(t, db, f.Member, idx.PublicID, "one", 30)
		dbtest.AddVideo(t, db, f.Member, idx.PublicID, "two", 45)
		dbtest.AddVideo(t, db, f.Admin, idx.PublicID, "three", 20)
		_, err := models.AddVideo(t.Context(), db, f.Member, idx.PublicID, dbtest.VideoInput("too short", 1))
		dbtest.WantFields(t, err, "duration_seconds")
		_, err = models.AddVideo(t.Context(), db, f.Other, idx.PublicID, dbtest.VideoInput("foreign", 60))
		dbtest.WantIs(t, err, tenancy.ErrNotFound)

		evs := usageEvents(t, db)
		if len(evs) != 3 {
			t.Fatalf("%d usage events, want 3: %+v", len(evs), evs)
		}
		perUser := map[int64]int64{}
		want := map[dailyKey]int64{}
		for _, ev := range evs {
			if ev.Metric != usage.MetricIndexingSeconds || ev.AccountID != f.Admin.AccountID() || ev.UserID == nil || ev.APIKeyID != nil || ev.Category != "" {
				t.Fatalf("event %+v", ev)
			}
			perUser[*ev.UserID] += ev.Quantity
			want[dailyKey{ev.AccountID, ev.OccurredAt.UTC().Format(time.DateOnly), *ev.UserID, usage.MetricIndexingSeconds, ""}] += ev.Quantity
		}
		if perUser[f.MemberUser.ID] != 75 || perUser[f.AdminUser.ID] != 20 || len(perUser) != 2 {
			t.Errorf("indexing seconds per user: %v; want member 75, admin 20", perUser)
		}
		wantDaily(t, db, want)

		// The usage is account-owned: unscoped reads are refused.
		var n int64
		err = db.Model(&usage.UsageEvent{}).Count(&n).Error
		dbtest.WantIs(t, err, tenancy.ErrUnscoped)
		err = db.Model(&usage.UsageDaily{}).Count(&n).Error
		dbtest.WantIs(t, err, tenancy.ErrUnscoped)
	})
}

// A video whose usage cannot be recorded is not added: the usage is part of
// the same transaction.
func TestAddVideoUsageIsInTheSameTransaction(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		idx := dbtest.NewIndex(t, db, f.Admin, "clips", "")
		dbtest.FailOn(t, db, "INSERT", "usage_daily")
		if _, err := models.AddVideo(t.Context(), db, f.Member, idx.PublicID, dbtest.VideoInput("one", 30)); err == nil {
			t.Fatal("AddVideo succeeded although its usage could not be recorded")
		}
		dbtest.WantCounters(t, db, idx, 0, 0)
		if n := dbtest.CountRows(t, db, "usage_events", ""); n != 0 {
			t.Errorf("%d usage events left", n)
		}
	})
}

// Requests recorded for an organization that is deleted before the next
// flush must not block the usage of every other account: the batch is
// written without them.
func TestUsageRecorderSurvivesADeletedAccount(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		owner, personal := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		orgKey := keyScope(t, db, dbtest.NewAPIKey(t, db, org, "org"))
		personalKey := dbtest.NewAPIKey(t, db, personal, "personal")
		rec := usage.NewUsageRecorder(db, quietLog, time.Hour)
		at := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
		rec.RecordRequest(orgKey, "indexes", at)
		rec.RecordRequest(keyScope(t, db, personalKey), "indexes", at)
		dbtest.Must(t, models.DeleteOrganization(t.Context(), db, org, org.Account().Name, dbtest.ActorOf(owner)))

		// Allow one failed attempt; the next must have written the
		// personal account's request.
		first := rec.Flush(t.Context())
		second := rec.Flush(t.Context())
		n := dbtest.CountRows(t, db, "usage_events", "account_id = ?", personal.AccountID())
		if n != 1 {
			t.Fatalf("after two flushes (%v, %v) the personal account has %d usage events, want 1: "+
				"one deleted account blocks everybody's usage", first, second, n)
		}
		wantLastUsed(t, db, personalKey, &at)
	})
}
