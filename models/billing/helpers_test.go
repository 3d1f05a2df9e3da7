package billing_test

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

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
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
func newOrgFixture(t *testing.T, db *gorm.DB) orgFixture {
	t.Helper()
	var f orgFixture
	f.adminUser, f.adminPersonal = dbtest.User(t, db)
	f.admin = dbtest.Org(t, db, f.adminUser)
	f.memberUser, _ = dbtest.User(t, db)
	f.member = dbtest.AddMember(t, db, f.admin, f.memberUser, tenancy.RoleMember)
	f.member2User, _ = dbtest.User(t, db)
	f.member2 = dbtest.AddMember(t, db, f.admin, f.member2User, tenancy.RoleMember)
	otherUser, otherPersonal := dbtest.User(t, db)
	f.other = dbtest.Org(t, db, otherUser)
	f.otherPersonal = otherPersonal
	return f
}

// orgFixture is an organization with an administrator and two regular
// members, next to another user's organization and personal account.
type orgFixture struct {
	adminUser, memberUser, member2User models.User
	admin, member, member2             tenancy.Scope // the three in the organization
	adminPersonal                      tenancy.Scope // the administrator's own personal account
	other                              tenancy.Scope // another user's organization
	otherPersonal                      tenancy.Scope // another user's personal account
}

// wantIs fails unless errors.Is(err, target).
func wantIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

// reloadAccount reads the account's row again.
func reloadAccount(t *testing.T, db *gorm.DB, id int64) tenancy.Account {
	t.Helper()
	var a tenancy.Account
	must(t, dbtest.Plain(t, db).Take(&a, id).Error)
	return a
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

// utc is now in UTC at microsecond precision, as models stamps rows.
func utc() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
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

// newIndex creates an index or fails the test.
func newIndex(t *testing.T, db *gorm.DB, s tenancy.Scope, name, visibility string) models.Index {
	t.Helper()
	idx, err := models.CreateIndex(t.Context(), db, s, indexInput(name, visibility))
	if err != nil {
		t.Fatalf("create index %q: %v", name, err)
	}
	return idx
}

// tables are every table of the foundation, counted to prove that a refused
// call wrote nothing.
var tables = []string{"users", "accounts", "memberships", "sessions", "email_tokens", "audit_events"}

// indexInput is a valid index form: Marengo with visual.
func indexInput(name, visibility string) models.IndexInput {
	return models.IndexInput{Name: name, Models: []string{models.ModelMarengo},
		MarengoOptions: []string{models.OptionVisual}, Visibility: visibility}
}
