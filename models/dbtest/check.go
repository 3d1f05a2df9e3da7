package dbtest

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models/tenancy"
)

// Must fails the test at once on an error.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// WantIs fails unless errors.Is(err, target).
func WantIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

// WantFields fails unless err is a FieldErrors holding exactly keys, each
// with a message.
func WantFields(t testing.TB, err error, keys ...string) {
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

// UTC is now in UTC at microsecond precision, as models stamps rows.
func UTC() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// CountRows counts a table's rows with raw SQL on the plain connection,
// which the walls do not inspect, so that any table can be counted.
func CountRows(t testing.TB, db *gorm.DB, table, where string, args ...any) int64 {
	t.Helper()
	q := "SELECT COUNT(*) FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	var n int64
	if err := Plain(t, db).Raw(q, args...).Scan(&n).Error; err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// RowCounts is the number of rows of each of the foundation's tables.
type RowCounts map[string]int64

// foundationTables are counted to prove that a refused call wrote nothing.
var foundationTables = []string{"users", "accounts", "memberships", "sessions", "email_tokens", "audit_events"}

// CountAll counts the rows of every table of the foundation.
func CountAll(t testing.TB, db *gorm.DB) RowCounts {
	t.Helper()
	c := RowCounts{}
	for _, table := range foundationTables {
		c[table] = CountRows(t, db, table, "")
	}
	return c
}

// WantNothingWritten fails unless every table of the foundation holds as
// many rows as before.
func WantNothingWritten(t testing.TB, db *gorm.DB, before RowCounts) {
	t.Helper()
	after := CountAll(t, db)
	for _, table := range foundationTables {
		if before[table] != after[table] {
			t.Errorf("%s: %d rows before, %d after; want nothing written", table, before[table], after[table])
		}
	}
}

// ReloadAccount reads the account's row again.
func ReloadAccount(t testing.TB, db *gorm.DB, id int64) tenancy.Account {
	t.Helper()
	var a tenancy.Account
	Must(t, Plain(t, db).Take(&a, id).Error)
	return a
}

// FailOn makes every statement of kind ("INSERT", "DELETE") on table fail,
// as a crash in the middle of a transaction would, until the test ends.
func FailOn(t testing.TB, db *gorm.DB, kind, table string) {
	t.Helper()
	name := "fail_" + strings.ToLower(kind) + "_" + table
	drop := "DROP TRIGGER " + name
	if tenancy.DialectOfDB(db) == tenancy.Postgres {
		Must(t, Plain(t, db).Exec(`CREATE OR REPLACE FUNCTION injected_failure() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'injected failure'; END $$`).Error)
		Must(t, Plain(t, db).Exec("CREATE TRIGGER "+name+" BEFORE "+kind+" ON "+table+" FOR EACH ROW EXECUTE FUNCTION injected_failure()").Error)
		drop += " ON " + table
	} else {
		Must(t, Plain(t, db).Exec("CREATE TRIGGER "+name+" BEFORE "+kind+" ON "+table+" BEGIN SELECT RAISE(ABORT, 'injected failure'); END").Error)
	}
	t.Cleanup(func() { Plain(t, db).Exec(drop) })
}

// UsageRow is one usage_daily row. The usage tables are account-owned, so
// tests write them with raw SQL on the plain connection.
type UsageRow struct {
	Account  int64
	Day      string // YYYY-MM-DD
	User     int64
	Metric   string
	Category string
	Quantity int64
}

// InsertUsage writes daily usage rows with multi-row INSERTs.
func InsertUsage(t testing.TB, db *gorm.DB, rows []UsageRow) {
	t.Helper()
	const batch = 500
	for from := 0; from < len(rows); from += batch {
		part := rows[from:min(from+batch, len(rows))]
		var sb strings.Builder
		args := make([]any, 0, 6*len(part))
		sb.WriteString("INSERT INTO usage_daily (account_id, day, user_id, metric, category, quantity) VALUES ")
		for i, r := range part {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?, ?, ?)")
			args = append(args, r.Account, r.Day, r.User, r.Metric, r.Category, r.Quantity)
		}
		if err := Plain(t, db).Exec(sb.String(), args...).Error; err != nil {
			t.Fatalf("insert usage: %v", err)
		}
	}
}

// Usage is a UsageRow of account on day (YYYY-MM-DD) for user.
func Usage(account int64, day string, user int64, metric, category string, quantity int64) UsageRow {
	return UsageRow{Account: account, Day: day, User: user, Metric: metric, Category: category, Quantity: quantity}
}
