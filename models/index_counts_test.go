package models_test

import (
	"fmt"
	"sync"
	"testing"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// wantVisibleCount fails unless the maintained count the scope sees equals
// a real count of the indexes it sees (the filtered path counts rows).
func wantVisibleCount(t *testing.T, db *gorm.DB, label string, s tenancy.Scope) int64 {
	t.Helper()
	kept, err := models.CountVisibleIndexes(t.Context(), db, s)
	dbtest.Must(t, err)
	// A filter every index passes makes the listing count its rows.
	_, counted, err := models.ListIndexesForAPI(t.Context(), db, s, models.APIIndexQuery{Page: 1, Limit: 1, ModelOptions: []string{""}})
	dbtest.Must(t, err)
	_, listed, err := models.ListIndexesForAPI(t.Context(), db, s, models.APIIndexQuery{Page: 1, Limit: 1})
	dbtest.Must(t, err)
	if kept != counted || listed != counted {
		t.Errorf("%s: maintained count %d, API total %d, real count %d", label, kept, listed, counted)
	}
	// The dashboard's list, on its first page and past its end.
	for _, page := range []int{1, 1000} {
		list, err := models.ListIndexes(t.Context(), db, s, models.IndexQuery{Page: tenancy.Page{Number: page, Size: 20}})
		dbtest.Must(t, err)
		if list.Total != counted || list.Capped {
			t.Errorf("%s: the index list's page %d says %d (capped %v), real count %d", label, page, list.Total, list.Capped, counted)
		}
		if want := min(max(counted-int64(page-1)*20, 0), 20); int64(len(list.Rows)) != want {
			t.Errorf("%s: the index list's page %d has %d rows, want %d", label, page, len(list.Rows), want)
		}
	}
	return counted
}

// TestIndexCountsExactUnderConcurrency: members create and delete shared
// and private indexes at once; afterwards every maintained count equals a
// real COUNT, and each member's total is what they see.
func TestIndexCountsExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		scopes := []tenancy.Scope{f.Admin, f.Member, f.Member2, f.Other, f.AdminPersonal}
		// Some to delete later, made first.
		var doomed []struct {
			s  tenancy.Scope
			id string
		}
		for i, s := range scopes {
			for j := range 3 {
				vis := "account"
				if j == 1 && s.IsOrganization() {
					vis = "private"
				}
				idx := dbtest.NewIndex(t, db, s, fmt.Sprintf("Doomed %d-%d", i, j), vis)
				doomed = append(doomed, struct {
					s  tenancy.Scope
					id string
				}{s, idx.PublicID})
			}
		}
		const perScope = 12
		var wg sync.WaitGroup
		errs := make(chan error, len(scopes)*perScope+len(doomed))
		for i, s := range scopes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range perScope {
					vis := "account"
					if j%3 == 0 && s.IsOrganization() {
						vis = "private"
					}
					if _, err := models.CreateIndex(t.Context(), db, s, dbtest.IndexInput(fmt.Sprintf("Index %d-%d", i, j), vis)); err != nil {
						errs <- err
					}
				}
			}()
		}
		for _, d := range doomed {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := models.DeleteIndex(t.Context(), db, d.s, d.id); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent create or delete: %v", err)
		}
		dbtest.WantIndexCountsExact(t, db)
		for label, s := range map[string]tenancy.Scope{"admin": f.Admin, "member": f.Member, "member2": f.Member2, "other": f.Other, "personal": f.AdminPersonal} {
			wantVisibleCount(t, db, label, s)
		}
		// Shared in the organization: 3 members × 8 (the first ones are all
		// deleted); the member's own 4 private ones on top.
		if got := wantVisibleCount(t, db, "member", f.Member); got != 3*8+4 {
			t.Errorf("a member sees %d indexes, want %d", got, 3*8+4)
		}
	})
}

// TestIndexCountsFollowEveryPath: a change of visibility, a member's
// removal (their private indexes pass to the administrator), a user's
// deletion and the organization's deletion keep the counts exact, and no
// member's total includes another member's private indexes or another
// account's.
func TestIndexCountsFollowEveryPath(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		dbtest.NewIndex(t, db, f.Admin, "Shared", "account")
		mine := dbtest.NewIndex(t, db, f.Member, "Member's own", "private")
		dbtest.NewIndex(t, db, f.Member, "Member's second", "private")
		dbtest.NewIndex(t, db, f.Other, "Elsewhere", "account")
		dbtest.WantIndexCountsExact(t, db)
		if n := wantVisibleCount(t, db, "member2", f.Member2); n != 1 {
			t.Errorf("member2 sees %d indexes, want 1 (another member's private ones are not counted)", n)
		}
		if n := wantVisibleCount(t, db, "member", f.Member); n != 3 {
			t.Errorf("the member sees %d indexes, want 3", n)
		}

		_, err := models.UpdateIndex(t.Context(), db, f.Member, mine.PublicID, models.IndexUpdate{Name: mine.Name, Visibility: "account"})
		dbtest.Must(t, err)
		dbtest.WantIndexCountsExact(t, db)
		if n := wantVisibleCount(t, db, "member2", f.Member2); n != 2 {
			t.Errorf("after sharing, member2 sees %d indexes, want 2", n)
		}

		actor := tenancy.Actor{UserID: f.AdminUser.ID, Name: f.AdminUser.Name}
		_, err = models.RemoveMember(t.Context(), db, f.Admin, f.MemberUser.PublicID, actor)
		dbtest.Must(t, err)
		dbtest.WantIndexCountsExact(t, db)
		if n := wantVisibleCount(t, db, "admin", f.Admin); n != 3 {
			t.Errorf("after the removal, the administrator sees %d indexes, want 3 (the removed member's private one is theirs)", n)
		}

		dbtest.NewIndex(t, db, f.Member2, "Member2's own", "private")
		dbtest.Must(t, dbtest.Plain(t, db).Exec("DELETE FROM users WHERE id = ?", f.Member2User.ID).Error)
		dbtest.WantIndexCountsExact(t, db)

		dbtest.Must(t, models.DeleteOrganization(t.Context(), db, f.Admin, f.Admin.Account().Name, actor))
		dbtest.WantIndexCountsExact(t, db)
		if n := dbtest.CountRows(t, db, "index_counts", "account_id = ?", f.Admin.AccountID()); n != 0 {
			t.Errorf("%d index_counts rows outlive their organization", n)
		}
		wantVisibleCount(t, db, "other", f.Other)
	})
}
