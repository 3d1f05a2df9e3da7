package tenancy_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// A read of one statement (Find, Query) acts for its unit on PostgreSQL
// exactly as Read does: as the application's role, with the scope's
// account and user, under row security. They go with the statement in one
// pipeline; this is what would show if they did not arrive, or arrived in
// a transaction of their own.
func TestOneStatementReadsActForTheirUnit(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		pgOnly(t, db)
		owner, personal := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		settings := func(tx *gorm.DB) *gorm.DB {
			return tx.Raw(`SELECT COALESCE(current_setting('switchboard.account_id', true), '') AS account,
				COALESCE(current_setting('switchboard.user_id', true), '') AS "user", current_user AS role`)
		}
		type acting struct{ Account, User, Role string }
		for _, s := range []tenancy.Scope{personal, org} {
			var got []acting
			dbtest.Must(t, s.Find(t.Context(), db, &got, settings))
			want := acting{strconv.FormatInt(s.AccountID(), 10), strconv.FormatInt(owner.ID, 10), "switchboard_app"}
			if len(got) != 1 || got[0] != want {
				t.Errorf("Find in account %d acted as %+v, want %+v", s.AccountID(), got, want)
			}
			var rows int
			dbtest.Must(t, s.Query(t.Context(), db, settings, func(r tenancy.Rows) error {
				for r.Next() {
					var a acting
					if err := r.Scan(&a.Account, &a.User, &a.Role); err != nil {
						return err
					}
					if a != want {
						t.Errorf("Query in account %d acted as %+v, want %+v", s.AccountID(), a, want)
					}
					rows++
				}
				return nil
			}))
			if rows != 1 {
				t.Errorf("Query read %d rows, want 1", rows)
			}
		}
		var view []acting
		dbtest.Must(t, tenancy.ViewOf(owner.ID).Find(t.Context(), db, &view, settings))
		if want := (acting{"", strconv.FormatInt(owner.ID, 10), "switchboard_app"}); len(view) != 1 || view[0] != want {
			t.Errorf("the user's view acted as %+v, want %+v", view, want)
		}
	})
}

// Row security holds a one-statement read to its account even when the
// statement itself does not say which (the application's wall off): the
// settings it runs with are the scope's.
func TestOneStatementReadsStayInTheirAccount(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		pgOnly(t, db)
		tenancy.DisableApplicationWallForTest(db)
		ownerA, _ := dbtest.User(t, db)
		ownerB, _ := dbtest.User(t, db)
		a := dbtest.Org(t, db, ownerA)
		b := dbtest.Org(t, db, ownerB)
		seedResources(t, db, a)
		seedResources(t, db, b)
		var accounts []int64
		dbtest.Must(t, a.Find(t.Context(), db, &accounts, func(tx *gorm.DB) *gorm.DB {
			return a.Mark(tx.Table("indexes")).Select("account_id")
		}))
		if len(accounts) != 1 || accounts[0] != a.AccountID() {
			t.Errorf("A's unqualified read saw indexes of accounts %v, want only %d", accounts, a.AccountID())
		}
	})
}

// The application's wall sees a one-statement read as it sees Read's: a
// statement on an account-owned table that is not restricted to the scope
// is refused before it reaches the database, on both databases.
func TestOneStatementReadsPassTheApplicationsWall(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		_, personal := dbtest.User(t, db)
		var rows []models.Index
		err := personal.Find(t.Context(), db, &rows, func(tx *gorm.DB) *gorm.DB { return tx.Table("indexes") })
		dbtest.WantIs(t, err, tenancy.ErrUnscoped)
		err = personal.Query(t.Context(), db, func(tx *gorm.DB) *gorm.DB { return tx.Raw("SELECT id FROM indexes") },
			func(tenancy.Rows) error { t.Error("an unscoped raw read reached its rows"); return nil })
		dbtest.WantIs(t, err, tenancy.ErrUnscoped)
		var zero tenancy.Scope
		dbtest.WantIs(t, zero.Find(t.Context(), db, &rows, func(tx *gorm.DB) *gorm.DB { return zero.Apply(tx.Table("indexes")) }), tenancy.ErrUnscoped)
	})
}

// Every connection, the door's and the requests', plans a statement once
// and keeps the plan: PostgreSQL's default would plan most of the
// application's statements again on every run (they end in LIMIT $n,
// which makes the kept plan look dearer), at more CPU than running them.
func TestConnectionsKeepTheirPlans(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		pgOnly(t, db)
		_, personal := dbtest.User(t, db)
		var mode []string
		dbtest.Must(t, personal.Find(t.Context(), db, &mode, func(tx *gorm.DB) *gorm.DB { return tx.Raw("SHOW plan_cache_mode") }))
		var doorMode string
		dbtest.Must(t, tenancy.System("a test reads the door's plan mode").Do(t.Context(), db, func(tx *gorm.DB) error {
			return tx.Raw("SHOW plan_cache_mode").Scan(&doorMode).Error
		}))
		if len(mode) != 1 || mode[0] != "force_generic_plan" || doorMode != "force_generic_plan" {
			t.Errorf("plan_cache_mode is %v for requests and %q for the door, want force_generic_plan", mode, doorMode)
		}
	})
}

// Every table the scope cache is read from tells every server when it
// changes, and no other does: the triggers of migrations 00023, 00024 and
// 00028 (PostgreSQL's notifications) or 00025 and 00028 (SQLite's counter)
// fire on an insert, a delete and an update of every column but the quiet
// ones (tenancy's quietColumns), which this server's own writes flush by
// as well. A column added to one of those tables is news unless it is
// named quiet in both places.
func TestScopeCacheTablesNotify(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		plain := dbtest.Plain(t, db)
		type column struct{ Table, Name string }
		var columns, news []column
		if tenancy.DialectOfDB(db) == tenancy.Postgres {
			dbtest.Must(t, plain.Raw(`SELECT c.relname AS table, a.attname AS name FROM pg_class c
				JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
				WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace`).Scan(&columns).Error)
			// A trigger's tgtype has bits for INSERT (4), DELETE (8),
			// UPDATE (16) and TRUNCATE (32); tgattr lists the columns of
			// UPDATE OF (none: every column).
			dbtest.Must(t, plain.Raw(`SELECT DISTINCT c.relname AS table, a.attname AS name FROM pg_trigger g
				JOIN pg_class c ON c.oid = g.tgrelid JOIN pg_proc p ON p.oid = g.tgfoid
				JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
				WHERE p.proname = 'switchboard_key_scopes_changed' AND c.relnamespace = current_schema()::regnamespace
				AND g.tgtype & 16 <> 0 AND (cardinality(g.tgattr::int2[]) = 0 OR a.attnum = ANY (g.tgattr::int2[]))
				AND c.relname IN (SELECT c2.relname FROM pg_trigger g2 JOIN pg_class c2 ON c2.oid = g2.tgrelid
					WHERE g2.tgfoid = g.tgfoid GROUP BY c2.relname HAVING bit_or(g2.tgtype) & (4|8|32) = 4|8|32)`).Scan(&news).Error)
		} else {
			var tables []string
			dbtest.Must(t, plain.Raw("SELECT name FROM sqlite_master WHERE type = 'table'").Scan(&tables).Error)
			for _, table := range tables {
				var names []string
				dbtest.Must(t, plain.Raw("SELECT name FROM pragma_table_info(?)", table).Scan(&names).Error)
				for _, n := range names {
					columns = append(columns, column{table, n})
				}
			}
			var triggers []struct{ Table, SQL string }
			dbtest.Must(t, plain.Raw(`SELECT tbl_name AS "table", sql FROM sqlite_master
				WHERE type = 'trigger' AND sql LIKE '%UPDATE scope_cache_news SET version = version + 1%'`).Scan(&triggers).Error)
			event := regexp.MustCompile(`(?is)AFTER\s+(INSERT|DELETE|UPDATE)\s+(?:OF\s+(.*?)\s+)?ON\s`)
			comma := regexp.MustCompile(`\s*,\s*`)
			kinds := map[string]map[string]bool{}
			for _, g := range triggers {
				m := event.FindStringSubmatch(g.SQL)
				if m == nil {
					t.Fatalf("trigger on %s: no event in %q", g.Table, g.SQL)
				}
				if kinds[g.Table] == nil {
					kinds[g.Table] = map[string]bool{}
				}
				kinds[g.Table][strings.ToUpper(m[1])] = true
				if strings.ToUpper(m[1]) != "UPDATE" {
					continue
				}
				for _, c := range columns {
					if c.Table != g.Table {
						continue
					}
					if m[2] == "" || slices.Contains(comma.Split(strings.TrimSpace(m[2]), -1), c.Name) {
						news = append(news, c)
					}
				}
			}
			news = slices.DeleteFunc(news, func(c column) bool { return !kinds[c.Table]["INSERT"] || !kinds[c.Table]["DELETE"] })
		}
		var want []column
		for _, c := range columns {
			if slices.Contains(tenancy.ScopeCacheTables(), c.Table) && !tenancy.QuietColumns(c.Table, c.Name) {
				want = append(want, c)
			}
		}
		order := func(a, b column) int { return strings.Compare(a.Table+"."+a.Name, b.Table+"."+b.Name) }
		slices.SortFunc(news, order)
		news = slices.Compact(news)
		slices.SortFunc(want, order)
		for _, c := range news {
			if !slices.Contains(want, c) {
				t.Errorf("%s.%s: its change is news, but the cache is not read from it (or it is quiet)", c.Table, c.Name)
			}
		}
		for _, c := range want {
			if !slices.Contains(news, c) {
				t.Errorf("%s.%s: the cache is read from it, but its change is no news", c.Table, c.Name)
			}
		}
	})
}

// An error from PostgreSQL ending or refusing the connection is an outage
// (a 503) even while the database still answers a ping, as it may for a
// moment of its shutdown; a request's own fault is not.
func TestOutageIsTheDatabaseGoingAway(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		for _, c := range []struct {
			err  error
			want bool
		}{
			{&pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, true},
			{fmt.Errorf("list: %w", &pgconn.PgError{Code: "08006"}), true},
			{fmt.Errorf("list: %w", tenancy.ErrUnavailable), true},
			{&pgconn.PgError{Code: "23505"}, false},
			{&pgconn.PgError{Code: "57014"}, false}, // a canceled statement
			{errors.New("a bug"), false},
		} {
			if got := tenancy.Outage(t.Context(), db, c.err); got != c.want {
				t.Errorf("Outage(%v) = %v, want %v", c.err, got, c.want)
			}
		}
	})
}

// On SQLite, times are stored as databases made by earlier releases hold
// them, "2006-01-02 15:04:05.999999999-07:00" in UTC: text that compares
// and sorts as the times do, beside the rows already there; and only
// columns declared as times are read as times.
func TestSQLiteStoresTimesAsEarlierReleases(t *testing.T) {
	t.Parallel()
	db := dbtest.SQLite(t)
	f := dbtest.NewOrgFixture(t, db)
	var stored string
	dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT hex(created_at) FROM accounts WHERE id = ?", f.Member.AccountID()).Row().Scan(&stored))
	b, err := hex.DecodeString(stored)
	dbtest.Must(t, err)
	stored = string(b)
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,9})?\+00:00$`).MatchString(stored) {
		t.Errorf("an account's created_at is stored as %q, want 2006-01-02 15:04:05.999999999+00:00", stored)
	}
	// A text that looks like a time, in a column of no declared type,
	// stays the text it is.
	var text string
	dbtest.Must(t, db.Raw("SELECT ? || ''", "2026-12-04").Row().Scan(&text))
	if text != "2026-12-04" {
		t.Errorf("the text 2026-12-04 reads back as %q", text)
	}
}
