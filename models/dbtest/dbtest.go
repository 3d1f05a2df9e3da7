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
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
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

// SQLite opens a migrated database in a file of the test's temp folder.
func SQLite(t testing.TB) *gorm.DB {
	t.Helper()
	db, err := models.Open(filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	return migrated(t, db)
}

var schemaSeq atomic.Int64

// Postgres opens a migrated database in a new schema of TEST_DATABASE_URL,
// dropped when the test ends.
func Postgres(t testing.TB) *gorm.DB {
	t.Helper()
	db, err := models.Open(PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	return migrated(t, db)
}

// PostgresURL creates a new, empty schema in TEST_DATABASE_URL (dropped when
// the test ends) and returns a connection string that uses it, for tests
// that open their own connections.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		t.Fatal("CI is set but TEST_DATABASE_URL is not: the PostgreSQL tests must run in CI")
	}
	admin, err := models.Open(base)
	if err == nil {
		err = models.Ping(context.Background(), admin)
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL at TEST_DATABASE_URL does not answer: %v", err)
		}
		t.Skipf("PostgreSQL at TEST_DATABASE_URL does not answer (%v); skipping outside CI", err)
	}
	schema := fmt.Sprintf("sbtest_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, schemaSeq.Add(1))
	if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := admin.Exec("DROP SCHEMA " + schema + " CASCADE").Error; err != nil {
			t.Errorf("drop test schema: %v", err)
		}
		closeDB(admin)
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	// Tests do not need their commits on disk before they go on: without
	// waiting for fsync, a suite with hundreds of schemas runs in a
	// fraction of the time.
	q.Set("synchronous_commit", "off")
	u.RawQuery = q.Encode()
	return u.String()
}

func migrated(t testing.TB, db *gorm.DB) *gorm.DB {
	t.Helper()
	t.Cleanup(func() { closeDB(db) })
	if err := models.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return db
}

func closeDB(db *gorm.DB) {
	if sqlDB, err := db.DB(); err == nil {
		_ = sqlDB.Close()
	}
}

var seq atomic.Int64

// Unique returns a string no other call in this process returns.
func Unique(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, seq.Add(1))
}

// Password is every factory user's password.
const Password = "correct horse battery staple"

// User signs up a new user with a unique name and email and returns them
// with their personal account's scope.
func User(t testing.TB, db *gorm.DB) (models.User, models.Scope) {
	t.Helper()
	n := Unique("")
	return UserNamed(t, db, "Test User"+n, "user"+n+"@example.com")
}

// UserNamed signs up a user with the given name and email.
func UserNamed(t testing.TB, db *gorm.DB, name, email string) (models.User, models.Scope) {
	t.Helper()
	ctx := context.Background()
	u, _, err := models.SignUp(ctx, db, models.SignUpInput{Name: name, Email: email, Password: Password})
	if err != nil {
		t.Fatalf("sign up %s: %v", email, err)
	}
	scope, err := models.PersonalScope(ctx, db, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return u, scope
}

// Org creates an organization with a unique name, administered by owner,
// and returns the owner's scope in it.
func Org(t testing.TB, db *gorm.DB, owner models.User) models.Scope {
	t.Helper()
	ctx := context.Background()
	acct, err := models.CreateOrganization(ctx, db, owner.ID, Unique("Org "))
	if err != nil {
		t.Fatalf("create organization: %v", err)
	}
	scope, err := models.LoadScope(ctx, db, owner.ID, acct.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	return scope
}

// AddMember makes user a member of the scope's account with role, as an
// accepted invitation would, and returns their scope there.
func AddMember(t testing.TB, db *gorm.DB, in models.Scope, user models.User, role models.Role) models.Scope {
	t.Helper()
	ctx := context.Background()
	if err := db.Create(&models.Membership{AccountID: in.AccountID(), UserID: user.ID, Role: role}).Error; err != nil {
		t.Fatalf("add member: %v", err)
	}
	scope, err := models.LoadScope(ctx, db, user.ID, in.Account().PublicID)
	if err != nil {
		t.Fatal(err)
	}
	return scope
}
