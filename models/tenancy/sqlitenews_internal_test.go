package tenancy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	writer := newsTestDB(t, path)
	news := openTestNews(t, path)

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

// Between commits, a call reads nothing: the WAL-index header says nothing
// was committed since the last read began. Any commit, to the counters or
// to another table, has the next call read them; only a change of the
// counters is news.
func TestSQLiteNewsIsNotReadWhileNothingIsCommitted(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "news.db")
	writer := newsTestDB(t, path, "CREATE TABLE other (n INTEGER)")
	news := openTestNews(t, path)
	var flushes int
	flush := func(scope, _ bool) {
		if scope {
			flushes++
		}
	}
	// hear calls once and returns the reads of the counters it made.
	hear := func() int64 {
		t.Helper()
		news.readMu.Lock()
		before := news.reads
		news.readMu.Unlock()
		if err := news.hear(time.Now(), flush); err != nil {
			t.Fatal(err)
		}
		news.readMu.Lock()
		defer news.readMu.Unlock()
		return news.reads - before
	}
	if n := hear(); n != 1 || flushes != 1 {
		t.Fatalf("the first call made %d reads and %d flushes, want 1 and 1", n, flushes)
	}
	if news.wal == nil {
		t.Fatal("the WAL-index header is not mapped")
	}
	// The first read maps the header; the next is the first one stamped.
	if n := hear(); n != 1 {
		t.Fatalf("the second call made %d reads, want 1", n)
	}
	for i := range 3 {
		if n := hear(); n != 0 {
			t.Fatalf("call %d after no commit read the counters %d times", i, n)
		}
	}
	if err := writer.Exec("INSERT INTO other (n) VALUES (1)").Error; err != nil {
		t.Fatal(err)
	}
	if n := hear(); n != 1 || flushes != 1 {
		t.Fatalf("after a commit elsewhere: %d reads and %d flushes, want 1 and still 1", n, flushes)
	}
	if n := hear(); n != 0 {
		t.Fatalf("the call after that read %d times", n)
	}
	for round := range 50 {
		if err := writer.Exec("UPDATE scope_cache_news SET version = version + 1").Error; err != nil {
			t.Fatal(err)
		}
		if n := hear(); n != 1 || flushes != round+2 {
			t.Fatalf("round %d: after a change of the counter %d reads and %d flushes", round, n, flushes)
		}
	}
	// A checkpoint that starts the WAL over is a commit like any other.
	if err := writer.Exec("PRAGMA wal_checkpoint(TRUNCATE)").Error; err != nil {
		t.Fatal(err)
	}
	if err := writer.Exec("UPDATE scope_cache_news SET version = version + 1").Error; err != nil {
		t.Fatal(err)
	}
	if n := hear(); n != 1 || flushes != 52 {
		t.Fatalf("after a checkpoint and a change: %d reads and %d flushes, want 1 and 52", n, flushes)
	}
}

// After a failed read the news reads on a new connection and maps the
// header that connection holds: here the connection the read failed on was
// the database's last, and closing it deleted the header's file; the next
// one made another. A mapping of the old file would never change again, and the
// commits after it would go unheard.
func TestSQLiteNewsMapsTheHeaderAgainAfterAFailedRead(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "news.db")
	writer := newsTestDB(t, path)
	news := openTestNews(t, path)
	var flushes int
	flush := func(scope, _ bool) {
		if scope {
			flushes++
		}
	}
	hear := func() error { return news.hear(time.Now(), flush) }
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // the first maps the header, the second stamps it
		check(hear())
	}

	check(writer.Exec("DROP TABLE scope_cache_news").Error)
	writerDB, err := writer.DB()
	check(err)
	check(writerDB.Close())
	// The connection the read fails on is closed when it is given back,
	// as database/sql does with one the driver finds broken.
	news.db.SetMaxIdleConns(0)
	if err := hear(); err == nil {
		t.Fatal("a read of a dropped table did not fail")
	}
	if _, err := os.Stat(path + "-shm"); !os.IsNotExist(err) {
		t.Fatalf("with every connection closed the WAL index is still there (%v): this test shows nothing", err)
	}

	writer = newsTestDB(t, path)
	for range 2 { // on a new connection: maps its header, then stamps it
		check(hear())
	}
	flushes = 0
	for round := range 3 {
		check(writer.Exec("UPDATE scope_cache_news SET version = version + 1").Error)
		check(hear())
		if flushes != round+1 {
			t.Fatalf("round %d: a change after the failed read was not heard (%d flushes)", round, flushes)
		}
	}
}

// A commit made by another process, through its own mapping of the WAL
// index, is heard by the next call as one made here is.
func TestSQLiteNewsHearsAnotherProcess(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "news.db")
	writeElsewhere := func(statement string) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestSQLiteNewsWriterProcess$")
		cmd.Env = append(os.Environ(), "NEWS_WRITER_DB="+path, "NEWS_WRITER_SQL="+statement)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the writer process: %v\n%s", err, out)
		}
	}
	for _, q := range newsTable {
		writeElsewhere(q)
	}
	news := openTestNews(t, path)
	var flushes int
	flush := func(scope, _ bool) {
		if scope {
			flushes++
		}
	}
	for range 3 { // the first maps the header, the second stamps it, the third reads nothing
		if err := news.hear(time.Now(), flush); err != nil {
			t.Fatal(err)
		}
	}
	if news.wal == nil {
		t.Fatal("the WAL-index header is not mapped")
	}
	for round := range 3 {
		writeElsewhere("UPDATE scope_cache_news SET version = version + 1")
		if err := news.hear(time.Now(), flush); err != nil {
			t.Fatal(err)
		}
		if flushes != round+2 {
			t.Fatalf("round %d: a change committed by another process was not heard (%d flushes)", round, flushes)
		}
	}
}

// TestSQLiteNewsWriterProcess is TestSQLiteNewsHearsAnotherProcess's other
// process: it runs one statement on the database it is given, and nothing
// when run as a test of its own.
func TestSQLiteNewsWriterProcess(t *testing.T) {
	path := os.Getenv("NEWS_WRITER_DB")
	if path == "" {
		return
	}
	db, err := gorm.Open(sqlite.Open(sqliteDSN(path)), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(os.Getenv("NEWS_WRITER_SQL")).Error; err != nil {
		t.Fatal(err)
	}
}

// newsTable makes the news counters' table, as migration 00025 (and 00029's
// lists_version) do, with its one row.
var newsTable = []string{
	"CREATE TABLE scope_cache_news (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, lists_version INTEGER NOT NULL DEFAULT 0)",
	"INSERT INTO scope_cache_news (id, version) VALUES (1, 0)",
}

// newsTestDB makes a database at path with the news counters' table and
// what statements make, and returns a connection to write to it with.
func newsTestDB(t *testing.T, path string, statements ...string) *gorm.DB {
	t.Helper()
	writer, err := gorm.Open(sqlite.Open(sqliteDSN(path)), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if d, err := writer.DB(); err == nil {
			_ = d.Close()
		}
	})
	for _, q := range append(slices.Clone(newsTable), statements...) {
		if err := writer.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	return writer
}

// openTestNews opens the news of the database at path, closed at the end
// of the test.
func openTestNews(t *testing.T, path string) *sqliteNews {
	t.Helper()
	news, err := openSQLiteNews(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = news.close() })
	return news
}

// The pool's commits do not checkpoint the WAL themselves (that would be
// inside a write's turn): the news's checkpointer does, once it has grown
// past walCheckpointFrames, so the database file takes the rows.
func TestSQLiteWALIsCheckpointedOutsideWrites(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ckpt.db")
	db, err := OpenWithConns(path, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Close(db) })
	var every int
	if err := db.Raw("PRAGMA wal_autocheckpoint").Scan(&every).Error; err != nil || every != 0 {
		t.Fatalf("the pool checkpoints every %d pages (%v), want never", every, err)
	}
	// About 2,500 pages, far past the limit, in one transaction.
	for _, q := range []string{
		"CREATE TABLE blobs (b BLOB)",
		"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2500) INSERT INTO blobs SELECT randomblob(4000) FROM c",
	} {
		if err := db.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() >= 2500*4000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after 10 MB were committed the database file holds %d bytes: the WAL was not checkpointed", info.Size())
		}
	}
}

// The backlog the checkpointer goes by is the WAL's frames not yet in the
// database: all of a commit's, none once a checkpoint has copied them,
// though the WAL keeps them until the next commit starts it over.
func TestWALBacklogIsWhatNoCheckpointCopied(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "backlog.db")
	writer := newsTestDB(t, path, "CREATE TABLE blobs (b BLOB)") // 500 pages are fewer than SQLite checkpoints at
	news := openTestNews(t, path)
	if err := news.hear(time.Time{}, func(bool, bool) {}); err != nil {
		t.Fatal(err)
	}
	if news.wal == nil {
		t.Fatal("the WAL-index header is not mapped")
	}
	backlog := func() uint32 {
		t.Helper()
		n, ok := news.wal.backlog()
		if !ok {
			t.Fatal("the WAL-index header cannot be read")
		}
		return n
	}
	before := backlog()
	if err := writer.Exec("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500) INSERT INTO blobs SELECT randomblob(4000) FROM c").Error; err != nil {
		t.Fatal(err)
	}
	if got := backlog(); got < before+500 {
		t.Fatalf("after 500 pages committed the backlog is %d (it was %d)", got, before)
	}
	if err := writer.Exec("PRAGMA wal_checkpoint(PASSIVE)").Error; err != nil {
		t.Fatal(err)
	}
	stamp, _ := news.wal.stamp()
	if got := backlog(); got != 0 || stamp.frames() < 500 {
		t.Fatalf("after a checkpoint the backlog is %d of the WAL's %d frames, want 0 of 500 or more", got, stamp.frames())
	}
}
