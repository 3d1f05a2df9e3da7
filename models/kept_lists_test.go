package models_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// keptMisses counts db's kept answers' misses.
func keptMisses(db *gorm.DB) int64 { return tenancy.KeyCacheStatsOf(db).KeptMisses }

// keptIndexNames lists the names on the first page of s's index list.
func keptIndexNames(t *testing.T, db *gorm.DB, s tenancy.Scope) string {
	t.Helper()
	list, err := models.ListIndexes(t.Context(), db, s, models.IndexQuery{Sort: models.SortName, Page: tenancy.Page{Size: 20}})
	dbtest.Must(t, err)
	var names []string
	for _, r := range list.Rows {
		names = append(names, r.Name)
	}
	return strings.Join(names, ", ") + " (" + strconv.FormatInt(list.Total, 10) + ")"
}

// keptMemberNames lists the names on the first page of s's members.
func keptMemberNames(t *testing.T, db *gorm.DB, s tenancy.Scope) string {
	t.Helper()
	rows, total, admins, err := models.ListMembersAndAdmins(t.Context(), db, s, tenancy.Page{Size: 20})
	dbtest.Must(t, err)
	var names []string
	for _, r := range rows {
		names = append(names, r.Name)
	}
	return strings.Join(names, ", ") + " (" + strconv.FormatInt(total, 10) + ", " + strconv.FormatInt(admins, 10) + " admins)"
}

// wantList fails unless list() is want.
func wantList(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s: %q, want %q", what, got, want)
	}
}

// The members and index lists are kept in memory, per account, user and
// role: each scope is answered exactly what its own read answers (another
// user's private index is not in a member's list, another organization's
// rows are in no one's), a second read answers from memory, a change made
// through this server is seen by the very next read, and a write to one
// account leaves another's kept lists in memory (on PostgreSQL; SQLite's
// counter forgets every account's).
func TestKeptListsAnswerFromMemoryUntilTheirAccountChanges(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		pg := hearNews(t, db)
		f := dbtest.NewOrgFixture(t, db)
		dbtest.Must(t, models.RenameUser(t.Context(), db, f.AdminUser.ID, "Ada"))
		dbtest.Must(t, models.RenameUser(t.Context(), db, f.MemberUser.ID, "Bob"))
		dbtest.Must(t, models.RenameUser(t.Context(), db, f.Member2User.ID, "Cy"))
		for _, name := range []string{"Alpha", "Bravo"} {
			_, err := models.CreateIndex(t.Context(), db, f.Admin, dbtest.IndexInput(name, "account"))
			dbtest.Must(t, err)
		}
		_, err := models.CreateIndex(t.Context(), db, f.Admin, dbtest.IndexInput("Ada's own", "private"))
		dbtest.Must(t, err)
		_, err = models.CreateIndex(t.Context(), db, f.Member, dbtest.IndexInput("Bob's own", "private"))
		dbtest.Must(t, err)
		otherIndex, err := models.CreateIndex(t.Context(), db, f.Other, dbtest.IndexInput("Elsewhere", "account"))
		dbtest.Must(t, err)

		lists := func() map[string]string {
			return map[string]string{
				"admin's indexes":  keptIndexNames(t, db, f.Admin),
				"member's indexes": keptIndexNames(t, db, f.Member),
				"other's indexes":  keptIndexNames(t, db, f.Other),
				"admin's members":  keptMemberNames(t, db, f.Admin),
				"member's members": keptMemberNames(t, db, f.Member),
			}
		}
		want := map[string]string{
			"admin's indexes":  "Ada's own, Alpha, Bravo (3)",
			"member's indexes": "Alpha, Bob's own, Bravo (3)",
			"other's indexes":  "Elsewhere (1)",
			"admin's members":  "Ada, Bob, Cy (3, 1 admins)",
			"member's members": "Ada, Bob, Cy (3, 1 admins)",
		}
		check := func(when string) {
			t.Helper()
			for what, got := range lists() {
				wantList(t, when+": "+what, got, want[what])
			}
		}
		check("read first")
		untilFromMemory(t, "the lists", func() int64 {
			before := keptMisses(db)
			check("read again")
			return keptMisses(db) - before
		})
		// Two users of one role: each is answered their own list.
		wantList(t, "the other member's indexes", keptIndexNames(t, db, f.Member2), "Alpha, Bravo (2)")

		// Changes made here: seen by the very next read.
		_, err = models.CreateIndex(t.Context(), db, f.Member, dbtest.IndexInput("Charlie", "account"))
		dbtest.Must(t, err)
		want["admin's indexes"] = "Ada's own, Alpha, Bravo, Charlie (4)"
		want["member's indexes"] = "Alpha, Bob's own, Bravo, Charlie (4)"
		check("after an index was created")
		dbtest.Must(t, models.RenameUser(t.Context(), db, f.Member2User.ID, "Abe"))
		want["admin's members"] = "Ada, Abe, Bob (3, 1 admins)"
		want["member's members"] = want["admin's members"]
		check("after a member was renamed")
		_, err = models.RemoveMember(t.Context(), db, f.Admin, f.Member2User.PublicID, dbtest.ActorOf(f.AdminUser))
		dbtest.Must(t, err)
		want["admin's members"] = "Ada, Bob (2, 1 admins)"
		want["member's members"] = want["admin's members"]
		check("after a member was removed")

		// A write to another account forgets that account's lists only.
		if pg {
			// Once a change made elsewhere after the writes above has
			// been heard, so has their news (notifications come in
			// commit order), which would forget every list.
			dbtest.Must(t, dbtest.Elsewhere(t, db).Exec("UPDATE indexes SET name = ?, name_key = ? WHERE id = ?", "Heard", "heard", otherIndex.ID).Error)
			untilSeen(t, "renaming an index", func() (bool, error) {
				return keptIndexNames(t, db, f.Other) == "Heard (1)", nil
			})
		}
		untilFromMemory(t, "the lists", func() int64 {
			before := keptMisses(db)
			lists()
			return keptMisses(db) - before
		})
		_, err = models.UpdateIndex(t.Context(), db, f.Other, otherIndex.PublicID, models.IndexUpdate{Name: "Far away", Visibility: "account"})
		dbtest.Must(t, err)
		before := keptMisses(db)
		want["other's indexes"] = "Far away (1)"
		check("after another organization's index was renamed")
		misses, wantMisses := keptMisses(db)-before, int64(1)
		if !pg {
			wantMisses = 5 // SQLite's counter forgets every account's
		}
		if misses != wantMisses {
			t.Errorf("after another organization's write: %d of the 5 lists read the database, want %d", misses, wantMisses)
		}
	})
}

// A change made elsewhere (another server, the operator) is seen once its
// news arrives: PostgreSQL's notification names the account, SQLite's
// counter is read before every answer.
func TestKeptListsHearChangesMadeElsewhere(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		pg := hearNews(t, db)
		f := dbtest.NewOrgFixture(t, db)
		ix, err := models.CreateIndex(t.Context(), db, f.Admin, dbtest.IndexInput("Before", "account"))
		dbtest.Must(t, err)
		_, err = models.CreateIndex(t.Context(), db, f.Other, dbtest.IndexInput("Theirs", "account"))
		dbtest.Must(t, err)
		untilFromMemory(t, "the lists", func() int64 {
			before := keptMisses(db)
			keptIndexNames(t, db, f.Admin)
			keptIndexNames(t, db, f.Other)
			return keptMisses(db) - before
		})

		elsewhere := dbtest.Elsewhere(t, db)
		dbtest.Must(t, elsewhere.Exec("UPDATE indexes SET name = ?, name_key = ? WHERE id = ?", "After", "after", ix.ID).Error)
		untilSeen(t, "renaming an index", func() (bool, error) {
			return keptIndexNames(t, db, f.Admin) == "After (1)", nil
		})
		if pg {
			// The other organization's list was not forgotten.
			before := keptMisses(db)
			wantList(t, "the other organization's list", keptIndexNames(t, db, f.Other), "Theirs (1)")
			if n := keptMisses(db) - before; n != 0 {
				t.Errorf("another account's change made elsewhere forgot this one's list (%d misses)", n)
			}
		}
		dbtest.Must(t, elsewhere.Exec("UPDATE users SET name = ? WHERE id = ?", "Zed", f.MemberUser.ID).Error)
		untilSeen(t, "renaming a user", func() (bool, error) {
			return strings.Contains(keptMemberNames(t, db, f.Admin), "Zed"), nil
		})
		dbtest.Must(t, elsewhere.Exec("DELETE FROM index_counts WHERE account_id = ?", f.Admin.AccountID()).Error)
		untilSeen(t, "changing the count", func() (bool, error) {
			return keptIndexNames(t, db, f.Admin) == "After (0)", nil
		})
	})
}

// While the channel its news comes on is down, no list answers from
// memory: a change whose news is lost is seen by the next read.
func TestKeptListsFailClosedWhileTheirChannelIsDown(t *testing.T) {
	t.Parallel()
	db := dbtest.Postgres(t)
	watchKeyScopes(t, db)
	f := dbtest.NewOrgFixture(t, db)
	ix, err := models.CreateIndex(t.Context(), db, f.Admin, dbtest.IndexInput("Before", "account"))
	dbtest.Must(t, err)
	untilFromMemory(t, "the list", func() int64 {
		before := keptMisses(db)
		keptIndexNames(t, db, f.Admin)
		return keptMisses(db) - before
	})
	cutOffNews(t, db)
	changeUnheard(t, db, func(tx *gorm.DB) error {
		return tx.Exec("UPDATE indexes SET name = ?, name_key = ? WHERE id = ?", "Unheard", "unheard", ix.ID).Error
	})
	wantList(t, "while the channel is down", keptIndexNames(t, db, f.Admin), "Unheard (1)")
	waitForKeyCache(t, db, true)
	wantList(t, "once it is up again", keptIndexNames(t, db, f.Admin), "Unheard (1)")
}

// Inside a transaction a list is read, never kept: the transaction may see
// rows it has not committed, which must not be answered to anyone else,
// even while it runs.
func TestKeptListsKeepNothingReadInATransaction(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		hearNews(t, db)
		f := dbtest.NewOrgFixture(t, db)
		_, err := models.CreateIndex(t.Context(), db, f.Admin, dbtest.IndexInput("Committed", "account"))
		dbtest.Must(t, err)
		rolledBack := errors.New("rolled back")
		err = tenancy.InTx(t.Context(), db, func(tx *gorm.DB) error {
			if _, err := models.CreateIndex(t.Context(), tx, f.Admin, dbtest.IndexInput("Uncommitted", "account")); err != nil {
				return err
			}
			wantList(t, "inside the transaction", keptIndexNames(t, tx, f.Admin), "Committed, Uncommitted (2)")
			wantList(t, "outside it meanwhile", keptIndexNames(t, db, f.Admin), "Committed (1)")
			return rolledBack
		})
		if !errors.Is(err, rolledBack) {
			t.Fatalf("the transaction: %v, want it rolled back", err)
		}
		wantList(t, "after it rolled back", keptIndexNames(t, db, f.Admin), "Committed (1)")
	})
}
