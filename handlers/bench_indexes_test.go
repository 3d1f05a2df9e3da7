package handlers_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// indexCounts are the account sizes the index list is measured at.
var indexCounts = []int{10, 100_000}

// BenchmarkIndexListPage measures one signed-in GET /indexes through the
// whole stack for an organization with 10 indexes and one with 100,000, in
// the same database, reporting the SQL queries each request makes. The
// issue's target: less than 3× apart in time, equal in queries.
func BenchmarkIndexListPage(b *testing.B) {
	benchEachDB(b, func(b *testing.B, db *gorm.DB) {
		app := newApp(b, db)
		// The fixtures are built once per database, outside the timed runs.
		members := make([]orgMember, len(indexCounts))
		for i, n := range indexCounts {
			members[i] = orgWithIndexes(b, db, n)
		}
		analyze(b, db)
		for i, n := range indexCounts {
			b.Run(fmt.Sprintf("indexes=%d", n), func(b *testing.B) {
				c := members[i].signedIn(b, app)
				c.get("/indexes").status(http.StatusOK) // warm up: the first page may write the session
				measurePages(b, db, func() { c.get("/indexes").status(http.StatusOK) })
			})
		}
	})
}

// TestIndexListQueryCountIsConstant: GET /indexes makes as many queries for
// an organization with 2,000 indexes as for one with 10, on its first page
// and on its fifth.
func TestIndexListQueryCountIsConstant(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		type key struct{ indexes, page int }
		got := map[key]int64{}
		sizes := []int{10, 2_000}
		members := make([]orgMember, len(sizes))
		for i, n := range sizes {
			members[i] = orgWithIndexes(t, db, n)
		}
		analyze(t, db)
		for i, n := range sizes {
			c := members[i].signedIn(t, app)
			for _, page := range []int{1, 5} {
				path := fmt.Sprintf("/indexes?page=%d", page)
				got[key{n, page}] = pageQueries(c, path)
				if n > 10 && page == 5 {
					// The fifth page of 2,000 is full: rows 81 to 100.
					if rows := c.get(path).status(http.StatusOK).doc().Find(`[data-testid="index-table"] tbody tr`).Length(); rows != tenancy.DefaultPageSize {
						t.Errorf("GET %s with %d indexes lists %d rows, want %d", path, n, rows, tenancy.DefaultPageSize)
					}
				}
			}
		}
		t.Logf("GET /indexes queries: %v", got)
		want := got[key{10, 1}]
		if want > 4 {
			t.Errorf("GET /indexes makes %d statements, want at most 4", want)
		}
		for k, n := range got {
			if n != want {
				t.Errorf("GET /indexes?page=%d with %d indexes makes %d queries, but page 1 with 10 indexes makes %d: the count must not grow with the data or the page",
					k.page, k.indexes, n, want)
			}
		}
	})
}

// pageQueries is the number of SQL statements of one GET path, after a
// first request that may still write the session, with nothing kept in
// the scope cache: the session, the memberships and the page's own (the
// cost of a page once the cache holds them is TestPagesFromTheScopeCache's).
func pageQueries(c *client, path string) int64 {
	c.t.Helper()
	c.get(path).status(http.StatusOK)
	tenancy.ForgetCachedScopesForTest(c.app.db)
	before := tenancy.QueryCount()
	c.get(path).status(http.StatusOK)
	return tenancy.QueryCount() - before
}

// orgWithIndexes is a user administering a new organization holding n
// shared indexes, created by them, seeded with raw SQL.
func orgWithIndexes(tb testing.TB, db *gorm.DB, n int) orgMember {
	tb.Helper()
	u, personal := dbtest.User(tb, db)
	org := dbtest.Org(tb, db, u)
	seedIndexes(tb, db, org, n)
	return orgMember{email: u.Email, personal: personal.Account().PublicID, firstOrg: org.Account().PublicID}
}

// indexColumns are the columns seedIndexes fills, in order.
var indexColumns = []string{
	"public_id", "account_id", "name", "name_key", "marengo_options", "pegasus_options", "visibility",
	"name_scope", "created_by_id", "video_count", "total_duration", "created_at", "updated_at",
}

// seedIndexes inserts n shared indexes into the scope's account, created by
// the scope's user one minute apart (the newest now), with multi-row INSERTs
// of 1,000 rows in one transaction: 100,000 rows take seconds, not the
// minutes models.CreateIndex would.
func seedIndexes(tb testing.TB, db *gorm.DB, s tenancy.Scope, n int) {
	tb.Helper()
	const batch = 1_000
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(indexColumns)), ", ") + ")"
	start := time.Now().UTC().Truncate(time.Microsecond)
	err := dbtest.Plain(tb, db).Transaction(func(tx *gorm.DB) error {
		for from := 0; from < n; from += batch {
			size := min(batch, n-from)
			values := make([]string, 0, size)
			args := make([]any, 0, size*len(indexColumns))
			for i := from; i < from+size; i++ {
				name := fmt.Sprintf("Index %06d", i+1)
				at := start.Add(-time.Duration(n-1-i) * time.Minute)
				videos := int64(i % 7)
				values = append(values, row)
				args = append(args, randomObjectID(tb), s.AccountID(), name, strings.ToLower(name), "visual,audio", "",
					string(models.VisibilityAccount), 0, s.UserID(), videos, videos*95, at, at)
			}
			sql := "INSERT INTO indexes (" + strings.Join(indexColumns, ", ") + ") VALUES " + strings.Join(values, ", ")
			if err := tx.Exec(sql, args...).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("seed %d indexes: %v", n, err)
	}
}

// randomObjectID is an index's public ID: 24 lower-case hex characters.
func randomObjectID(tb testing.TB) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// analyze refreshes the planner's statistics after a bulk load, as
// autovacuum (PostgreSQL) or a periodic ANALYZE (SQLite) would.
func analyze(tb testing.TB, db *gorm.DB) {
	tb.Helper()
	stmt := "ANALYZE"
	if tenancy.DialectOfDB(db) == tenancy.Postgres {
		stmt = "ANALYZE indexes"
	}
	if err := dbtest.Plain(tb, db).Exec(stmt).Error; err != nil {
		tb.Fatalf("%s: %v", stmt, err)
	}
}
