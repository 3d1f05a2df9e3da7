package ratelimit_test

import (
	"errors"
	"testing"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// actorOf is the audit actor of a user acting from a fixed address.
func actorOf(u models.User) tenancy.Actor {
	return tenancy.Actor{UserID: u.ID, Name: u.Name, IP: "192.0.2.7"}
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

// reloadAccount reads the account's row again.
func reloadAccount(t *testing.T, db *gorm.DB, id int64) tenancy.Account {
	t.Helper()
	var a tenancy.Account
	must(t, dbtest.Plain(t, db).Take(&a, id).Error)
	return a
}

// wantIs fails unless errors.Is(err, target).
func wantIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}
