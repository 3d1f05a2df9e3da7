package tenancy

import (
	"context"

	"gorm.io/gorm"
)

// Door is the system's authority: the one way to act outside a user's
// scope. The application uses it for what no user asks for (background
// jobs, the operator's commands) and for what happens before a user is
// known (looking up a session's, a key's or an invitation's secret, the SSO
// endpoints). Its statements pass wall 1, raw SQL included, and on
// PostgreSQL run with row security bypassed. TestSystemDoorCallSites lists
// every place that opens it, so a new one is a visible change.
type Door struct{ reason string }

// System opens the door, saying why.
func System(reason string) Door { return Door{reason} }

// Do runs fn with the door's authority, without a transaction of its own:
// on PostgreSQL through the owner's pool, past row security, or, inside a
// transaction already, as the owner until fn returns.
func (d Door) Do(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error) error {
	return runUnit(ctx, d.pool(db), unit{door: true}, false, doorAuthority(d), fn)
}

// Write is Do for a statement that writes on its own, outside a
// transaction (the rate limiter's take): on SQLite it runs in this
// process's turn to write (enterSQLiteWrite), as a write transaction does.
// Unlike Tx it leaves the scope cache alone: its table must not be one the
// cache keeps (scopeCacheTables).
func (d Door) Write(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error) error {
	if DialectOfDB(db) != Postgres && !inTransaction(db) {
		leave, err := enterSQLiteWrite(ctx, d.pool(db))
		if err != nil {
			return err
		}
		defer leave()
	}
	return d.Do(ctx, db, fn)
}

// Tx runs fn with the door's authority in a transaction.
func (d Door) Tx(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error) error {
	return runUnit(ctx, d.pool(db), unit{door: true}, true, doorAuthority(d), fn)
}

// pool is where the door's statements run: a transaction db is in already,
// else the owner's pool (PostgreSQL) or db itself (SQLite).
func (Door) pool(db *gorm.DB) *gorm.DB {
	if owner := wallsOf(db).owner; owner != nil && !inTransaction(db) {
		return owner
	}
	return db
}

// In is the system acting in one account as its administrator would
// (closing its month, handing over a departing member's indexes): a scope
// whose statements are still restricted to the account by wall 1, and run
// past row security.
func (d Door) In(a Account) Scope { return Scope{account: a, role: RoleAdmin, door: d.reason} }
