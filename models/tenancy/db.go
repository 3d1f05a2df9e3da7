// Package tenancy is the core every model package shares: the Scope that
// proves who acts in which account (scope.go), the one system door
// (system.go), the two walls between accounts (walls.go, units.go), and
// the database they are installed on (Open, Migrate). The domain packages
// (models and those beside it) reach account-owned rows only through it.
package tenancy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/libtnb/sqlite"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
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

// Now is the clock every row is stamped with: UTC, microseconds, so that
// PostgreSQL and SQLite store and compare the same instant.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// appRole is the PostgreSQL role requests act as: it owns no table and
// cannot bypass row security (see walls.go). Migrate creates it.
const appRole = "switchboard_app"

// Open connects to dsn and installs the walls between accounts (walls.go)
// and the query counter. It does not migrate; call Migrate. On PostgreSQL
// every connection of the pool acts as appRole, so dsn's user (the tables'
// owner, who migrates) must be a member of it.
func Open(dsn string) (*gorm.DB, error) { return OpenWithConns(dsn, DefaultConns()) }

// DefaultConns is how many PostgreSQL connections a server keeps for
// requests, as pgx's own pool sizes itself: one a core, at least 4. The
// system door's pool keeps half as many.
//
// More connections than that cost more than they give. A request holds
// its connection for one round trip; with many connections each request
// wakes a PostgreSQL process of its own that had gone to sleep, while a
// few connections pass their processes from one request to the next. On
// two cores under 32 concurrent requests (make bench-http, three
// alternating runs each), 4 connections instead of 32 took a fifth to a
// third off PostgreSQL's CPU a request (API 0.16 to 0.14 ms, members 0.23
// to 0.18, index list 0.21 to 0.15), and served 14% more requests a second
// on the index list and 4% more on the API; the members page was level.
func DefaultConns() int { return max(4, runtime.NumCPU()) }

// sqliteConns is how many connections a server keeps to a SQLite file. Its
// read units take turns on them (walls.turns), as requests do on
// PostgreSQL's.
const sqliteConns = 8

// OpenWithConns is Open with conns connections for requests on PostgreSQL
// (and conns/2, at least 2, for the system door): a fleet of N servers
// holds about 1.5×N×conns of the database's max_connections.
func OpenWithConns(dsn string, conns int) (*gorm.DB, error) {
	conns = max(conns, 2)
	t := &walls{applicationWall: true}
	if DialectOf(dsn) == SQLite {
		// An in-memory database is one per connection: the news read
		// on a connection of its own would be of another database.
		if !strings.Contains(dsn, ":memory:") && !strings.Contains(dsn, "mode=memory") {
			news, err := openSQLiteNews(dsn)
			if err != nil {
				return nil, fmt.Errorf("open database: %w", err)
			}
			t.scopes.sqlite = news
		}
		t.turns = NewTurns(sqliteConns)
		news := t.scopes.sqlite
		if news == nil {
			return openPool(sqlite.Open(sqliteDSN(dsn)), t, sqliteConns, true)
		}
		// The pool's commits leave checkpoints to the news's checkpointer
		// (see keepCheckpointing).
		db, err := openPool(sqlite.Open(sqliteDSN(dsn)+"&_pragma=wal_autocheckpoint(0)"), t, sqliteConns, true)
		if err != nil {
			_ = news.close()
			return nil, err
		}
		news.keepCheckpointing(t.schema) // the pool just opened, SQLite's only one
		return db, nil
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	t.listen = cfg.Copy()
	// Every statement is prepared once per connection and kept (see
	// openPool); PostgreSQL's default then plans each execution afresh
	// (a "custom plan") whenever the plan for any parameters looks dearer,
	// as it does for every LIMIT $n: most of a statement's CPU. The
	// application's statements are scoped to one account or user, so a
	// plan made once serves every parameter.
	cfg.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	// The system door's own pool (see Door): the session user, who owns the
	// tables and migrates them.
	if t.owner, err = openPool(postgres.New(postgres.Config{Conn: stdlib.OpenDB(*cfg)}), t, max(conns/2, 2), false); err != nil {
		return nil, err
	}
	t.turns = NewTurns(conns)
	app := stdlib.OpenDB(*cfg, stdlib.OptionAfterConnect(func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "SET ROLE "+appRole)
		return err
	}))
	return openPool(postgres.New(postgres.Config{Conn: app}), t, conns, false)
}

// preparedStatements is how many prepared statements a pool keeps (the
// least recently used go): the application runs a few hundred distinct ones.
const preparedStatements = 512

// openPool opens a GORM database with the walls' callbacks, sharing t.
//
// Statements are prepared once per connection and kept, on both databases:
// on SQLite by GORM's statement cache (prepare), whose statements
// modernc.org/sqlite runs again without parsing them again (the earlier
// driver, glebarez/go-sqlite, parsed and planned every statement on every
// run: two fifths of the API's CPU); on PostgreSQL by pgx, whose default mode caches each statement's
// prepared form on its connection (512 a connection), inside the units'
// transactions too. The walls' settings (set_config, BEGIN and COMMIT)
// are text with no parameters, run as simple queries; row security is
// checked when a statement runs, with the settings of its transaction.
func openPool(dialector gorm.Dialector, t *walls, size int, prepare bool) (*gorm.DB, error) {
	db, err := gorm.Open(dialector, &gorm.Config{
		PrepareStmt:            prepare,
		PrepareStmtMaxSize:     preparedStatements,
		NowFunc:                Now,
		Logger:                 logger.Discard,
		TranslateError:         true,
		SkipDefaultTransaction: true,
		// The application's first connection needs the role Migrate
		// creates.
		DisableAutomaticPing: true,
	})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := db.Use(t); err != nil {
		return nil, err
	}
	if t.schema == nil {
		// The first pool opened (the owner's, on PostgreSQL).
		if t.schema, err = db.DB(); err != nil {
			return nil, err
		}
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	// On SQLite, one writer at a time is all it allows; a small pool keeps
	// readers concurrent while busy_timeout queues the writers.
	sqlDB.SetMaxOpenConns(size)
	sqlDB.SetMaxIdleConns(size)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	if err := installCallbacks(db); err != nil {
		return nil, err
	}
	return db, nil
}

// sqliteDSN adds the pragmas Switchboard relies on to a SQLite file path:
// foreign keys, WAL for concurrent readers, a busy timeout instead of
// "database is locked", IMMEDIATE transactions so that two writers never
// deadlock upgrading read locks, and SQLiteValueOptions.
func sqliteDSN(path string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_txlock=immediate&" + SQLiteValueOptions
}

// SQLiteValueOptions are how every connection to a Switchboard SQLite file
// (the tests' and commands' own included) writes and reads values: times as
// "2006-01-02 15:04:05.999999999-07:00", as databases made by earlier
// releases hold them, and only columns declared as times read as times, so
// that a text that merely looks like one (a name, a COALESCE) stays text.
const SQLiteValueOptions = "_time_format=sqlite&_texttotime=0&_inttotime=0"

// DialectOfDB tells which database db speaks.
func DialectOfDB(db *gorm.DB) Dialect {
	if db.Dialector.Name() == "postgres" {
		return Postgres
	}
	return SQLite
}

// WarmUp opens every connection db's pools may keep (the system door's
// too), so that a server's first busy second does not pay for them. On
// PostgreSQL a new connection is a new server process: on a two-core
// machine about 25 ms of CPU each (pgbench -C), and a burst of 32
// requests on a cold server opened 48 of them in its first second, every
// request waiting behind the others' (p99 of that second 450-750 ms, in
// make bench-http). SQLite's connections cost nothing to open; it returns
// at once there. A connection that fails to open is left for the first
// request to open (and report).
func WarmUp(ctx context.Context, db *gorm.DB) {
	if DialectOfDB(db) != Postgres {
		return
	}
	pools := []*gorm.DB{db}
	if t := wallsOf(db); t != nil && t.owner != nil {
		pools = append(pools, t.owner)
	}
	for _, pool := range pools {
		sqlDB, err := pool.DB()
		if err != nil {
			continue
		}
		// Hold each connection until all are open: one given back would
		// be taken again instead of a new one being opened.
		n := sqlDB.Stats().MaxOpenConnections
		held := make(chan *sql.Conn, n)
		var opening sync.WaitGroup
		for range n {
			opening.Go(func() {
				if c, err := sqlDB.Conn(ctx); err == nil {
					if c.PingContext(ctx) == nil {
						held <- c
						return
					}
					_ = c.Close()
				}
			})
		}
		opening.Wait()
		close(held)
		for c := range held {
			_ = c.Close()
		}
	}
}

// Close closes db's connections, the system door's included.
func Close(db *gorm.DB) error {
	if t := wallsOf(db); t != nil && t.owner != nil {
		owner := t.owner
		if sqlDB, err := owner.DB(); err == nil {
			_ = sqlDB.Close()
		}
	}
	if t := wallsOf(db); t != nil && t.scopes.sqlite != nil {
		_ = t.scopes.sqlite.close()
	}
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Migrate applies every pending migration of db's dialect.
func Migrate(ctx context.Context, db *gorm.DB) error { return MigrateTo(ctx, db, 0) }

// MigrateTo applies the pending migrations of db's dialect up to version,
// as a release that ended there would have (0: all of them). On PostgreSQL
// it migrates through a connection of its own, as dsn's user (the owner of
// the tables), and then checks that every account-owned table has row
// security: a table without it would fail open.
func MigrateTo(ctx context.Context, db *gorm.DB, version int64) error {
	t := wallsOf(db)
	defer t.forget()
	pool := db
	if t.owner != nil {
		pool = t.owner
	}
	sqlDB, err := pool.DB()
	if err != nil {
		return err
	}
	provider, err := migrationProvider(db, sqlDB, true)
	if err != nil {
		return err
	}
	if version == 0 {
		_, err = provider.Up(ctx)
	} else {
		_, err = provider.UpTo(ctx, version)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if DialectOfDB(db) == Postgres && (version == 0 || version >= rowSecurityVersion) {
		return checkRowSecurity(ctx, sqlDB)
	}
	return nil
}

// migrationProvider reads the migrations of db's dialect. With locked, on
// PostgreSQL, it holds a session advisory lock while it migrates: replicas
// that start together take turns, and each after the first finds nothing
// left to do.
func migrationProvider(db *gorm.DB, sqlDB *sql.DB, locked bool) (*goose.Provider, error) {
	dir, dialect := "sqlite", goose.DialectSQLite3
	var opts []goose.ProviderOption
	if DialectOfDB(db) == Postgres {
		dir, dialect = "postgres", goose.DialectPostgres
		if locked {
			locker, err := lock.NewPostgresSessionLocker()
			if err != nil {
				return nil, err
			}
			opts = append(opts, goose.WithSessionLocker(locker))
		}
	}
	fsys, err := fs.Sub(migrations.FS, dir)
	if err != nil {
		return nil, err
	}
	provider, err := goose.NewProvider(dialect, sqlDB, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return provider, nil
}

// migrated remembers that the database once had every migration this
// build knows: a database does not lose them again.
var migrated sync.Map

// MigrationsApplied reports whether db has every migration this build
// knows, for the readiness check.
func MigrationsApplied(ctx context.Context, db *gorm.DB) (bool, error) {
	if _, ok := migrated.Load(db); ok {
		return true, nil
	}
	t := wallsOf(db)
	pool := db
	if t != nil && t.owner != nil {
		pool = t.owner
	}
	sqlDB, err := pool.DB()
	if err != nil {
		return false, err
	}
	provider, err := migrationProvider(db, sqlDB, false)
	if err != nil {
		return false, err
	}
	pending, err := provider.HasPending(ctx)
	if err != nil {
		return false, err
	}
	if !pending {
		migrated.Store(db, true)
	}
	return !pending, nil
}

// rowSecurityVersion is the migration that put the account-owned tables
// under row security.
const rowSecurityVersion = 13

// checkRowSecurity fails when an account-owned table of the schema lacks
// forced row security or a policy for appRole: every new one needs both,
// in its migration.
func checkRowSecurity(ctx context.Context, owner *sql.DB) error {
	rows, err := owner.QueryContext(ctx, `SELECT c.relname FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'account_id' AND NOT a.attisdropped
		WHERE c.relkind IN ('r', 'p') AND NOT (c.relrowsecurity AND c.relforcerowsecurity AND EXISTS (
			SELECT 1 FROM pg_policy p JOIN pg_roles r ON r.oid = ANY (p.polroles) WHERE p.polrelid = c.oid AND r.rolname = $1))
		ORDER BY 1`, appRole)
	if err != nil {
		return err
	}
	defer rows.Close()
	var weak []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		weak = append(weak, name)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(weak) > 0 {
		return fmt.Errorf("tables with an account_id column lack forced row security or a policy for %s: %s (add both in their migration)",
			appRole, strings.Join(weak, ", "))
	}
	return nil
}

// Outage reports whether err is the database being away rather than a
// fault of the request, for a 503: ErrUnavailable; PostgreSQL ending or
// refusing the connection (SQLSTATE class 08, and 57P01–57P04: its
// shutdown, a crash, a start-up, a dropped database), which a ping a moment
// later may not show yet; or a database that does not answer a ping now.
func Outage(ctx context.Context, db *gorm.DB, err error) bool {
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, ErrUnavailable):
		return true
	case errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")):
		return true
	}
	return Ping(ctx, db) != nil
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
	// A write that is news to the scope cache (isNews) is heard of
	// (heardNews).
	news := func(update bool) func(*gorm.DB) {
		return func(db *gorm.DB) {
			if db.Error != nil || db.DryRun {
				return
			}
			if isNews(db, update) {
				heardNews(db)
			} else if isKeptNews(db) {
				heardKeptNews(db)
			}
		}
	}
	// Raw SQL read through rows may write too (INSERT … RETURNING): in a
	// transaction, what is not a SELECT is news, whatever table the rows
	// are scanned into. (Outside one, as the rate limiter's take, it must
	// not write a table the cache is read from: see Door.Write.)
	rowsWrote := func(db *gorm.DB) {
		if db.Error == nil && !db.DryRun && inTransaction(db) && !isSelect(db.Statement.SQL.String()) {
			heardNews(db)
		}
	}
	steps := []struct {
		name string
		err  error
	}{
		{"query-guard", cb.Query().Before("gorm:query").Register("switchboard:guard", guard)},
		{"update-guard", cb.Update().Before("gorm:update").Register("switchboard:guard", guard)},
		{"delete-guard", cb.Delete().Before("gorm:delete").Register("switchboard:guard", guard)},
		{"row-guard", cb.Row().Before("gorm:row").Register("switchboard:guard", guard)},
		{"raw-guard", cb.Raw().Before("gorm:raw").Register("switchboard:guard", guard)},
		{"create-guard", cb.Create().Before("gorm:create").Register("switchboard:guard", guardCreate)},
		{"query-count", cb.Query().After("gorm:query").Register("switchboard:count", count)},
		{"update-count", cb.Update().After("gorm:update").Register("switchboard:count", count)},
		{"delete-count", cb.Delete().After("gorm:delete").Register("switchboard:count", count)},
		{"create-count", cb.Create().After("gorm:create").Register("switchboard:count", count)},
		{"row-count", cb.Row().After("gorm:row").Register("switchboard:count", count)},
		{"raw-count", cb.Raw().After("gorm:raw").Register("switchboard:count", count)},
		{"update-flush", cb.Update().After("gorm:update").Register("switchboard:flush", news(true))},
		{"delete-flush", cb.Delete().After("gorm:delete").Register("switchboard:flush", news(false))},
		{"create-flush", cb.Create().After("gorm:create").Register("switchboard:flush", news(false))},
		{"raw-flush", cb.Raw().After("gorm:raw").Register("switchboard:flush", news(false))},
		{"row-flush", cb.Row().After("gorm:row").Register("switchboard:flush", rowsWrote)},
		{"query-flush", cb.Query().After("gorm:query").Register("switchboard:flush", rowsWrote)},
	}
	for _, s := range steps {
		if s.err != nil {
			return fmt.Errorf("register %s callback: %w", s.name, s.err)
		}
	}
	return nil
}

// InTx runs fn in a transaction on db: fn's error rolls it back. It opens
// no wall: statements in it still need a scope, a view or the door.
func InTx(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error) error {
	if !inTransaction(db) {
		// What the scope cache read before it commits may be stale.
		defer watchNews(db, 0)()
	}
	return db.WithContext(ctx).Transaction(fn)
}

// isSelect says whether a statement's text begins with SELECT.
func isSelect(sql string) bool {
	sql = strings.TrimLeft(sql, " \t\r\n(")
	return len(sql) >= 6 && strings.EqualFold(sql[:6], "select")
}

// NotFound maps GORM's record-not-found to ErrNotFound and leaves other
// errors as they are.
func NotFound(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	return err
}

// LockJob makes a background job's transaction wait for any other running
// the same job, across processes, until tx ends: PostgreSQL's transaction
// advisory lock. SQLite's write transactions already exclude each other.
func LockJob(tx *gorm.DB, job int64) error {
	if DialectOfDB(tx) != Postgres {
		return nil
	}
	return tx.Exec("SELECT pg_advisory_xact_lock(?)", job).Error
}

// PlanForTheseValues makes PostgreSQL plan tx's statements for the values
// they are run with. A prepared statement run often gets a generic plan,
// which guesses a range of days matches a few hundred rows and walks an
// index through what is really most of an account's rows, 2–3× slower than
// the scan a plan for the actual range picks.
func PlanForTheseValues(tx *gorm.DB) error {
	if DialectOfDB(tx) != Postgres {
		return nil
	}
	return tx.Exec("SET LOCAL plan_cache_mode = force_custom_plan").Error
}

// ForUpdate locks the rows a query reads until the transaction ends. SQLite
// has no row locks and needs none: its write transactions (IMMEDIATE, see
// sqliteDSN) already exclude each other.
func ForUpdate(tx *gorm.DB) *gorm.DB {
	if DialectOfDB(tx) == Postgres {
		return tx.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return tx
}
