package tenancy_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
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
// changes, and no other does: the triggers of migrations 00023 and 00024
// (PostgreSQL's notifications) or 00025 (SQLite's counter, on each of
// insert, update and delete) and the list that this server's own writes
// flush by are the same.
func TestScopeCacheTablesNotify(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		var notifying []string
		if tenancy.DialectOfDB(db) == tenancy.Postgres {
			dbtest.Must(t, dbtest.Plain(t, db).Raw(`SELECT DISTINCT c.relname FROM pg_trigger g
				JOIN pg_class c ON c.oid = g.tgrelid JOIN pg_proc p ON p.oid = g.tgfoid
				WHERE p.proname = 'switchboard_key_scopes_changed' AND c.relnamespace = current_schema()::regnamespace
				ORDER BY 1`).Scan(&notifying).Error)
		} else {
			dbtest.Must(t, dbtest.Plain(t, db).Raw(`SELECT tbl_name FROM sqlite_master
				WHERE type = 'trigger' AND sql LIKE '%UPDATE scope_cache_news SET version = version + 1%'
				GROUP BY tbl_name HAVING COUNT(DISTINCT CASE WHEN sql LIKE '%AFTER INSERT ON%' THEN 'i'
					WHEN sql LIKE '%AFTER UPDATE ON%' THEN 'u' WHEN sql LIKE '%AFTER DELETE ON%' THEN 'd' END) = 3
				ORDER BY 1`).Scan(&notifying).Error)
		}
		want := tenancy.ScopeCacheTables()
		slices.Sort(want)
		if !slices.Equal(notifying, want) {
			t.Errorf("tables that tell of their changes: %v; tables the cache is read from: %v", notifying, want)
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
