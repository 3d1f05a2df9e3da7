package tenancy

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libtnb/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Every call hears of a change committed before it began, however many
// calls share a read: a read under way when a call comes may have begun
// before the change, so the call waits for the next one. A call after no
// change flushes nothing.
func TestSQLiteNewsIsReadAfterEveryCall(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "news.db")
	writer, err := gorm.Open(sqlite.Open(sqliteDSN(path)), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := writer.Exec("CREATE TABLE scope_cache_news (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, lists_version INTEGER NOT NULL DEFAULT 0)").Error; err != nil {
		t.Fatal(err)
	}
	if err := writer.Exec("INSERT INTO scope_cache_news (id, version) VALUES (1, 0)").Error; err != nil {
		t.Fatal(err)
	}
	news, err := openSQLiteNews(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = news.close() })

	var flushes, keptNews atomic.Int64
	flush := func(scope, kept bool) {
		if scope {
			flushes.Add(1)
		} else if kept {
			keptNews.Add(1)
		}
	}
	for i, want := range []int64{1, 1} { // the first read tells of a change; the second of none
		if err := news.hear(time.Time{}, flush); err != nil {
			t.Fatal(err)
		}
		if got := flushes.Load(); got != want {
			t.Fatalf("after read %d: %d flushes, want %d", i+1, got, want)
		}
	}

	// Others keep a read under way while the counter changes.
	ctx, stop := context.WithCancel(t.Context())
	var others sync.WaitGroup
	for range 4 {
		others.Go(func() {
			for ctx.Err() == nil {
				if err := news.hear(time.Time{}, flush); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for round := range 300 {
		before := flushes.Load()
		if err := writer.Exec("UPDATE scope_cache_news SET version = version + 1").Error; err != nil {
			t.Fatal(err)
		}
		if err := news.hear(time.Time{}, flush); err != nil {
			t.Fatal(err)
		}
		if flushes.Load() == before {
			t.Fatalf("round %d: a call returned without hearing of a change committed before it", round)
		}
	}
	stop()
	others.Wait()

	// A caller that began before the last read began is answered by it;
	// one that began after a change waits for a read that tells of it.
	began := time.Now()
	if err := news.hear(time.Time{}, flush); err != nil {
		t.Fatal(err)
	}
	flushed := flushes.Load()
	if err := writer.Exec("UPDATE scope_cache_news SET version = version + 1").Error; err != nil {
		t.Fatal(err)
	}
	if err := news.hear(began, flush); err != nil {
		t.Fatal(err)
	}
	if flushes.Load() != flushed {
		t.Error("a caller that began before the last read was made to wait for another")
	}
	if err := news.hear(time.Now(), flush); err != nil {
		t.Fatal(err)
	}
	if flushes.Load() != flushed+1 {
		t.Error("a caller that began after a change was not told of it")
	}

	// The kept answers' counter is news to them alone.
	flushed = flushes.Load()
	if err := writer.Exec("UPDATE scope_cache_news SET lists_version = lists_version + 1").Error; err != nil {
		t.Fatal(err)
	}
	if err := news.hear(time.Time{}, flush); err != nil {
		t.Fatal(err)
	}
	if flushes.Load() != flushed || keptNews.Load() != 1 {
		t.Errorf("lists_version raised: %d flushes and %d kept news, want none and 1", flushes.Load()-flushed, keptNews.Load())
	}
}
