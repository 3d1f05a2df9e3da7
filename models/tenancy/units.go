package tenancy

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strconv"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// unit is who a transaction acts for on PostgreSQL: an account and a user
// under row security, or the system door past it.
type unit struct {
	account, user int64
	door          bool
}

// enter makes tx (a transaction) act for u, for the rest of the
// transaction or until the next enter.
func enter(tx *gorm.DB, u unit) error {
	sqlTx, ok := tx.Statement.ConnPool.(interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	})
	if !ok {
		return fmt.Errorf("enter a unit of work outside a transaction")
	}
	ctx := tx.Statement.Context
	if u.door {
		_, err := sqlTx.ExecContext(ctx, "SET LOCAL ROLE NONE")
		return err
	}
	_, err := sqlTx.ExecContext(ctx, unitSettings, idSetting(u.account), idSetting(u.user))
	return err
}

func idSetting(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

// inTransaction reports whether db runs in a transaction.
func inTransaction(db *gorm.DB) bool {
	_, ok := db.Statement.ConnPool.(gorm.TxCommitter)
	return ok
}

// readTurnKey marks a SQLite read unit's statements, and the units nested
// in it, as holding a turn on the pool (walls.turns): a nested unit waiting
// for a second turn could wait for good. The door's reads take none, so
// that the door's writes outside a transaction (Door.Write), which hold
// the turn to write, never wait on a read while a read waits on them.
const readTurnKey = "switchboard:read_turn"

// units holds the unit each open transaction acts for (PostgreSQL), by the
// transaction's connection: a statement's settings may be lost (a new
// session), the transaction's are not.
var units sync.Map

// runUnit runs fn as u. On PostgreSQL it is a transaction that acts for u
// (inside one already, u holds until fn returns); on SQLite, a transaction
// only when write is set (SQLite's write transactions exclude each other,
// so reads run without one). authority marks every statement fn makes
// through the tx it is given (nil: none; statements take a scope's).
func runUnit(ctx context.Context, db *gorm.DB, u unit, write bool, authority any, fn func(tx *gorm.DB) error) error {
	if inTransaction(db) || !write {
		return runUnitOnce(ctx, db, u, write, authority, fn)
	}
	// A write commits here (or, failing, may have): what the scope cache
	// read before it may be stale, and so may the kept answers of the
	// unit's account (the door's: of every account).
	account := u.account
	if u.door {
		account = 0
	}
	defer watchNews(db, account)()
	return runUnitOnce(ctx, db, u, write, authority, fn)
}

func runUnitOnce(ctx context.Context, db *gorm.DB, u unit, write bool, authority any, fn func(tx *gorm.DB) error) error {
	pg := DialectOfDB(db) == Postgres
	// Every unit starts with its own authority (none but the door's): a
	// scope's unit inside the door's does not inherit the door.
	mark := func(tx *gorm.DB) *gorm.DB {
		return tx.Set(authorityKey, authority).Session(&gorm.Session{})
	}
	if inTransaction(db) {
		if !pg {
			return fn(mark(db))
		}
		pool := db.Statement.ConnPool
		outer, had := units.Load(pool)
		prev, _ := outer.(unit)
		if prev == u {
			return fn(mark(db))
		}
		if t := wallsOf(db); t != nil && (u.account != prev.account || u.door) {
			// The outer unit's watch forgets its own account's kept
			// answers only: this one may write another's.
			t.scopes.unitsOfOtherAccounts.Add(1)
		}
		if err := enter(db, u); err != nil {
			return err
		}
		units.Store(pool, u)
		err := fn(mark(db))
		if rerr := enter(db, prev); err == nil {
			err = rerr
		}
		if had {
			units.Store(pool, prev)
		} else {
			units.Delete(pool)
		}
		return err
	}
	if (!pg || u.door) && !write {
		// SQLite reads need no transaction; nor do the door's reads on
		// PostgreSQL, which run on the owner's pool.
		tx := db.WithContext(ctx)
		if t := wallsOf(db); t != nil && !pg && !u.door {
			if _, held := db.Get(readTurnKey); !held {
				if err := t.turns.Take(ctx); err != nil {
					return err
				}
				defer t.turns.Give()
				tx = tx.Set(readTurnKey, true)
			}
		}
		return fn(mark(tx))
	}
	if pg && !u.door {
		return inUnitTx(ctx, db, u, func(tx *gorm.DB) error { return fn(mark(tx)) })
	}
	// SQLite's writes; the door's transactions, which run on the owner's
	// pool, as the owner already.
	if !pg {
		leave, err := enterSQLiteWrite(ctx, db)
		if err != nil {
			return err
		}
		defer leave()
	}
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if pg {
			pool := tx.Statement.ConnPool
			units.Store(pool, u)
			defer units.Delete(pool)
		}
		return fn(mark(tx))
	})
}

// inUnitTx runs fn in a transaction of db's pool that acts for u. The
// transaction begins and takes its settings in one round trip (a simple
// query of two statements; the settings are numbers, written as literals).
func inUnitTx(ctx context.Context, db *gorm.DB, u unit, fn func(tx *gorm.DB) error) (err error) {
	t := wallsOf(db)
	conn, err := t.appConn(ctx, db)
	if err != nil {
		return err
	}
	defer t.turns.Give()
	uc := &unitConn{conn: conn}
	begin := "BEGIN; SELECT set_config('role', '" + appRole + "', true), set_config('switchboard.account_id', '" + idSetting(u.account) +
		"', true), set_config('switchboard.user_id', '" + idSetting(u.user) + "', true)"
	if _, err := conn.ExecContext(ctx, begin); err != nil {
		uc.discard(ctx)
		return err
	}
	var pool gorm.ConnPool = uc
	units.Store(pool, u)
	defer units.Delete(pool)
	tx := db.Session(&gorm.Session{NewDB: true, Context: ctx})
	tx.Statement.ConnPool = uc
	done := false
	defer func() {
		if !done {
			uc.end(ctx, "ROLLBACK")
		}
	}()
	if err = fn(tx); err != nil {
		done = true
		uc.end(ctx, "ROLLBACK")
		return err
	}
	done = true
	return uc.end(ctx, "COMMIT")
}

// unitConn is a unit's transaction: one connection of the pool, begun by
// inUnitTx. To GORM it is a transaction (it commits), so that a nested
// Transaction takes a savepoint in it.
type unitConn struct{ conn *sql.Conn }

func (u *unitConn) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return u.conn.PrepareContext(ctx, query)
}

func (u *unitConn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return u.conn.ExecContext(ctx, query, args...)
}

func (u *unitConn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return u.conn.QueryContext(ctx, query, args...)
}

func (u *unitConn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return u.conn.QueryRowContext(ctx, query, args...)
}

// Commit and Rollback are inUnitTx's to call: GORM only needs to know that
// this is a transaction.
func (u *unitConn) Commit() error   { return errUnitEnd }
func (u *unitConn) Rollback() error { return errUnitEnd }

var errUnitEnd = fmt.Errorf("a unit of work's transaction ends with its unit")

// end commits or rolls back, and gives the connection back to the pool; a
// connection whose transaction did not end cleanly is closed instead, so
// that no setting outlives its unit.
func (u *unitConn) end(ctx context.Context, verb string) error {
	_, err := u.conn.ExecContext(context.WithoutCancel(ctx), verb)
	if err != nil {
		u.discard(ctx)
		return err
	}
	return u.conn.Close()
}

// discard closes the connection for good rather than pooling it.
func (u *unitConn) discard(context.Context) {
	_ = u.conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = u.conn.Close()
}

// Read runs fn as the scope's unit of work for reading: on PostgreSQL a
// transaction that acts for the scope's account and user under row
// security, on SQLite no transaction. fn marks its statements with s.Apply
// (or s.Mark). A zero scope runs nothing and returns ErrUnscoped.
func (s Scope) Read(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error) error {
	return s.unit(ctx, db, false, fn)
}

// Write is Read in a transaction on both databases, for statements that
// change rows: fn's error rolls everything back.
func (s Scope) Write(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error) error {
	return s.unit(ctx, db, true, fn)
}

func (s Scope) unit(ctx context.Context, db *gorm.DB, write bool, fn func(tx *gorm.DB) error) error {
	if s.IsZero() {
		return ErrUnscoped
	}
	if s.door != "" {
		// The system acting in one account: past row security, restricted
		// to the account by s.Apply.
		return runUnit(ctx, Door{}.pool(db), unit{door: true}, write, nil, fn)
	}
	return runUnit(ctx, db, unit{account: s.account.ID, user: s.userID}, write, nil, fn)
}

// Apply restricts db to the scope's account (on the statement's own table)
// and gives the statement the scope's authority; inserts through it take
// the scope's account_id, whatever the struct holds. On a zero scope the
// statement fails with ErrUnscoped.
func (s Scope) Apply(db *gorm.DB) *gorm.DB {
	if s.IsZero() {
		_ = db.AddError(ErrUnscoped)
		return db
	}
	db = db.Set(authorityKey, scopeAuthority{account: s.account.ID, user: s.userID})
	if !wallsOf(db).wallOn() {
		return db
	}
	return db.Where(clause.Eq{
		Column: clause.Column{Table: clause.CurrentTable, Name: "account_id"},
		Value:  s.account.ID,
	})
}

// Mark gives a statement that names the scope's account-owned tables only
// in its joins (restricted there to the account) the scope's authority,
// without restricting its own table. On a zero scope the statement fails
// with ErrUnscoped.
func (s Scope) Mark(db *gorm.DB) *gorm.DB {
	if s.IsZero() {
		_ = db.AddError(ErrUnscoped)
		return db
	}
	return db.Set(authorityKey, scopeAuthority{account: s.account.ID, user: s.userID})
}

// UserView is a user's view of their own rows in every account: their
// memberships, the identities they linked. Its zero value reads nothing.
type UserView struct{ user int64 }

// ViewOf is the user's view of their own rows; it checks nothing, as it
// opens nothing but the user's own rows.
func ViewOf(userID int64) UserView { return UserView{userID} }

// Read runs fn as the user's unit of work: no account, their own rows.
// The zero view returns ErrUnscoped.
func (v UserView) Read(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error) error {
	if v.user == 0 {
		return ErrUnscoped
	}
	return runUnit(ctx, db, unit{user: v.user}, false, nil, fn)
}

// Apply restricts db to the user's rows (of the statement's own table,
// one of userVisible) and gives it the user's authority.
func (v UserView) Apply(db *gorm.DB) *gorm.DB {
	db = db.Set(authorityKey, userAuthority(v))
	if !wallsOf(db).wallOn() {
		return db
	}
	return db.Where(clause.Eq{Column: clause.Column{Table: clause.CurrentTable, Name: "user_id"}, Value: v.user})
}

// Mark gives a statement that names user-visible tables only in its joins
// (restricted there to the user) the user's authority.
func (v UserView) Mark(db *gorm.DB) *gorm.DB {
	return db.Set(authorityKey, userAuthority(v))
}

// SQLite lets one writer in at a time, and makes the others wait in its
// busy handler, which sleeps in steps of up to 100 ms and wakes whether or
// not the writer is done: a rate-limit take waiting behind the usage
// recorder's writes waited tens of milliseconds more than they took (the
// API's p99 on SQLite: 70 ms, against 19 without them). This process's
// write transactions on one database take turns here instead, where the
// next is let in as soon as the last is done, in the order they came. Other
// processes are still kept apart by SQLite's lock.

// sqliteWriters holds a turn (turns of one) per database pool.
var sqliteWriters sync.Map // *sql.DB → turns

// sqliteWriteWait is how long a write waits for its turn: SQLite's own
// busy_timeout. Past it, the write goes to SQLite as it would have without
// turns, and SQLite answers (a write still waiting on the lock fails with
// "database is locked").
const sqliteWriteWait = 10 * time.Second

// enterSQLiteWrite waits for the turn of db's pool to write; leave ends it.
func enterSQLiteWrite(ctx context.Context, db *gorm.DB) (leave func(), err error) {
	pool, err := db.DB()
	if err != nil {
		return func() {}, nil // the transaction reports it
	}
	v, ok := sqliteWriters.Load(pool)
	if !ok {
		v, _ = sqliteWriters.LoadOrStore(pool, NewTurns(1))
	}
	turn := v.(Turns)
	wait, cancel := context.WithTimeout(ctx, sqliteWriteWait)
	defer cancel()
	if err := turn.Take(wait); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return func() {}, nil // waited long enough: SQLite's lock decides
	}
	return turn.Give, nil
}
