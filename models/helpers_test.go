package models_test

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// life is the session lifetime the session tests use.
var life = models.SessionLifetime{Idle: time.Hour, Absolute: 24 * time.Hour}

// tables are every table of the foundation, counted to prove that a refused
// call wrote nothing.
var tables = []string{"users", "accounts", "memberships", "sessions", "email_tokens", "audit_events"}

// rowCounts is the number of rows of each table.
type rowCounts map[string]int64

// countRows counts a table's rows with raw SQL, which the scope guard does not
// inspect, so that audit_events can be counted too.
func countRows(t *testing.T, db *gorm.DB, table, where string, args ...any) int64 {
	t.Helper()
	q := "SELECT COUNT(*) FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	var n int64
	if err := dbtest.Plain(t, db).Raw(q, args...).Scan(&n).Error; err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func countAll(t *testing.T, db *gorm.DB) rowCounts {
	t.Helper()
	c := rowCounts{}
	for _, table := range tables {
		c[table] = countRows(t, db, table, "")
	}
	return c
}

// wantNothingWritten fails unless every table holds as many rows as before.
func wantNothingWritten(t *testing.T, db *gorm.DB, before rowCounts) {
	t.Helper()
	after := countAll(t, db)
	for _, table := range tables {
		if before[table] != after[table] {
			t.Errorf("%s: %d rows before, %d after; want nothing written", table, before[table], after[table])
		}
	}
}

// wantFields fails unless err is a FieldErrors holding exactly keys, each
// with a message.
func wantFields(t *testing.T, err error, keys ...string) {
	t.Helper()
	fe, ok := tenancy.AsFieldErrors(err)
	if !ok {
		t.Fatalf("error %v (%T), want FieldErrors on %v", err, err, keys)
	}
	got := make([]string, 0, len(fe))
	for k, msg := range fe {
		got = append(got, k)
		if strings.TrimSpace(msg) == "" {
			t.Errorf("field %q has an empty message", k)
		}
	}
	sort.Strings(got)
	want := append([]string(nil), keys...)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("FieldErrors on %v (%v), want on %v", got, fe, want)
	}
}

// wantIs fails unless errors.Is(err, target).
func wantIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// reloadUser reads the user's row again.
func reloadUser(t *testing.T, db *gorm.DB, id int64) models.User {
	t.Helper()
	u, err := models.GetUser(t.Context(), db, id)
	must(t, err)
	return u
}

// reloadAccount reads the account's row again.
func reloadAccount(t *testing.T, db *gorm.DB, id int64) tenancy.Account {
	t.Helper()
	var a tenancy.Account
	must(t, dbtest.Plain(t, db).Take(&a, id).Error)
	return a
}

// membershipRole is the user's role in the account, or "" without one.
func membershipRole(t *testing.T, db *gorm.DB, accountID, userID int64) tenancy.Role {
	t.Helper()
	var ms []tenancy.Membership
	must(t, dbtest.Plain(t, db).Where("account_id = ? AND user_id = ?", accountID, userID).Find(&ms).Error)
	if len(ms) == 0 {
		return ""
	}
	return ms[0].Role
}

// utc is now in UTC at microsecond precision, as models stamps rows.
func utc() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
