package demo_test

import (
	"errors"
	"testing"

	"gorm.io/gorm"

	"switchboard/models/dbtest"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantIs fails unless errors.Is(err, target).
func wantIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

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

// rowCounts is the number of rows of each table.
type rowCounts map[string]int64

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

// tables are every table of the foundation, counted to prove that a refused
// call wrote nothing.
var tables = []string{"users", "accounts", "memberships", "sessions", "email_tokens", "audit_events"}
