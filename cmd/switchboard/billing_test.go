package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/libtnb/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"switchboard/models"
	"switchboard/models/billing"
	"switchboard/models/tenancy"
	"switchboard/models/usage"
)

// billingDataDir is a migrated SQLite data folder, used through the
// environment as `switchboard` would be, holding a Developer account with
// usage last month.
func billingDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("SWITCHBOARD_DATA_DIR", dir)
	t.Setenv("DATABASE_URL", "")
	os.Unsetenv("DATABASE_URL")
	quiet := slog.New(slog.DiscardHandler)
	if err := run(context.Background(), []string{"migrate"}, quiet); err != nil {
		t.Fatal(err)
	}
	db := openDataDir(t, dir)
	defer closeDB(db)
	ctx := context.Background()
	u, _, err := models.SignUp(ctx, db, models.SignUpInput{Name: "Ada Lovelace", Email: "ada@example.com", Password: "correct horse battery staple"})
	if err != nil {
		t.Fatal(err)
	}
	personal, err := tenancy.PersonalScope(ctx, db, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	last := billing.MonthOf(time.Now()).Prev()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	plain := plainDataDir(t, dir)
	must(plain.Exec("UPDATE accounts SET plan = ?, created_at = ? WHERE id = ?", tenancy.PlanDeveloper, last.Start().AddDate(0, -1, 0), personal.AccountID()).Error)
	must(plain.Exec("INSERT INTO usage_daily (account_id, day, user_id, metric, category, quantity) VALUES (?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?)",
		personal.AccountID(), last.Start().Format(time.DateOnly), u.ID, usage.MetricAPIRequests, "indexes.read", 12_345,
		personal.AccountID(), last.Start().Format(time.DateOnly), u.ID, usage.MetricIndexingSeconds, "", 600).Error)
	return dir
}

func openDataDir(t *testing.T, dir string) *gorm.DB {
	t.Helper()
	db, err := tenancy.Open(filepath.Join(dir, "switchboard.db"))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// plainDataDir is the data folder's database without the walls between
// accounts, for the test's own statements.
func plainDataDir(t *testing.T, dir string) *gorm.DB {
	t.Helper()
	db, err := gorm.Open(sqlite.Open(filepath.Join(dir, "switchboard.db")+"?"+tenancy.SQLiteValueOptions), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	})
	return db
}

// invoiceDump is every invoice and line of the data folder's database.
func invoiceDump(t *testing.T, dir string) (int, string) {
	t.Helper()
	db := plainDataDir(t, dir)
	var sb strings.Builder
	count := 0
	for _, table := range []string{"invoices", "invoice_lines"} {
		var rows []map[string]any
		if err := db.Raw("SELECT * FROM " + table + " ORDER BY id").Scan(&rows).Error; err != nil {
			t.Fatal(err)
		}
		if table == "invoices" {
			count = len(rows)
		}
		for _, r := range rows {
			keys := make([]string, 0, len(r))
			for k := range r {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(&sb, "%s=%v ", k, r[k])
			}
			sb.WriteString("\n")
		}
	}
	return count, sb.String()
}

func TestBillingCloseCommandIsIdempotent(t *testing.T) {
	dir := billingDataDir(t)
	last := billing.MonthOf(time.Now()).Prev().String()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	if err := run(context.Background(), []string{"billing", "close", "-month", last}, log); err != nil {
		t.Fatalf("billing close -month %s: %v", last, err)
	}
	n, first := invoiceDump(t, dir)
	if n != 1 || !strings.Contains(first, "period="+last) {
		t.Fatalf("%d invoices after closing %s:\n%s", n, last, first)
	}
	if !strings.Contains(logs.String(), "invoices_created=1") {
		t.Errorf("the log does not say one invoice was made:\n%s", logs.String())
	}
	logs.Reset()
	if err := run(context.Background(), []string{"billing", "close", "--month=" + last}, log); err != nil {
		t.Fatalf("second close: %v", err)
	}
	n, second := invoiceDump(t, dir)
	if n != 1 || second != first {
		t.Fatalf("closing twice changed the invoices (%d):\nfirst:\n%s\nsecond:\n%s", n, first, second)
	}
	if !strings.Contains(logs.String(), "invoices_created=0") {
		t.Errorf("the second close does not say it made nothing:\n%s", logs.String())
	}
}

func TestBillingCloseCommandRefusals(t *testing.T) {
	dir := billingDataDir(t)
	quiet := slog.New(slog.DiscardHandler)
	now := time.Now().UTC()
	cur := billing.MonthOf(now)
	err := run(context.Background(), []string{"billing", "close", "-month", cur.String()}, quiet)
	if !errors.Is(err, billing.ErrMonthNotEnded) {
		t.Errorf("closing the current month %s: %v, want ErrMonthNotEnded", cur, err)
	}
	err = run(context.Background(), []string{"billing", "close", "-month", billing.MonthOf(cur.End()).String()}, quiet)
	if !errors.Is(err, billing.ErrMonthNotEnded) {
		t.Errorf("closing next month: %v, want ErrMonthNotEnded", err)
	}
	for _, args := range [][]string{
		{"billing", "close", "-month", "2026-13"},
		{"billing", "close", "-month", "November 2026"},
		{"billing", "close", "-month", "2026-1"},
		{"billing", "close", "-month", ""},
		{"billing", "close"},
		{"billing", "close", "-month", "2026-10", "-bogus"},
		{"billing"},
		{"billing", "open", "-month", "2026-10"},
	} {
		if err := run(context.Background(), args, quiet); err == nil {
			t.Errorf("%q was accepted", strings.Join(args, " "))
		}
	}
	if n, dump := invoiceDump(t, dir); n != 0 {
		t.Fatalf("refused closes made invoices:\n%s", dump)
	}
}
