package models_test

import (
	"testing"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// membershipsOf reads a user's memberships, counting its statements.
func membershipsOf(t *testing.T, db *gorm.DB, user int64) (tenancy.Memberships, int64) {
	t.Helper()
	before := tenancy.QueryCount()
	m, err := tenancy.MembershipsOf(t.Context(), db, user)
	dbtest.Must(t, err)
	return m, tenancy.QueryCount() - before
}

// has reports whether the memberships include the scope's account.
func has(m tenancy.Memberships, s tenancy.Scope) bool {
	_, err := m.Scope(s.AccountID())
	return err == nil
}

// A user's memberships read once answer from memory while the cache hears
// the database's news, and a removal made through this server is seen by
// the very next read, with no wait: the removed member's next request lands
// in their personal account. (Not parallel: it counts the process's
// statements.)
func TestMembershipsAnswerFromMemoryUntilAChangeHere(t *testing.T) {
	db := dbtest.Postgres(t)
	watchKeyScopes(t, db)
	f := dbtest.NewOrgFixture(t, db)
	user := f.MemberUser.ID

	if m, n := membershipsOf(t, db, user); n != 1 || !has(m, f.Member) {
		t.Fatalf("first read: %d statements, in the organization %v; want 1, true", n, has(m, f.Member))
	}
	untilFromMemory(t, "reading the memberships", func() int64 { _, n := membershipsOf(t, db, user); return n })
	// What a caller does with its rows stays its own.
	m, _ := membershipsOf(t, db, user)
	m.Rows[0].Name = "changed by a caller"
	if again, n := membershipsOf(t, db, user); n != 0 || again.Rows[0].Name == "changed by a caller" {
		t.Fatalf("a caller's change to its rows reached the cache (%d statements)", n)
	}
	_, err := models.RemoveMember(t.Context(), db, f.Admin, f.MemberUser.PublicID, dbtest.ActorOf(f.AdminUser))
	dbtest.Must(t, err)
	if m, _ := membershipsOf(t, db, user); has(m, f.Member) {
		t.Fatal("right after the removal, the member's memberships still hold the organization")
	}
}

// A change made anywhere else (another server, the operator's raw SQL) to
// any table memberships are read from reaches the cache through
// PostgreSQL's notifications.
func TestMembershipsHearChangesMadeElsewhere(t *testing.T) {
	t.Parallel()
	db := dbtest.Postgres(t)
	watchKeyScopes(t, db)
	elsewhere := dbtest.Elsewhere(t, db)
	changes := []struct {
		name string
		sql  string
		seen func(m tenancy.Memberships, f dbtest.OrgFixture) bool
	}{
		{"removed", "DELETE FROM memberships WHERE user_id = ? AND account_id = ?",
			func(m tenancy.Memberships, f dbtest.OrgFixture) bool { return !has(m, f.Member) }},
		{"made an administrator", "UPDATE memberships SET role = 'admin' WHERE user_id = ? AND account_id = ?",
			func(m tenancy.Memberships, f dbtest.OrgFixture) bool {
				s, err := m.Scope(f.Member.AccountID())
				return err == nil && s.Role() == tenancy.RoleAdmin
			}},
		{"organization renamed", "UPDATE accounts SET name = 'Renamed elsewhere' WHERE id = ? AND id = ?",
			func(m tenancy.Memberships, f dbtest.OrgFixture) bool {
				s, err := m.Scope(f.Member.AccountID())
				return err == nil && s.Account().Name == "Renamed elsewhere"
			}},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			f := dbtest.NewOrgFixture(t, db)
			user := f.MemberUser.ID
			for range 2 { // the second from memory, once the news of the fixture is in
				_, err := tenancy.MembershipsOf(t.Context(), db, user)
				dbtest.Must(t, err)
			}
			args := []any{user, f.Member.AccountID()}
			if c.name == "organization renamed" {
				args = []any{f.Member.AccountID(), f.Member.AccountID()}
			}
			dbtest.Must(t, elsewhere.Exec(c.sql, args...).Error)
			untilSeen(t, c.name, func() (bool, error) {
				m, err := tenancy.MembershipsOf(t.Context(), db, user)
				return err == nil && c.seen(m, f), err
			})
		})
	}
}

// When its channel is down the cache does not answer memberships: a
// removal nobody hears of is seen by the very next read.
func TestMembershipsFailClosedWhileTheChannelIsDown(t *testing.T) {
	db := dbtest.Postgres(t)
	watchKeyScopes(t, db)
	f := dbtest.NewOrgFixture(t, db)
	user := f.MemberUser.ID
	for range 2 {
		_, err := tenancy.MembershipsOf(t.Context(), db, user)
		dbtest.Must(t, err)
	}
	cutOffNews(t, db)
	changeUnheard(t, db, func(tx *gorm.DB) error {
		return tx.Exec("DELETE FROM memberships WHERE user_id = ? AND account_id = ?", user, f.Member.AccountID()).Error
	})
	if m, n := membershipsOf(t, db, user); n != 1 || has(m, f.Member) {
		t.Fatalf("read while the channel is down: %d statements, in the organization %v; want 1 (from the database), false", n, has(m, f.Member))
	}
}

// A refusal rests on the database: MembershipsFromDatabase reads past
// memberships kept from before a change whose news has not arrived (here:
// never sent), and keeps what it read for the next MembershipsOf.
func TestMembershipsFromDatabaseReadPastTheCache(t *testing.T) {
	db := dbtest.Postgres(t)
	watchKeyScopes(t, db)
	owner, _ := dbtest.User(t, db)
	org := dbtest.Org(t, db, owner)
	// The change must be unheard while the old memberships are kept. On a
	// busy machine late news of the fixture's own writes, or a late
	// heartbeat, may empty the cache between the two, and the read after the
	// change then comes from the database and shows nothing: try again with
	// another user.
	var u models.User
	for attempt := 1; ; attempt++ {
		u, _ = dbtest.User(t, db)
		untilFromMemory(t, "reading the memberships", func() int64 { _, n := membershipsOf(t, db, u.ID); return n })
		changeUnheard(t, db, func(tx *gorm.DB) error {
			return tx.Create(&tenancy.Membership{AccountID: org.AccountID(), UserID: u.ID, Role: tenancy.RoleMember}).Error
		})
		m, n := membershipsOf(t, db, u.ID)
		if n == 0 && has(m, org) {
			t.Fatal("the memberships kept from before the change hold the organization it joined, unheard")
		}
		if n == 0 {
			break
		}
		if attempt == 5 {
			t.Fatal("in 5 attempts, the memberships kept were never read from memory after a change unheard: this test shows nothing")
		}
	}
	m, err := tenancy.MembershipsFromDatabase(t.Context(), db, u.ID)
	dbtest.Must(t, err)
	if !has(m, org) {
		t.Fatal("MembershipsFromDatabase answered the kept memberships, without the organization joined")
	}
	// The next read answers from memory, with the organization. On a busy
	// machine (the whole suite under -race) late news of the fixture's own
	// writes, or a heartbeat late by seconds, may send one more read to the
	// database first; the read from memory after it must still hold the
	// organization.
	var m2 tenancy.Memberships
	untilFromMemory(t, "reading the memberships again", func() (n int64) { m2, n = membershipsOf(t, db, u.ID); return n })
	if !has(m2, org) {
		t.Fatal("after reading from the database, the kept memberships still lack the organization")
	}
}
