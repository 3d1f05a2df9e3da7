// Package models is the only package that speaks SQL: GORM structs, queries,
// domain rules and transactions. Account-owned data is reachable only through
// functions that take a Scope; see scope.go.
package models

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync/atomic"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/pressly/goose/v3"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	"switchboard/migrations"
)

// Dialect names the database behind a *gorm.DB.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// DialectOf tells which database dsn points at: a postgres:// or
// postgresql:// URL is PostgreSQL, anything else a SQLite file.
func DialectOf(dsn string) Dialect {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return Postgres
	}
	return SQLite
}

// now is the clock every row is stamped with: UTC, microseconds, so that
// PostgreSQL and SQLite store and compare the same instant.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Open connects to dsn and installs the scope guard and query counter.
// It does not migrate; call Migrate.
func Open(dsn string) (*gorm.DB, error) {
	var dialector gorm.Dialector
	switch DialectOf(dsn) {
	case Postgres:
		dialector = postgres.Open(dsn)
	default:
		dialector = sqlite.Open(sqliteDSN(dsn))
	}
	db, err := gorm.Open(dialector, &gorm.Config{
		NowFunc:                now,
		Logger:                 logger.Discard,
		TranslateError:         true,
		SkipDefaultTransaction: true,
	})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	if DialectOf(dsn) == SQLite {
		// One writer at a time is all SQLite allows; a small pool keeps
		// readers concurrent while busy_timeout queues the writers.
		sqlDB.SetMaxOpenConns(8)
	} else {
		sqlDB.SetMaxOpenConns(32)
		sqlDB.SetMaxIdleConns(32)
	}
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	if err := installCallbacks(db); err != nil {
		return nil, err
	}
	return db, nil
}

// sqliteDSN adds the pragmas Switchboard relies on to a SQLite file path:
// foreign keys, WAL for concurrent readers, a busy timeout instead of
// "database is locked", and IMMEDIATE transactions so that two writers never
// deadlock upgrading read locks.
func sqliteDSN(path string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// DialectOfDB tells which database db speaks.
func DialectOfDB(db *gorm.DB) Dialect {
	if db.Dialector.Name() == "postgres" {
		return Postgres
	}
	return SQLite
}

// Migrate applies every pending migration of db's dialect.
func Migrate(ctx context.Context, db *gorm.DB) error { return MigrateTo(ctx, db, 0) }

// MigrateTo applies the pending migrations of db's dialect up to version,
// as a release that ended there would have (0: all of them).
func MigrateTo(ctx context.Context, db *gorm.DB, version int64) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	dir, dialect := "sqlite", goose.DialectSQLite3
	if DialectOfDB(db) == Postgres {
		dir, dialect = "postgres", goose.DialectPostgres
	}
	fsys, err := fs.Sub(migrations.FS, dir)
	if err != nil {
		return err
	}
	provider, err := goose.NewProvider(dialect, sqlDB, fsys)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if version == 0 {
		_, err = provider.Up(ctx)
	} else {
		_, err = provider.UpTo(ctx, version)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Ping reports whether the database answers within a second.
func Ping(ctx context.Context, db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// queries counts every statement GORM runs, for benchmarks that report SQL
// queries per request.
var queries atomic.Int64

// QueryCount is the number of statements run since the process started.
func QueryCount() int64 { return queries.Load() }

func installCallbacks(db *gorm.DB) error {
	cb := db.Callback()
	count := func(db *gorm.DB) {
		// A subquery is rendered through the query callbacks in dry-run
		// mode: it is part of its statement, not a round trip of its own.
		if !db.DryRun {
			queries.Add(1)
		}
	}
	steps := []struct {
		name string
		err  error
	}{
		{"query-guard", cb.Query().Before("gorm:query").Register("switchboard:scope_guard", guardScope)},
		{"update-guard", cb.Update().Before("gorm:update").Register("switchboard:scope_guard", guardScope)},
		{"delete-guard", cb.Delete().Before("gorm:delete").Register("switchboard:scope_guard", guardScope)},
		{"row-guard", cb.Row().Before("gorm:row").Register("switchboard:scope_guard", guardScope)},
		{"create-guard", cb.Create().Before("gorm:create").Register("switchboard:scope_guard", guardCreate)},
		{"query-count", cb.Query().After("gorm:query").Register("switchboard:count", count)},
		{"update-count", cb.Update().After("gorm:update").Register("switchboard:count", count)},
		{"delete-count", cb.Delete().After("gorm:delete").Register("switchboard:count", count)},
		{"create-count", cb.Create().After("gorm:create").Register("switchboard:count", count)},
		{"row-count", cb.Row().After("gorm:row").Register("switchboard:count", count)},
		{"raw-count", cb.Raw().After("gorm:raw").Register("switchboard:count", count)},
	}
	for _, s := range steps {
		if s.err != nil {
			return fmt.Errorf("register %s callback: %w", s.name, s.err)
		}
	}
	return nil
}

// inTx runs fn in a transaction on db.
func inTx(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error) error {
	return db.WithContext(ctx).Transaction(fn)
}

// notFound maps GORM's record-not-found to ErrNotFound and leaves other
// errors as they are.
func notFound(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	return err
}

// jobSnapshotStorage is SnapshotStorage's key for lockJob.
const jobSnapshotStorage int64 = 1

// lockJob makes a background job's transaction wait for any other running
// the same job, across processes, until tx ends: PostgreSQL's transaction
// advisory lock. SQLite's write transactions already exclude each other.
func lockJob(tx *gorm.DB, job int64) error {
	if DialectOfDB(tx) != Postgres {
		return nil
	}
	return tx.Exec("SELECT pg_advisory_xact_lock(?)", job).Error
}

// planForTheseValues makes PostgreSQL plan tx's statements for the values
// they are run with. A prepared statement run often gets a generic plan,
// which guesses a range of days matches a few hundred rows and walks an
// index through what is really most of an account's rows, 2–3× slower than
// the scan a plan for the actual range picks.
func planForTheseValues(tx *gorm.DB) error {
	if DialectOfDB(tx) != Postgres {
		return nil
	}
	return tx.Exec("SET LOCAL plan_cache_mode = force_custom_plan").Error
}

// forUpdate locks the rows a query reads until the transaction ends. SQLite
// has no row locks and needs none: its write transactions (IMMEDIATE, see
// sqliteDSN) already exclude each other.
func forUpdate(tx *gorm.DB) *gorm.DB {
	if DialectOfDB(tx) == Postgres {
		return tx.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return tx
}
