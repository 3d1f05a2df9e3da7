package tenancy

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"time"

	"github.com/libtnb/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// sqliteNews tells the scope cache on SQLite of every change committed to
// the tables it is read from since it last looked, by any connection of
// any process (the operator's commands included): triggers raise the
// counter in scope_cache_news (migration 00025) in the transaction of the
// change, and the cache reads it on a connection of its own before every
// answer, so a change committed before a request began is seen by it, as
// PostgreSQL's notifications are seen within milliseconds. Writes to other
// tables (the rate limiter's, usage) leave the cache as it is. The read is
// the cache's, not a request's: it is not counted as a statement.
type sqliteNews struct {
	db *sql.DB

	// mu guards current and next. current is the read under way (nil:
	// none); next is the read that begins when it ends, which every caller
	// arriving meanwhile waits for. One read thus serves all the requests
	// that came while the last one ran. Each taking a turn of its own on
	// the one connection made a queue that, under load, kept a few
	// requests waiting tens of milliseconds (the index list's p99 was
	// 50 ms at a median of 9).
	mu            sync.Mutex
	current, next *newsRead
	// lastBegan is when the last read that ended without an error began
	// (zero: none yet): a caller that need only hear of changes committed
	// before a time it began after has been told of them already.
	lastBegan time.Time
	// wal is the database's WAL-index header (nil: not mapped), and heard
	// its stamp before the last read that ended without an error (valid
	// when heardOK): while the header is as it was then, nothing has been
	// committed since, and a read would tell nothing new.
	wal     *walIndex
	heard   walStamp
	heardOK bool

	// readMu guards the connection, the statement and what the last read
	// saw. Reads run one after another (see hear); close may come at any
	// time.
	readMu sync.Mutex
	// conn is the connection the counters are read on, held from the first
	// read until one fails, so that it is never swapped for another
	// unseen: the WAL-index header (wal) is mapped while it is open, and
	// stays the database's only while some connection of this process
	// keeps the database open. Were every connection closed, the last
	// would delete the header's file, the next would make a new one, and
	// the old mapping, never changing again, would say nothing was ever
	// committed.
	conn *sql.Conn
	// query reads the counter, prepared at the first read that finds its
	// table (a migration makes it after the database opens): preparing it
	// again for every read cost more than running it.
	query         *sql.Stmt
	version, kept int64
	read          bool
	// walTried: the WAL-index header was looked for, after the first read.
	walTried bool
	// reads counts the reads of the counters made.
	reads int64

	// stopCheckpoints ends the checkpointer (keepCheckpointing), if it
	// runs; checkpointer is it.
	stopCheckpoints chan struct{}
	checkpointer    sync.WaitGroup
}

// newsRead is one read of the counters, shared by the callers waiting for
// it: done is closed once it has ended, err set and the news heard.
type newsRead struct {
	done chan struct{}
	err  error
}

// openSQLiteNews opens the connection the news is read on.
func openSQLiteNews(dsn string) (*sqliteNews, error) {
	gdb, err := gorm.Open(sqlite.Open(sqliteDSN(dsn)), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return nil, err
	}
	db, err := gdb.DB()
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	return &sqliteNews{db: db}, nil
}

// hear returns once a read of the counters that began after it was called
// has ended, having told onNews if either changed since the read before
// (scope: the scope cache's version; kept: the kept answers' counter,
// lists_version, of migration 00029); err when that read could not tell. A read already under way
// when it is called may have begun before a change the caller must see,
// so it waits for the next read rather than share that one.
//
// With since set, a read that began at since or later and has ended will
// do: a request's look-ups each need only the changes committed before the
// request began (since), which one read tells them all of.
func (n *sqliteNews) hear(since time.Time, onNews func(scope, kept bool)) error {
	n.mu.Lock()
	if !since.IsZero() && !n.lastBegan.IsZero() && !n.lastBegan.Before(since) {
		n.mu.Unlock()
		return nil
	}
	if n.unchangedSinceHeard() {
		// As good as a read that began now (a read under way may
		// have begun before a commit since: it is not waited for).
		n.lastBegan = time.Now()
		n.mu.Unlock()
		return nil
	}
	if n.current == nil {
		r := &newsRead{done: make(chan struct{})}
		n.current = r
		n.mu.Unlock()
		return n.run(r, onNews)
	}
	r, leads := n.next, false
	if r == nil {
		r, leads = &newsRead{done: make(chan struct{})}, true
		n.next = r
	}
	under := n.current
	n.mu.Unlock()
	if !leads {
		<-r.done
		return r.err
	}
	<-under.done // its run made r the current read
	return n.run(r, onNews)
}

// run makes the read r for all its callers, then lets the next one begin.
func (n *sqliteNews) run(r *newsRead, onNews func(scope, kept bool)) error {
	began := time.Now()
	n.mu.Lock()
	stamp, stamped := n.walStamp()
	n.mu.Unlock()
	scope, kept, err := n.changed()
	if scope || kept {
		onNews(scope, kept)
	}
	r.err = err
	n.mu.Lock()
	if err == nil {
		n.lastBegan = began
		n.heard, n.heardOK = stamp, stamped
	} else {
		n.lastBegan = time.Time{}
		n.heardOK = false
	}
	n.current, n.next = n.next, nil
	n.mu.Unlock()
	close(r.done)
	return err
}

// walStamp is the WAL-index header's stamp (ok false: none to trust).
// n.mu is held.
func (n *sqliteNews) walStamp() (walStamp, bool) {
	if n.wal == nil {
		return walStamp{}, false
	}
	return n.wal.stamp()
}

// unchangedSinceHeard says whether nothing has been committed to the
// database since the last read that ended without an error began (its news
// heard). n.mu is held.
func (n *sqliteNews) unchangedSinceHeard() bool {
	if !n.heardOK {
		return false
	}
	now, ok := n.walStamp()
	return ok && now == n.heard
}

// mapWALIndex maps the WAL-index header of the database the news is read
// from, once its connection holds it (after a read). Without it (a file
// not in WAL mode, a mapping refused), every call reads the counters.
func (n *sqliteNews) mapWALIndex() {
	n.walTried = true
	var seq int
	var name, file string
	if err := n.conn.QueryRowContext(context.Background(), "PRAGMA database_list").Scan(&seq, &name, &file); err != nil || name != "main" || file == "" {
		return
	}
	var mode string
	if err := n.conn.QueryRowContext(context.Background(), "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		return
	}
	w, err := openWALIndex(file)
	if err != nil {
		return
	}
	n.mu.Lock()
	n.wal = w
	n.mu.Unlock()
}

// changed reports whether the scope cache's tables, and the kept answers',
// changed since the last call (the first call: both); err when it cannot
// tell.
func (n *sqliteNews) changed() (scope, kept bool, err error) {
	n.readMu.Lock()
	defer n.readMu.Unlock()
	ctx := context.Background()
	if n.conn == nil {
		c, err := n.db.Conn(ctx)
		if err != nil {
			return false, false, err
		}
		n.conn = c
	}
	if n.query == nil {
		q, err := n.conn.PrepareContext(ctx, "SELECT version, lists_version FROM scope_cache_news")
		if err != nil {
			n.forgetConnection()
			return false, false, err
		}
		n.query = q
	}
	var v, k int64
	n.reads++
	if err := n.query.QueryRow().Scan(&v, &k); err != nil {
		// The failure may have been the statement's (its table made
		// anew) or the connection's: the next read begins on a new one.
		n.forgetConnection()
		return false, false, err
	}
	scope, kept = !n.read || v != n.version, !n.read || k != n.kept
	n.version, n.kept, n.read = v, k, true
	if !n.walTried {
		n.mapWALIndex()
	}
	return scope, kept, nil
}

// forgetConnection closes the statement and the connection, and unmaps the
// WAL-index header mapped while it was open: the next read opens a new
// connection and maps the header again (see conn). n.readMu is held.
func (n *sqliteNews) forgetConnection() {
	if n.query != nil {
		_ = n.query.Close()
		n.query = nil
	}
	if n.conn != nil {
		_ = n.conn.Close()
		n.conn = nil
	}
	n.mu.Lock()
	if n.wal != nil {
		_ = n.wal.close()
		n.wal = nil
	}
	n.heardOK = false
	n.mu.Unlock()
	n.walTried = false
}

// hearSQLite brings the cache up to date with the database file, on
// SQLite: it flushes on a change, and stops answering while it cannot
// tell. since is when the request looking up began (WithRequestStart;
// zero: now).
func (c *scopeCache) hearSQLite(since, now time.Time) {
	if c.sqlite == nil {
		return
	}
	if err := c.sqlite.hear(since, c.hearSQLiteNews); err != nil {
		c.heard.Store(0)
		return
	}
	c.heard.Store(now.UnixNano())
}

// walCheckpointFrames is how many frames the WAL may hold that are not in
// the database yet before they are checkpointed: SQLite's own default
// (1,000 pages).
const walCheckpointFrames = 1000

// walCheckpointEvery is how often the checkpointer looks at the WAL's length.
const walCheckpointEvery = 100 * time.Millisecond

// keepCheckpointing checkpoints the database's WAL on pool, outside any
// write's turn, whenever it holds walCheckpointFrames frames or more that
// no checkpoint has copied yet, until the news is closed. SQLite's own checkpoint runs in the commit that grew
// the WAL past its limit, and so here inside that write's turn (see
// enterSQLiteWrite), where every other write of the process waited for it:
// under the API's load (a rate-limit count every few requests) that made
// its p99 40 ms instead of 13. A passive checkpoint waits for no reader or
// writer.
func (n *sqliteNews) keepCheckpointing(pool *sql.DB) {
	n.stopCheckpoints = make(chan struct{})
	n.checkpointer.Go(func() {
		tick := time.NewTicker(walCheckpointEvery)
		defer tick.Stop()
		for {
			select {
			case <-n.stopCheckpoints:
				return
			case <-tick.C:
			}
			n.mu.Lock()
			owed, known := uint32(0), false
			if n.wal != nil {
				owed, known = n.wal.backlog()
			}
			n.mu.Unlock()
			// Until the header is mapped (the first read) or while it
			// cannot be trusted, what the WAL holds is not known:
			// checkpoint anyway.
			if known && owed < walCheckpointFrames {
				continue
			}
			if _, err := pool.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
				slog.Debug("WAL checkpoint", "err", err)
			}
		}
	})
}

// close closes the news's connection, once its checkpointer has stopped.
func (n *sqliteNews) close() error {
	if n.stopCheckpoints != nil {
		close(n.stopCheckpoints)
		n.checkpointer.Wait()
		n.stopCheckpoints = nil
	}
	n.readMu.Lock()
	defer n.readMu.Unlock()
	n.forgetConnection()
	return n.db.Close()
}

// hearSQLiteNews acts on the counters' news: the scope cache's flushes
// everything, the kept answers' forgets every account's.
func (c *scopeCache) hearSQLiteNews(scope, kept bool) {
	if scope {
		c.flush()
	} else if kept {
		c.forgetKept(0)
	}
}

// requestStartKey marks a context with when its request began.
type requestStartKey struct{}

// WithRequestStart notes in ctx when its request began: the scope cache on
// SQLite then hears, for all the request's look-ups, of the changes
// committed before that (one read of its counter) rather than before each
// look-up (a read each). What a request itself writes, this process's cache
// forgets as the write commits.
func WithRequestStart(ctx context.Context, began time.Time) context.Context {
	return context.WithValue(ctx, requestStartKey{}, began)
}

// requestStart is when ctx's request began (zero: not noted).
func requestStart(ctx context.Context) time.Time {
	began, _ := ctx.Value(requestStartKey{}).(time.Time)
	return began
}
