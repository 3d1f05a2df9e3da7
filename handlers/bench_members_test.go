package handlers_test

import (
	"fmt"
	"net/http"
	"testing"

	"gorm.io/gorm"

	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// memberCounts are the organization sizes the members page is measured at.
var memberCounts = []int{2, 60}

// orgWithMembers is an organization of n members: a regular member (the
// returned one, who lands in it), its administrator (admin), and n-2 more.
func orgWithMembers(tb testing.TB, db *gorm.DB, n int) (member, admin orgMember) {
	tb.Helper()
	owner, ownerPersonal := dbtest.User(tb, db)
	org := dbtest.Org(tb, db, owner)
	u, personal := dbtest.User(tb, db)
	dbtest.AddMember(tb, db, org, u, tenancy.RoleMember)
	for range n - 2 {
		other, _ := dbtest.User(tb, db)
		dbtest.AddMember(tb, db, org, other, tenancy.RoleMember)
	}
	id := org.Account().PublicID
	return orgMember{email: u.Email, personal: personal.Account().PublicID, firstOrg: id},
		orgMember{email: owner.Email, personal: ownerPersonal.Account().PublicID, firstOrg: id}
}

// BenchmarkMembersPage measures one signed-in GET /settings/members, as a
// regular member, of an organization with 2 and with 60 members, reporting
// the SQL statements each request makes.
func BenchmarkMembersPage(b *testing.B) {
	benchEachDB(b, func(b *testing.B, db *gorm.DB) {
		app := newApp(b, db)
		for _, n := range memberCounts {
			member, _ := orgWithMembers(b, db, n)
			b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
				c := member.signedIn(b, app)
				c.get("/settings/members").status(http.StatusOK)
				measurePages(b, db, func() { c.get("/settings/members").status(http.StatusOK) })
			})
		}
	})
}

// TestMembersPageQueryCountIsConstant: GET /settings/members makes as many
// statements for 60 members as for 2, for a regular member and for an
// administrator (who also sees the open invitations), and at most 4: the
// session, the memberships (scope check and switcher), the members with
// their counts, and the invitations.
func TestMembersPageQueryCountIsConstant(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		got := map[string]int64{}
		for _, n := range memberCounts {
			member, admin := orgWithMembers(t, db, n)
			for role, m := range map[string]orgMember{"member": member, "admin": admin} {
				got[fmt.Sprintf("%s/%d", role, n)] = pageQueries(m.signedIn(t, app), "/settings/members")
			}
		}
		t.Logf("GET /settings/members statements: %v", got)
		for _, role := range []string{"member", "admin"} {
			few, many := got[fmt.Sprintf("%s/%d", role, memberCounts[0])], got[fmt.Sprintf("%s/%d", role, memberCounts[1])]
			if few != many {
				t.Errorf("as %s: %d statements with %d members, %d with %d: the count must not grow with the data", role, few, memberCounts[0], many, memberCounts[1])
			}
			if many > 4 {
				t.Errorf("as %s: %d statements, want at most 4", role, many)
			}
		}
	})
}
