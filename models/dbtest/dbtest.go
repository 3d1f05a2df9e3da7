// Package dbtest runs tests against real databases: a fresh SQLite file
// always, and a fresh PostgreSQL schema when TEST_DATABASE_URL is set. With
// CI set, an unreachable PostgreSQL fails the test instead of skipping it.
package dbtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/libtnb/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"switchboard/models"
	"switchboard/models/tenancy"
)

func init() {
	// Argon2id at full cost is most of a test suite's time; tests check
	// behaviour, not the hash's strength.
	models.UseCheapPasswordHashing()
}

// Each runs fn once per database: as subtests "sqlite" and "postgres".
func Each(t *testing.T, fn func(t *testing.T, db *gorm.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	if os.Getenv("TEST_DATABASE_URL") != "" || os.Getenv("CI") != "" {
		t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
	}
}

// SQLite opens a migrated database in a file of the test's temp folder: a
// copy of one the process migrated once (see sqliteTemplate).
func SQLite(t testing.TB) *gorm.DB {
	t.Helper()
	file, err := sqliteTemplate()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "test.db")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	return Open(t, path)
}

// sqliteTemplate is a freshly migrated SQLite database, as its file's
// bytes. Migrating takes most of a second under the race detector, on every
// test; writing a copy of the result, a millisecond. (The PostgreSQL tests
// reuse migrated schemas instead: see PostgresURL.)
var sqliteTemplate = sync.OnceValues(migratedSQLiteFile)

// migratedSQLiteFile migrates a new SQLite file and returns its bytes,
// the write-ahead log checkpointed into it.
func migratedSQLiteFile() ([]byte, error) {
	dir, err := os.MkdirTemp("", "sbtest-sqlite-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "template.db")
	db, err := tenancy.Open(path)
	if err != nil {
		return nil, err
	}
	err = tenancy.Migrate(context.Background(), db)
	if err == nil {
		err = db.Exec("PRAGMA wal_checkpoint(TRUNCATE)").Error
	}
	if cerr := tenancy.Close(db); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("migrate the SQLite test database: %w", err)
	}
	// What the log still held would be missing from the copies.
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		return nil, fmt.Errorf("the SQLite test database's log was not checkpointed (%d bytes)", fi.Size())
	}
	return os.ReadFile(path)
}

// plains maps each database the tests opened to a connection to it without
// the walls between accounts (see Plain).
var plains sync.Map

// Open opens dsn as the application does, without migrating it, and
// remembers a plain connection beside it for the test's own statements
// (Plain). Both close when the test ends.
func Open(t testing.TB, dsn string) *gorm.DB {
	t.Helper()
	// Tests run side by side on one PostgreSQL: a small pool each keeps
	// them within its max_connections.
	db, err := tenancy.OpenWithConns(dsn, testConns)
	if err != nil {
		t.Fatal(err)
	}
	dialector := postgres.Open(dsn)
	if tenancy.DialectOf(dsn) == tenancy.SQLite {
		dialector = sqlite.Open(dsn + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&" + tenancy.SQLiteValueOptions)
	}
	plain, err := gorm.Open(dialector, &gorm.Config{Logger: logger.Discard, TranslateError: true, SkipDefaultTransaction: true,
		NowFunc: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := flushWhenPlainWrites(plain, db); err != nil {
		t.Fatal(err)
	}
	plains.Store(db, plain)
	plains.Store(plain, plain)
	t.Cleanup(func() {
		closeDB(db)
		plains.Delete(db)
		plains.Delete(plain)
		if sqlDB, err := plain.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	return db
}

// Plain is db as its owner sees it (or db itself, when it is a plain one),
// without the walls between accounts:
// for the test's own statements that set a scene or check what was
// written, in any account, with raw SQL or not. The code under test gets
// db itself. A scene is set before the next request looks: db's scope
// cache forgets what it kept as each write is made (see Elsewhere for a
// change db hears of only as other servers do).
func Plain(t testing.TB, db *gorm.DB) *gorm.DB {
	t.Helper()
	if p, ok := plains.Load(db); ok {
		return p.(*gorm.DB)
	}
	if _, walled := db.Config.Plugins["switchboard:tenancy"]; !walled {
		return db // a plain one already, or a transaction of one
	}
	t.Fatal("dbtest.Plain: not a database dbtest opened")
	return nil
}

// elsewhereKey marks Elsewhere's statements.
const elsewhereKey = "dbtest:elsewhere"

// Elsewhere is Plain for a change made by another server or the operator:
// db hears of it only through PostgreSQL's notifications, as every server
// does, a moment after it commits.
func Elsewhere(t testing.TB, db *gorm.DB) *gorm.DB {
	t.Helper()
	return Plain(t, db).Set(elsewhereKey, true).Session(&gorm.Session{})
}

// flushWhenPlainWrites makes each write through plain (but Elsewhere's)
// empty db's scope cache at once.
func flushWhenPlainWrites(plain, db *gorm.DB) error {
	flush := func(tx *gorm.DB) {
		if _, elsewhere := tx.Get(elsewhereKey); !elsewhere {
			tenancy.ForgetCachedScopesForTest(db)
		}
	}
	cb := plain.Callback()
	for _, err := range []error{
		cb.Create().After("gorm:create").Register("dbtest:flush", flush),
		cb.Update().After("gorm:update").Register("dbtest:flush", flush),
		cb.Delete().After("gorm:delete").Register("dbtest:flush", flush),
		cb.Raw().After("gorm:raw").Register("dbtest:flush", flush),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// EachAt runs fn once per database, as Each does, on a database migrated
// only up to version: the schema of an earlier release, for upgrade tests
// that then call models.Migrate.
func EachAt(t *testing.T, version int64, fn func(t *testing.T, db *gorm.DB)) {
	t.Helper()
	at := func(t *testing.T, db *gorm.DB) *gorm.DB {
		if err := tenancy.MigrateTo(context.Background(), db, version); err != nil {
			t.Fatal(err)
		}
		return db
	}
	t.Run("sqlite", func(t *testing.T) {
		fn(t, at(t, Open(t, filepath.Join(t.TempDir(), "test.db"))))
	})
	if os.Getenv("TEST_DATABASE_URL") != "" || os.Getenv("CI") != "" {
		t.Run("postgres", func(t *testing.T) {
			fn(t, at(t, Open(t, EmptyPostgresURL(t))))
		})
	}
}

var schemaSeq atomic.Int64

// testConns is the size of a test database's pool for requests.
const testConns = 8

// EmptyPostgresURL creates a schema of TEST_DATABASE_URL with nothing in it,
// not even migrations, dropped when the test ends, and returns a connection
// string that uses it.
func EmptyPostgresURL(t testing.TB) string {
	t.Helper()
	admin := postgresAdmin(t)
	schema := fmt.Sprintf("sbtest_%d_%d", os.Getpid(), schemaSeq.Add(1))
	if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE") })
	return schemaURL(os.Getenv("TEST_DATABASE_URL"), schema)
}

// Postgres opens a migrated, empty schema of TEST_DATABASE_URL (see
// PostgresURL).
func Postgres(t testing.TB) *gorm.DB {
	t.Helper()
	return Open(t, PostgresURL(t))
}

// PostgresURL lends the test a migrated, empty schema of TEST_DATABASE_URL
// and returns a connection string that uses it, for tests that open their
// own connections. Migrating a schema takes most of a second, so schemas
// are reused: when the test ends its tables are emptied and the schema goes
// back to the process's pool.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin := postgresAdmin(t)
	base := os.Getenv("TEST_DATABASE_URL")
	schema, err := takeSchema(base, admin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := emptySchema(admin, schema); err != nil {
			t.Errorf("empty test schema: %v", err)
			return
		}
		schemaPool.Lock()
		schemaPool.free = append(schemaPool.free, schema)
		schemaPool.Unlock()
	})
	return schemaURL(base, schema)
}

// postgresAdmin is the connection that creates test schemas. Without a
// reachable TEST_DATABASE_URL the test is skipped (an empty one asks for
// SQLite only), or fails when CI is set.
func postgresAdmin(t testing.TB) *gorm.DB {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but TEST_DATABASE_URL is not: the PostgreSQL tests must run in CI")
		}
		t.Skip("TEST_DATABASE_URL is empty: testing on SQLite only")
	}
	admin, err := adminDB(base)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL at TEST_DATABASE_URL does not answer: %v", err)
		}
		t.Skipf("PostgreSQL at TEST_DATABASE_URL does not answer (%v); skipping outside CI", err)
	}
	return admin
}

var (
	adminOnce  sync.Once
	admin      *gorm.DB
	adminErr   error
	schemaPool struct {
		sync.Mutex
		free []string
	}
)

// adminDB is the process's connection to TEST_DATABASE_URL for creating
// and emptying schemas; on first use it drops schemas left behind by test
// processes that are gone.
func adminDB(base string) (*gorm.DB, error) {
	adminOnce.Do(func() {
		// As the owner, past the walls between accounts: it empties
		// schemas.
		admin, adminErr = gorm.Open(postgres.Open(schemaURL(base, "public")), &gorm.Config{Logger: logger.Discard})
		if adminErr == nil {
			adminErr = tenancy.Ping(context.Background(), admin)
		}
		if adminErr != nil {
			return
		}
		var schemas []string
		admin.Raw(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'sbtest\_%'`).Scan(&schemas)
		for _, s := range schemas {
			var pid int
			if _, err := fmt.Sscanf(s, "sbtest_%d_", &pid); err == nil && pid != os.Getpid() && syscall.Kill(pid, 0) != nil {
				admin.Exec("DROP SCHEMA IF EXISTS " + s + " CASCADE")
			}
		}
	})
	return admin, adminErr
}

func takeSchema(base string, admin *gorm.DB) (string, error) {
	schemaPool.Lock()
	if n := len(schemaPool.free); n > 0 {
		s := schemaPool.free[n-1]
		schemaPool.free = schemaPool.free[:n-1]
		schemaPool.Unlock()
		return s, nil
	}
	schemaPool.Unlock()
	schema := fmt.Sprintf("sbtest_%d_%d", os.Getpid(), schemaSeq.Add(1))
	if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		return "", err
	}
	db, err := tenancy.Open(schemaURL(base, schema))
	if err != nil {
		return "", err
	}
	defer closeDB(db)
	return schema, tenancy.Migrate(context.Background(), db)
}

// emptySchema deletes every row of the schema's tables but the migrations'
// record. DELETE with foreign-key triggers off is much faster than TRUNCATE
// on tables this small.
func emptySchema(admin *gorm.DB, schema string) error {
	var tables []string
	if err := admin.Raw(`SELECT tablename FROM pg_tables WHERE schemaname = ? AND tablename <> 'goose_db_version'`, schema).Scan(&tables).Error; err != nil {
		return err
	}
	return admin.Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("SET LOCAL session_replication_role = replica").Error; err != nil {
			return err
		}
		for _, tbl := range tables {
			if err := tx.Exec("DELETE FROM " + schema + "." + tbl).Error; err != nil {
				return err
			}
		}
		return nil
	})
}

func schemaURL(base, schema string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	q := u.Query()
	q.Set("search_path", schema)
	// Tests do not need their commits on disk before they go on.
	q.Set("synchronous_commit", "off")
	u.RawQuery = q.Encode()
	return u.String()
}

func closeDB(db *gorm.DB) { _ = tenancy.Close(db) }

var seq atomic.Int64

// Unique returns a string no other call in this process returns.
func Unique(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, seq.Add(1))
}

// Password is every factory user's password.
const Password = "correct horse battery staple"

// User signs up a new user with a unique name and email and returns them
// with their personal account's scope.
func User(t testing.TB, db *gorm.DB) (models.User, tenancy.Scope) {
	t.Helper()
	n := Unique("")
	return UserNamed(t, db, "Test User"+n, "user"+n+"@example.com")
}

// UserNamed signs up a user with the given name and email.
func UserNamed(t testing.TB, db *gorm.DB, name, email string) (models.User, tenancy.Scope) {
	t.Helper()
	ctx := context.Background()
	u, _, err := models.SignUp(ctx, db, models.SignUpInput{Name: name, Email: email, Password: Password})
	if err != nil {
		t.Fatalf("sign up %s: %v", email, err)
	}
	scope, err := tenancy.PersonalScope(ctx, db, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return u, scope
}

// Org creates an organization with a unique name, administered by owner,
// and returns the owner's scope in it.
func Org(t testing.TB, db *gorm.DB, owner models.User) tenancy.Scope {
	t.Helper()
	ctx := context.Background()
	acct, err := models.CreateOrganization(ctx, db, owner.ID, Unique("Org "))
	if err != nil {
		t.Fatalf("create organization: %v", err)
	}
	scope, err := tenancy.LoadScope(ctx, db, owner.ID, acct.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	return scope
}

// AddMember makes user a member of the scope's account with role, as an
// accepted invitation would, and returns their scope there.
func AddMember(t testing.TB, db *gorm.DB, in tenancy.Scope, user models.User, role tenancy.Role) tenancy.Scope {
	t.Helper()
	ctx := context.Background()
	if err := Plain(t, db).Create(&tenancy.Membership{AccountID: in.AccountID(), UserID: user.ID, Role: role}).Error; err != nil {
		t.Fatalf("add member: %v", err)
	}
	scope, err := tenancy.LoadScope(ctx, db, user.ID, in.Account().PublicID)
	if err != nil {
		t.Fatal(err)
	}
	return scope
}

// WantIndexCountsExact fails t unless every row of index_counts (the
// maintained index counts, migration 00014) equals a real count of the
// indexes it stands for, and every such group of indexes has its row.
func WantIndexCountsExact(t testing.TB, db *gorm.DB) {
	t.Helper()
	type row struct {
		AccountID, ViewerID, N int64
	}
	var kept, counted []row
	plain := Plain(t, db)
	if err := plain.Raw("SELECT account_id, viewer_id, n FROM index_counts WHERE n <> 0 ORDER BY 1, 2").Scan(&kept).Error; err != nil {
		t.Fatal(err)
	}
	if err := plain.Raw(`SELECT account_id, CASE WHEN visibility = 'private' THEN COALESCE(created_by_id, -1) ELSE 0 END AS viewer_id,
		COUNT(*) AS n FROM indexes GROUP BY 1, 2 ORDER BY 1, 2`).Scan(&counted).Error; err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(kept) != fmt.Sprint(counted) {
		t.Errorf("index_counts (account, viewer, n) = %v, but the indexes count %v", kept, counted)
	}
}
