package tenancy

import (
	"database/sql"
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
	mu sync.Mutex
	db *sql.DB
	// query reads the counter, prepared at the first read that finds its
	// table (a migration makes it after the database opens): preparing it
	// again for every read cost more than running it.
	query   *sql.Stmt
	version int64
	read    bool
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

// changed reports whether the database changed since the last call (the
// first call: yes); err when it cannot tell.
func (n *sqliteNews) changed() (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.query == nil {
		q, err := n.db.Prepare("SELECT version FROM scope_cache_news")
		if err != nil {
			return false, err
		}
		n.query = q
	}
	var v int64
	if err := n.query.QueryRow().Scan(&v); err != nil {
		// Prepared again at the next read: the failure may have been
		// the statement's (its table made anew), not the database's.
		_ = n.query.Close()
		n.query = nil
		return false, err
	}
	changed := !n.read || v != n.version
	n.version, n.read = v, true
	return changed, nil
}

// hearSQLite brings the cache up to date with the database file, on
// SQLite: it flushes on a change, and stops answering while it cannot
// tell.
func (c *scopeCache) hearSQLite(now time.Time) {
	if c.sqlite == nil {
		return
	}
	changed, err := c.sqlite.changed()
	if err != nil {
		c.heard.Store(0)
		return
	}
	if changed {
		c.flush()
	}
	c.heard.Store(now.UnixNano())
}

// close closes the news's connection.
func (n *sqliteNews) close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.query != nil {
		_ = n.query.Close()
	}
	return n.db.Close()
}
