package handlers_test

import (
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// orgCounts are the sizes the home page is measured at: a user in one
// organization and a user in many.
var orgCounts = []int{1, 50}

// BenchmarkHomePage measures one signed-in GET / through the whole stack
// (HTTP, middleware, queries, rendering) for a user in 1 and in 50
// organizations, reporting the SQL queries each request makes.
func BenchmarkHomePage(b *testing.B) {
	benchEachDB(b, func(b *testing.B, db *gorm.DB) {
		app := newApp(b, db)
		for _, n := range orgCounts {
			// The fixtures are built once, outside the timed runs.
			member := memberOfOrgs(b, db, n)
			b.Run(fmt.Sprintf("orgs=%d", n), func(b *testing.B) {
				c := member.signedIn(b, app)
				c.get("/").status(http.StatusOK) // warm up: the first page may write the session
				measurePages(b, db, func() { c.get("/").status(http.StatusOK) })
			})
		}
	})
}

// TestHomePageQueryCountIsConstant: the home page makes as many queries for
// a user in 50 organizations as for a user in one, in the personal account
// and in an organization.
func TestHomePageQueryCountIsConstant(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		type key struct {
			orgs     int
			inPerson bool
		}
		got := map[key]int64{}
		for _, n := range orgCounts {
			member := memberOfOrgs(t, db, n)
			c := member.signedIn(t, app)
			got[key{n, false}] = homePageQueries(c)
			c.switchTo(member.personal).redirectsTo("/")
			got[key{n, true}] = homePageQueries(c)
		}
		for _, personal := range []bool{false, true} {
			where := "an organization"
			if personal {
				where = "the personal account"
			}
			few, many := got[key{orgCounts[0], personal}], got[key{orgCounts[1], personal}]
			t.Logf("GET / in %s: %d queries with %d organization(s), %d with %d", where, few, orgCounts[0], many, orgCounts[1])
			if few != many {
				t.Errorf("GET / in %s makes %d queries for a user in %d organization(s) but %d for a user in %d: the count must not grow with the data",
					where, few, orgCounts[0], many, orgCounts[1])
			}
			// The session with its user, the memberships (the scope check,
			// the switcher and whether they may create an organization),
			// and the page's own.
			if many > 3 {
				t.Errorf("GET / in %s makes %d statements, want at most 3", where, many)
			}
		}
	})
}

// homePageQueries is the number of SQL statements of one GET /, after a
// first request that may still write the session, with nothing kept in the
// scope cache (see pageQueries).
func homePageQueries(c *client) int64 {
	c.t.Helper()
	c.get("/").status(http.StatusOK)
	tenancy.ForgetCachedScopesForTest(c.app.db)
	before := tenancy.QueryCount()
	c.get("/").status(http.StatusOK)
	return tenancy.QueryCount() - before
}

// orgMember is a user who belongs to n organizations, each created by
// another user.
type orgMember struct {
	email    string
	personal string // public ID of their personal account
	firstOrg string // public ID of the organization they land in
}

func memberOfOrgs(tb testing.TB, db *gorm.DB, n int) orgMember {
	tb.Helper()
	u, personal := dbtest.User(tb, db)
	m := orgMember{email: u.Email, personal: personal.Account().PublicID}
	for i := 0; i < n; i++ {
		owner, _ := dbtest.User(tb, db)
		in := dbtest.AddMember(tb, db, dbtest.Org(tb, db, owner), u, tenancy.RoleMember)
		if i == 0 {
			m.firstOrg = in.Account().PublicID
		}
	}
	return m
}

// signedIn is a new browser for tb, signed in as the member with their first
// organization active.
func (m orgMember) signedIn(tb testing.TB, app *testApp) *client {
	tb.Helper()
	bound := *app // the same server, failing tb rather than the test that built it
	bound.t = tb
	c := bound.client()
	c.signIn(m.email)
	c.switchTo(m.firstOrg).redirectsTo("/")
	return c
}

// benchEachDB runs fn as sub-benchmarks on SQLite and, when
// TEST_DATABASE_URL is set (required in CI), PostgreSQL, as dbtest.Each
// does for tests.
// measurePages runs page b.N times, one after the other, and reports the
// SQL statements, the CPU time of this process (server and client) and,
// when PostgreSQL runs on this machine, of its connections' server
// processes, per request.
func measurePages(b *testing.B, db *gorm.DB, page func()) {
	backends := apiPGBackends(b, db)
	before, cpuBefore, pgBefore := tenancy.QueryCount(), apiSelfCPU(b), apiBackendsCPU(backends)
	b.ResetTimer()
	for range b.N {
		page()
	}
	b.StopTimer()
	queries, cpu, pgCPU := tenancy.QueryCount()-before, apiSelfCPU(b)-cpuBefore, apiCPUSince(pgBefore, apiBackendsCPU(backends))
	b.ReportMetric(float64(queries)/float64(b.N), "queries/op")
	b.ReportMetric(ms(cpu)/float64(b.N), "cpu-ms/op")
	if len(backends) > 0 {
		b.ReportMetric(ms(pgCPU)/float64(b.N), "pg-cpu-ms/op")
	}
}

func benchEachDB(b *testing.B, fn func(b *testing.B, db *gorm.DB)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, dbtest.SQLite(b)) })
	if os.Getenv("TEST_DATABASE_URL") != "" || os.Getenv("CI") != "" {
		b.Run("postgres", func(b *testing.B) { fn(b, dbtest.Postgres(b)) })
	}
}

// TestPagesFromTheScopeCache: once the scope cache holds a session and its
// user's memberships, a page costs only its own statement: the home page's
// member count; and the members page and the index list, whose pages are
// kept in memory (tenancy.Kept), none.
func TestPagesFromTheScopeCache(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		c := memberOfOrgs(t, db, 1).signedIn(t, app)
		for _, page := range []struct {
			path string
			want int64
		}{{"/", 1}, {"/settings/members", 0}, {"/indexes", 0}} {
			path, want := page.path, page.want
			// The news of the test's own writes may still be on its way.
			var n int64
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				before := tenancy.QueryCount()
				c.get(path).status(http.StatusOK)
				if n = tenancy.QueryCount() - before; n <= want {
					break
				}
			}
			t.Logf("GET %s: %d statements", path, n)
			if n != want {
				t.Errorf("GET %s makes %d statements with the cache warm, want %d", path, n, want)
			}
		}
	})
}
