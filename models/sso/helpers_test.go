package sso_test

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
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

// reloadAccount reads the account's row again.
func reloadAccount(t *testing.T, db *gorm.DB, id int64) tenancy.Account {
	t.Helper()
	var a tenancy.Account
	must(t, dbtest.Plain(t, db).Take(&a, id).Error)
	return a
}

// utc is now in UTC at microsecond precision, as models stamps rows.
func utc() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
