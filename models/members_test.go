package models_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// adminCount is the number of administrators of the account.
func adminCount(t *testing.T, db *gorm.DB, accountID int64) int64 {
	t.Helper()
	return dbtest.CountRows(t, db, "memberships", "account_id = ? AND role = ?", accountID, tenancy.RoleAdmin)
}

// joinedLongAgo backdates a membership, making its member the
// longest-serving.
func joinedLongAgo(t *testing.T, db *gorm.DB, accountID, userID int64) {
	t.Helper()
	dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE memberships SET created_at = ? WHERE account_id = ? AND user_id = ?",
		dbtest.UTC().AddDate(-5, 0, 0), accountID, userID).Error)
}

// mentionsRole reports whether an audit detail names the role, by value or
// by label.
func mentionsRole(details string, r tenancy.Role) bool {
	return strings.Contains(details, string(r)) || strings.Contains(details, r.Label())
}

// indexString shows every field of an index, its creator's ID included.
func indexString(idx models.Index) string {
	creator := "none"
	if idx.CreatedByID != nil {
		creator = fmt.Sprint(*idx.CreatedByID)
	}
	idx.CreatedByID = nil
	return fmt.Sprintf("%+v created by %s", idx, creator)
}

// wantHandedOver fails unless the index now belongs, still private, to heir
// under the name want, and nobody else in the organization sees it.
func wantHandedOver(t *testing.T, db *gorm.DB, idx models.Index, heir tenancy.Scope, want string, others ...tenancy.Scope) {
	t.Helper()
	got := dbtest.RawIndex(t, db, idx.ID)
	if got.CreatedByID == nil || *got.CreatedByID != heir.UserID() {
		t.Errorf("%q: created by %v, want the heir %d", idx.Name, got.CreatedByID, heir.UserID())
	}
	if got.Visibility != models.VisibilityPrivate || got.NameScope != heir.UserID() || got.AccountID != idx.AccountID {
		t.Errorf("%q: visibility %s, name scope %d, account %d; want private to %d in %d",
			idx.Name, got.Visibility, got.NameScope, got.AccountID, heir.UserID(), idx.AccountID)
	}
	if got.Name != want || got.NameKey != strings.ToLower(want) {
		t.Errorf("%q: renamed %q (key %q), want %q", idx.Name, got.Name, got.NameKey, want)
	}
	if _, err := models.GetIndex(t.Context(), db, heir, idx.PublicID); err != nil {
		t.Errorf("%q: the heir cannot open it: %v", idx.Name, err)
	}
	for _, s := range others {
		if _, err := models.GetIndex(t.Context(), db, s, idx.PublicID); !errors.Is(err, tenancy.ErrNotFound) {
			t.Errorf("%q: user %d opens it (%v), want ErrNotFound: it stays private", idx.Name, s.UserID(), err)
		}
	}
}

func TestListMembers(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		n := dbtest.Unique("")
		zed, _ := dbtest.UserNamed(t, db, "Zed Admin", "zed"+n+"@example.com")
		org := dbtest.Org(t, db, zed)
		alice, _ := dbtest.UserNamed(t, db, "alice Member", "alice"+n+"@example.com")
		bob, _ := dbtest.UserNamed(t, db, "Bob Member", "bob"+n+"@example.com")
		yves, _ := dbtest.UserNamed(t, db, "Yves Admin", "yves"+n+"@example.com")
		carl, _ := dbtest.UserNamed(t, db, "Carl Single-Sign-On", "carl"+n+"@example.com")
		for _, u := range []models.User{bob, carl, alice} {
			dbtest.AddMember(t, db, org, u, tenancy.RoleMember)
		}
		dbtest.AddMember(t, db, org, yves, tenancy.RoleAdmin)
		aliceScope, err := tenancy.LoadScope(t.Context(), db, alice.ID, org.Account().PublicID)
		dbtest.Must(t, err)
		dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE users SET password_hash = '' WHERE id = ?", carl.ID).Error)
		// Another organization's members are not listed.
		stranger, _ := dbtest.User(t, db)
		other := dbtest.Org(t, db, stranger)
		dbtest.AddMember(t, db, other, bob, tenancy.RoleAdmin)

		want := []struct {
			user     models.User
			role     tenancy.Role
			password bool
		}{
			{yves, tenancy.RoleAdmin, true},
			{zed, tenancy.RoleAdmin, true},
			{alice, tenancy.RoleMember, true},
			{bob, tenancy.RoleMember, true},
			{carl, tenancy.RoleMember, false},
		}
		for label, s := range map[string]tenancy.Scope{"administrator": org, "regular member": aliceScope} {
			t.Run(label, func(t *testing.T) {
				var got []models.MemberRow
				for page := 1; page <= 3; page++ {
					rows, total, err := models.ListMembers(t.Context(), db, s, tenancy.Page{Number: page, Size: 2})
					dbtest.Must(t, err)
					if total != 5 {
						t.Errorf("page %d: total %d, want 5", page, total)
					}
					got = append(got, rows...)
				}
				if len(got) != len(want) {
					t.Fatalf("%d members over 3 pages, want %d", len(got), len(want))
				}
				for i, w := range want {
					r := got[i]
					if r.UserID != w.user.ID || r.UserPublicID != w.user.PublicID || r.Name != w.user.Name || r.Email != w.user.Email {
						t.Errorf("row %d: %s <%s>, want %s <%s>", i, r.Name, r.Email, w.user.Name, w.user.Email)
					}
					if r.Role != w.role || r.HasPassword != w.password || r.JoinedAt.IsZero() {
						t.Errorf("row %d (%s): role %s, has password %v, joined %v; want %s, %v", i, r.Name, r.Role, r.HasPassword, r.JoinedAt, w.role, w.password)
					}
				}
			})
		}
		rows, total, err := models.ListMembers(t.Context(), db, other, tenancy.Page{Number: 1, Size: 20})
		dbtest.Must(t, err)
		if total != 2 || len(rows) != 2 {
			t.Errorf("the other organization lists %d of %d members, want 2", len(rows), total)
		}
		_, _, err = models.ListMembers(t.Context(), db, tenancy.Scope{}, tenancy.Page{Number: 1, Size: 20})
		dbtest.WantIs(t, err, tenancy.ErrUnscoped)

		t.Run("GetMember", func(t *testing.T) {
			for _, s := range []tenancy.Scope{org, aliceScope} {
				r, err := models.GetMember(t.Context(), db, s, carl.PublicID)
				dbtest.Must(t, err)
				if r.UserID != carl.ID || r.Email != carl.Email || r.Role != tenancy.RoleMember || r.HasPassword || r.JoinedAt.IsZero() {
					t.Errorf("GetMember %+v", r)
				}
			}
			r, err := models.GetMember(t.Context(), db, other, bob.PublicID)
			dbtest.Must(t, err)
			if r.Role != tenancy.RoleAdmin {
				t.Errorf("bob's role in the other organization %s, want admin", r.Role)
			}
			for _, c := range []struct {
				label string
				scope tenancy.Scope
				id    string
				err   error
			}{
				{"a member of another organization", org, stranger.PublicID, tenancy.ErrNotFound},
				{"a member of this one, asked from another", other, alice.PublicID, tenancy.ErrNotFound},
				{"unknown", org, "00000000-0000-0000-0000-000000000000", tenancy.ErrNotFound},
				{"empty", org, "", tenancy.ErrNotFound},
				{"zero scope", tenancy.Scope{}, alice.PublicID, tenancy.ErrUnscoped},
			} {
				t.Run(c.label, func(t *testing.T) {
					_, err := models.GetMember(t.Context(), db, c.scope, c.id)
					dbtest.WantIs(t, err, c.err)
				})
			}
		})
	})
}

func TestChangeRole(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		acct := f.Admin.AccountID()
		actor := dbtest.ActorOf(f.AdminUser)

		u, err := models.ChangeRole(t.Context(), db, f.Admin, f.MemberUser.PublicID, tenancy.RoleAdmin, actor)
		dbtest.Must(t, err)
		if u.ID != f.MemberUser.ID || u.Email != f.MemberUser.Email {
			t.Errorf("ChangeRole returned %+v", u)
		}
		if got := membershipRole(t, db, acct, f.MemberUser.ID); got != tenancy.RoleAdmin {
			t.Fatalf("promoted to %q, want admin", got)
		}
		if s, err := tenancy.LoadScope(t.Context(), db, f.MemberUser.ID, f.Admin.Account().PublicID); err != nil || s.Role() != tenancy.RoleAdmin {
			t.Errorf("promoted member's next scope: %v, %v", s.Role(), err)
		}
		// The promoted member demotes the founder.
		promoted := dbtest.ActorOf(f.MemberUser)
		promotedScope, err := tenancy.LoadScope(t.Context(), db, f.MemberUser.ID, f.Admin.Account().PublicID)
		dbtest.Must(t, err)
		_, err = models.ChangeRole(t.Context(), db, promotedScope, f.AdminUser.PublicID, tenancy.RoleMember, promoted)
		dbtest.Must(t, err)
		if got := membershipRole(t, db, acct, f.AdminUser.ID); got != tenancy.RoleMember {
			t.Fatalf("demoted to %q, want member", got)
		}
		evs := auditOf(t, db, acct, models.AuditRoleChanged)
		if len(evs) != 2 {
			t.Fatalf("%d role events, want 2", len(evs))
		}
		for i, c := range []struct {
			actor    tenancy.Actor
			target   string
			from, to tenancy.Role
		}{
			{actor, f.MemberUser.Email, tenancy.RoleMember, tenancy.RoleAdmin},
			{promoted, f.AdminUser.Email, tenancy.RoleAdmin, tenancy.RoleMember},
		} {
			ev := evs[i]
			if !strings.Contains(ev.Target, c.target) || ev.ActorUserID == nil || *ev.ActorUserID != c.actor.UserID || ev.ActorName != c.actor.Name || ev.IP != c.actor.IP {
				t.Errorf("event %d: %+v, want %s by %s", i, ev, c.target, c.actor.Name)
			}
			if !mentionsRole(ev.Details, c.from) || !mentionsRole(ev.Details, c.to) {
				t.Errorf("event %d: details %q, want the old and new role", i, ev.Details)
			}
		}

		// Asking for the role someone has changes nothing.
		before := teamSnapshot(t, db)
		_, err = models.ChangeRole(t.Context(), db, promotedScope, f.Member2User.PublicID, tenancy.RoleMember, promoted)
		dbtest.Must(t, err)
		wantTeamUnchanged(t, db, before)
	})
}

func TestChangeRoleRefusals(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		outsider, _ := dbtest.User(t, db)
		otherOwner := reloadUser(t, db, f.Other.UserID())
		actor := dbtest.ActorOf(f.AdminUser)
		cases := []struct {
			label  string
			scope  tenancy.Scope
			target string
			role   tenancy.Role
			err    error
			keys   []string
		}{
			{"the last administrator demotes themselves", f.Admin, f.AdminUser.PublicID, tenancy.RoleMember, models.ErrLastAdmin, nil},
			{"a regular member promotes themselves", f.Member, f.MemberUser.PublicID, tenancy.RoleAdmin, tenancy.ErrForbidden, nil},
			{"a regular member demotes the administrator", f.Member, f.AdminUser.PublicID, tenancy.RoleMember, tenancy.ErrForbidden, nil},
			{"a regular member, bad role", f.Member, f.Member2User.PublicID, "owner", tenancy.ErrForbidden, nil},
			{"unknown user", f.Admin, "00000000-0000-0000-0000-000000000000", tenancy.RoleAdmin, tenancy.ErrNotFound, nil},
			{"a user with no membership here", f.Admin, outsider.PublicID, tenancy.RoleAdmin, tenancy.ErrNotFound, nil},
			{"another organization's administrator", f.Admin, otherOwner.PublicID, tenancy.RoleMember, tenancy.ErrNotFound, nil},
			{"a member, from another organization", f.Other, f.MemberUser.PublicID, tenancy.RoleAdmin, tenancy.ErrNotFound, nil},
			{"personal account", f.AdminPersonal, f.AdminUser.PublicID, tenancy.RoleMember, tenancy.ErrNotFound, nil},
			{"zero scope", tenancy.Scope{}, f.MemberUser.PublicID, tenancy.RoleAdmin, tenancy.ErrUnscoped, nil},
			{"unknown role", f.Admin, f.MemberUser.PublicID, "owner", nil, []string{"role"}},
			{"upper-case role", f.Admin, f.MemberUser.PublicID, "ADMIN", nil, []string{"role"}},
			{"empty role", f.Admin, f.MemberUser.PublicID, "", nil, []string{"role"}},
		}
		for _, c := range cases {
			t.Run(c.label, func(t *testing.T) {
				before := teamSnapshot(t, db)
				_, err := models.ChangeRole(t.Context(), db, c.scope, c.target, c.role, actor)
				if c.err != nil {
					dbtest.WantIs(t, err, c.err)
				} else {
					dbtest.WantFields(t, err, c.keys...)
				}
				wantTeamUnchanged(t, db, before)
			})
		}
		if n := adminCount(t, db, f.Admin.AccountID()); n != 1 {
			t.Errorf("%d administrators, want 1", n)
		}
	})
}

// TestRemoveMemberHandsOverPrivateIndexes: a removed member's private indexes
// pass to the administrator who removed them and stay private; names that
// would clash with what the heir sees get " (from <name>)", then a number.
// Shared indexes stay as they were.
func TestRemoveMemberHandsOverPrivateIndexes(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		m := f.MemberUser
		notes := dbtest.NewIndex(t, db, f.Member, "Notes", "private")
		plan := dbtest.NewIndex(t, db, f.Member, "Plan", "private")
		draft := dbtest.NewIndex(t, db, f.Member, "Draft", "private")
		solo := dbtest.NewIndex(t, db, f.Member, "Solo", "private")
		shared := dbtest.NewIndex(t, db, f.Member, "Shared by the member", "account")
		video := dbtest.AddVideo(t, db, f.Member, notes.PublicID, "Kept", 30)
		// What the heir already sees: their own private indexes and a shared one.
		adminOwn := []models.Index{
			dbtest.NewIndex(t, db, f.Admin, "notes", "private"),
			dbtest.NewIndex(t, db, f.Admin, "Plan", "private"),
			dbtest.NewIndex(t, db, f.Admin, "Plan (from "+m.Name+")", "private"),
		}
		dbtest.NewIndex(t, db, f.Member2, "DRAFT", "account")
		member2Solo := dbtest.NewIndex(t, db, f.Member2, "Solo", "private")
		untouched := []models.Index{shared, member2Solo}
		untouched = append(untouched, adminOwn...)
		var beforeRows []string
		for _, idx := range untouched {
			beforeRows = append(beforeRows, indexString(dbtest.RawIndex(t, db, idx.ID)))
		}

		u, err := models.RemoveMember(t.Context(), db, f.Admin, m.PublicID, dbtest.ActorOf(f.AdminUser))
		dbtest.Must(t, err)
		if u.ID != m.ID {
			t.Errorf("RemoveMember returned user %d, want %d", u.ID, m.ID)
		}
		if got := membershipRole(t, db, f.Admin.AccountID(), m.ID); got != "" {
			t.Fatalf("still a member as %q", got)
		}
		_, err = tenancy.LoadScope(t.Context(), db, m.ID, f.Admin.Account().PublicID)
		dbtest.WantIs(t, err, tenancy.ErrNotMember)

		wantHandedOver(t, db, notes, f.Admin, "Notes (from "+m.Name+")", f.Member2)
		wantHandedOver(t, db, plan, f.Admin, "Plan (from "+m.Name+", 2)", f.Member2)
		wantHandedOver(t, db, draft, f.Admin, "Draft (from "+m.Name+")", f.Member2)
		wantHandedOver(t, db, solo, f.Admin, "Solo", f.Member2)
		for i, idx := range untouched {
			if got := indexString(dbtest.RawIndex(t, db, idx.ID)); got != beforeRows[i] {
				t.Errorf("%q changed:\nbefore %s\nafter  %s", idx.Name, beforeRows[i], got)
			}
		}
		if got := dbtest.RawIndex(t, db, shared.ID); got.CreatedByID == nil || *got.CreatedByID != m.ID || got.Visibility != models.VisibilityAccount {
			t.Errorf("the shared index is now %+v, want it shared and still created by the member", got)
		}
		for _, s := range []tenancy.Scope{f.Admin, f.Member2} {
			if _, err := models.GetIndex(t.Context(), db, s, shared.PublicID); err != nil {
				t.Errorf("user %d cannot open the shared index: %v", s.UserID(), err)
			}
		}
		if n := dbtest.CountRows(t, db, "videos", "id = ? AND index_id = ?", video.ID, notes.ID); n != 1 {
			t.Error("the handed-over index lost its video")
		}
		list := listIndexes(t, db, f.Admin, models.IndexQuery{Sort: models.SortName})
		for _, want := range []string{"Notes (from " + m.Name + ")", "Plan (from " + m.Name + ", 2)", "Solo", "Shared by the member"} {
			if !slices.Contains(indexNames(list.Rows), want) {
				t.Errorf("the heir's list %q lacks %q", indexNames(list.Rows), want)
			}
		}
		wantAudit(t, db, f.Admin.AccountID(), models.AuditRemoved, dbtest.ActorOf(f.AdminUser), m.Email)
	})
}

func TestRemoveMemberRefusals(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		dbtest.NewIndex(t, db, f.Admin, "Admin's private", "private")
		dbtest.NewIndex(t, db, f.Member, "Member's private", "private")
		outsider, _ := dbtest.User(t, db)
		otherOwner := reloadUser(t, db, f.Other.UserID())
		for _, c := range []struct {
			label  string
			scope  tenancy.Scope
			target string
			err    error
		}{
			{"the last administrator removes themselves", f.Admin, f.AdminUser.PublicID, models.ErrLastAdmin},
			{"a regular member removes another", f.Member, f.Member2User.PublicID, tenancy.ErrForbidden},
			{"a regular member removes the administrator", f.Member, f.AdminUser.PublicID, tenancy.ErrForbidden},
			{"a regular member removes themselves", f.Member, f.MemberUser.PublicID, tenancy.ErrForbidden},
			{"another organization's administrator", f.Admin, otherOwner.PublicID, tenancy.ErrNotFound},
			{"a member, from another organization", f.Other, f.MemberUser.PublicID, tenancy.ErrNotFound},
			{"a user with no membership here", f.Admin, outsider.PublicID, tenancy.ErrNotFound},
			{"unknown user", f.Admin, "00000000-0000-0000-0000-000000000000", tenancy.ErrNotFound},
			{"personal account", f.AdminPersonal, f.AdminUser.PublicID, tenancy.ErrNotFound},
			{"zero scope", tenancy.Scope{}, f.MemberUser.PublicID, tenancy.ErrUnscoped},
		} {
			t.Run(c.label, func(t *testing.T) {
				before := teamSnapshot(t, db)
				_, err := models.RemoveMember(t.Context(), db, c.scope, c.target, dbtest.ActorOf(f.AdminUser))
				dbtest.WantIs(t, err, c.err)
				wantTeamUnchanged(t, db, before)
			})
		}
	})
}

// TestRemoveSelfWithAnotherAdmin: an administrator may remove themselves
// while another remains; their private indexes pass to the longest-serving
// other administrator.
func TestRemoveSelfWithAnotherAdmin(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		acct := f.Admin.AccountID()
		bUser, _ := dbtest.User(t, db)
		b := dbtest.AddMember(t, db, f.Admin, bUser, tenancy.RoleAdmin)
		cUser, _ := dbtest.User(t, db)
		c := dbtest.AddMember(t, db, f.Admin, cUser, tenancy.RoleAdmin)
		// c joined last but, backdated, has served longest of the others.
		joinedLongAgo(t, db, acct, cUser.ID)
		mine := dbtest.NewIndex(t, db, f.Admin, "Mine", "private")
		other := dbtest.NewIndex(t, db, f.Admin, "Roadmap", "private")
		dbtest.NewIndex(t, db, c, "Roadmap", "private")

		_, err := models.RemoveMember(t.Context(), db, f.Admin, f.AdminUser.PublicID, dbtest.ActorOf(f.AdminUser))
		dbtest.Must(t, err)
		if got := membershipRole(t, db, acct, f.AdminUser.ID); got != "" {
			t.Fatalf("still a member as %q", got)
		}
		if n := adminCount(t, db, acct); n != 2 {
			t.Errorf("%d administrators, want 2", n)
		}
		wantHandedOver(t, db, mine, c, "Mine", b, f.Member)
		wantHandedOver(t, db, other, c, "Roadmap (from "+f.AdminUser.Name+")", b, f.Member)
		wantAudit(t, db, acct, models.AuditRemoved, dbtest.ActorOf(f.AdminUser), f.AdminUser.Email)
	})
}

func TestLeaveOrganization(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		acct := f.Admin.AccountID()
		bUser, _ := dbtest.User(t, db)
		b := dbtest.AddMember(t, db, f.Admin, bUser, tenancy.RoleAdmin)
		joinedLongAgo(t, db, acct, bUser.ID) // b is now the longest-serving administrator

		for label, s := range map[string]tenancy.Scope{"member": f.Member, "admin with another admin": f.Admin} {
			ok, err := models.CanLeave(t.Context(), db, s)
			if err != nil || !ok {
				t.Errorf("%s: CanLeave %v, %v; want true", label, ok, err)
			}
		}

		private := dbtest.NewIndex(t, db, f.Member, "Leaving notes", "private")
		shared := dbtest.NewIndex(t, db, f.Member, "Leaving shared", "account")
		dbtest.Must(t, models.LeaveOrganization(t.Context(), db, f.Member, dbtest.ActorOf(f.MemberUser)))
		if got := membershipRole(t, db, acct, f.MemberUser.ID); got != "" {
			t.Fatalf("still a member as %q", got)
		}
		_, err := tenancy.LoadScope(t.Context(), db, f.MemberUser.ID, f.Admin.Account().PublicID)
		dbtest.WantIs(t, err, tenancy.ErrNotMember)
		wantHandedOver(t, db, private, b, "Leaving notes", f.Admin, f.Member2)
		if got := dbtest.RawIndex(t, db, shared.ID); got.CreatedByID == nil || *got.CreatedByID != f.MemberUser.ID || got.Visibility != models.VisibilityAccount {
			t.Errorf("shared index now %+v", got)
		}
		wantAudit(t, db, acct, models.AuditLeft, dbtest.ActorOf(f.MemberUser), f.MemberUser.Email)

		// An administrator leaves while another remains.
		mine := dbtest.NewIndex(t, db, f.Admin, "Founder's", "private")
		dbtest.Must(t, models.LeaveOrganization(t.Context(), db, f.Admin, dbtest.ActorOf(f.AdminUser)))
		wantHandedOver(t, db, mine, b, "Founder's", f.Member2)
		if n := adminCount(t, db, acct); n != 1 {
			t.Errorf("%d administrators, want 1", n)
		}

		// b is now the last administrator: cannot leave, and CanLeave says so.
		ok, err := models.CanLeave(t.Context(), db, b)
		if err != nil || ok {
			t.Errorf("last admin: CanLeave %v, %v; want false", ok, err)
		}
		ok, err = models.CanLeave(t.Context(), db, f.AdminPersonal)
		if err != nil || ok {
			t.Errorf("personal account: CanLeave %v, %v; want false", ok, err)
		}
		for _, c := range []struct {
			label string
			scope tenancy.Scope
			err   error
		}{
			{"the last administrator", b, models.ErrLastAdmin},
			{"personal account", f.AdminPersonal, tenancy.ErrNotFound},
			{"someone who already left", f.Member, tenancy.ErrNotMember},
			{"zero scope", tenancy.Scope{}, tenancy.ErrUnscoped},
		} {
			t.Run(c.label, func(t *testing.T) {
				before := teamSnapshot(t, db)
				dbtest.WantIs(t, models.LeaveOrganization(t.Context(), db, c.scope, dbtest.ActorOf(bUser)), c.err)
				wantTeamUnchanged(t, db, before)
			})
		}
		// The remaining regular member can still leave.
		dbtest.Must(t, models.LeaveOrganization(t.Context(), db, f.Member2, dbtest.ActorOf(f.Member2User)))
		if n := dbtest.CountRows(t, db, "memberships", "account_id = ?", acct); n != 1 {
			t.Errorf("%d members left, want b alone", n)
		}
	})
}

func TestDeleteOrganization(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		acct := f.Admin.AccountID()
		// Everything an organization holds, in this one and in another.
		fill := func(s tenancy.Scope, by models.User, tag string) models.SentInvitation {
			shared := dbtest.NewIndex(t, db, s, tag+" shared", "account")
			private := dbtest.NewIndex(t, db, s, tag+" private", "private")
			dbtest.AddVideo(t, db, s, shared.PublicID, tag+" one", 10)
			dbtest.AddVideo(t, db, s, private.PublicID, tag+" two", 20)
			newIntegration(t, db, s, tag+" bucket")
			res := invite(t, db, s, by, tag+"-open@example.com, "+tag+"-revoked@example.com, "+tag+"-joined@example.com", tenancy.RoleMember)
			_, err := models.RevokeInvitation(t.Context(), db, s, res.Invited[1].PublicID, dbtest.ActorOf(by))
			dbtest.Must(t, err)
			joiner, _ := dbtest.UserNamed(t, db, tag+" joiner", tag+"-joined@example.com")
			_, err = models.AcceptInvitation(t.Context(), db, res.Invited[2].Token, joiner, "")
			dbtest.Must(t, err)
			return res.Invited[0]
		}
		open := fill(f.Admin, f.AdminUser, "doomed")
		otherOwner := reloadUser(t, db, f.Other.UserID())
		otherOpen := fill(f.Other, otherOwner, "kept")
		dbtest.NewIndex(t, db, f.AdminPersonal, "Personal", "")
		// The organization was renamed since the administrator's scope was made:
		// the current name is the one to type.
		oldName := f.Admin.Account().Name
		renamed, err := models.RenameOrganization(t.Context(), db, f.Admin, "Doomed Inc", dbtest.ActorOf(f.AdminUser))
		dbtest.Must(t, err)

		owned := []string{"memberships", "indexes", "videos", "s3_integrations", "invitations", "audit_events"}
		countsOf := func(accountID int64) map[string]int64 {
			c := map[string]int64{"accounts": dbtest.CountRows(t, db, "accounts", "id = ?", accountID)}
			for _, table := range owned {
				c[table] = dbtest.CountRows(t, db, table, "account_id = ?", accountID)
			}
			return c
		}
		for table, n := range countsOf(acct) {
			if n == 0 {
				t.Fatalf("fixture: no %s in the organization", table)
			}
		}

		for _, c := range []struct {
			label   string
			scope   tenancy.Scope
			confirm string
			err     error
		}{
			{"empty name", f.Admin, "", nil},
			{"wrong name", f.Admin, "Something else", nil},
			{"the name in another case", f.Admin, strings.ToUpper(renamed.Name), nil},
			{"part of the name", f.Admin, renamed.Name[:len(renamed.Name)-1], nil},
			{"the name and more", f.Admin, renamed.Name + "!", nil},
			{"the name before the rename", f.Admin, oldName, nil},
			{"regular member", f.Member, renamed.Name, tenancy.ErrForbidden},
			{"personal account", f.AdminPersonal, f.AdminPersonal.Account().Name, tenancy.ErrNotFound},
			{"zero scope", tenancy.Scope{}, renamed.Name, tenancy.ErrUnscoped},
		} {
			t.Run(c.label, func(t *testing.T) {
				before := teamSnapshot(t, db)
				err := models.DeleteOrganization(t.Context(), db, c.scope, c.confirm, dbtest.ActorOf(f.AdminUser))
				if c.err != nil {
					dbtest.WantIs(t, err, c.err)
				} else {
					dbtest.WantFields(t, err, "confirm_name")
				}
				wantTeamUnchanged(t, db, before)
			})
		}

		otherBefore := countsOf(f.Other.AccountID())
		personalBefore := countsOf(f.AdminPersonal.AccountID())
		users := dbtest.CountRows(t, db, "users", "")
		dbtest.Must(t, models.DeleteOrganization(t.Context(), db, f.Admin, "  "+renamed.Name+" ", dbtest.ActorOf(f.AdminUser)))
		for table, n := range countsOf(acct) {
			if n != 0 {
				t.Errorf("%d rows of %s left for the deleted organization", n, table)
			}
		}
		if got := countsOf(f.Other.AccountID()); fmt.Sprint(got) != fmt.Sprint(otherBefore) {
			t.Errorf("the other organization changed: %v, was %v", got, otherBefore)
		}
		if got := countsOf(f.AdminPersonal.AccountID()); fmt.Sprint(got) != fmt.Sprint(personalBefore) {
			t.Errorf("the personal account changed: %v, was %v", got, personalBefore)
		}
		if n := dbtest.CountRows(t, db, "users", ""); n != users {
			t.Errorf("%d users, was %d: members must keep their user", n, users)
		}
		for _, u := range []models.User{f.AdminUser, f.MemberUser, f.Member2User} {
			_, err := tenancy.LoadScope(t.Context(), db, u.ID, f.Admin.Account().PublicID)
			dbtest.WantIs(t, err, tenancy.ErrNotMember)
			if _, err := tenancy.PersonalScope(t.Context(), db, u.ID); err != nil {
				t.Errorf("%s lost their personal account: %v", u.Name, err)
			}
		}
		_, err = models.LookupInvitation(t.Context(), db, open.Token)
		dbtest.WantIs(t, err, models.ErrInvitationNotFound)
		if _, err := models.LookupInvitation(t.Context(), db, otherOpen.Token); err != nil {
			t.Errorf("the other organization's invitation: %v", err)
		}

		// Its creator may create an organization again.
		ok, err := models.CanCreateOrganization(t.Context(), db, f.AdminUser.ID)
		if err != nil || !ok {
			t.Fatalf("CanCreateOrganization %v, %v; want true", ok, err)
		}
		again, err := models.CreateOrganization(t.Context(), db, f.AdminUser.ID, renamed.Name)
		dbtest.Must(t, err)
		if got := membershipRole(t, db, again.ID, f.AdminUser.ID); got != tenancy.RoleAdmin {
			t.Errorf("role in the new organization %q, want admin", got)
		}
	})
}

// TestDemoteEachOtherConcurrently: two administrators demoting each other at
// once never leave the organization without one.
func TestDemoteEachOtherConcurrently(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		aUser, _ := dbtest.User(t, db)
		a := dbtest.Org(t, db, aUser)
		bUser, _ := dbtest.User(t, db)
		b := dbtest.AddMember(t, db, a, bUser, tenancy.RoleAdmin)
		acct := a.AccountID()
		for round := range 10 {
			var errs [2]error
			start := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-start
				_, errs[0] = models.ChangeRole(t.Context(), db, a, bUser.PublicID, tenancy.RoleMember, dbtest.ActorOf(aUser))
			}()
			go func() {
				defer wg.Done()
				<-start
				_, errs[1] = models.ChangeRole(t.Context(), db, b, aUser.PublicID, tenancy.RoleMember, dbtest.ActorOf(bUser))
			}()
			close(start)
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, models.ErrLastAdmin), errors.Is(err, tenancy.ErrForbidden):
				default:
					t.Errorf("round %d: %v, want success, ErrLastAdmin or ErrForbidden", round, err)
				}
			}
			if n := adminCount(t, db, acct); n != 1 || ok != 1 {
				t.Fatalf("round %d: %d administrators and %d demotions succeeded (%v); want 1 and 1", round, n, ok, errs)
			}
			if n := len(auditOf(t, db, acct, models.AuditRoleChanged)); n != round+1 {
				t.Errorf("round %d: %d role events, want %d", round, n, round+1)
			}
			dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE memberships SET role = ? WHERE account_id = ?", tenancy.RoleAdmin, acct).Error)
		}
	})
}

// TestRemoveEachOtherConcurrently: two administrators removing each other at
// once never leave the organization without one, and the private indexes of
// whoever goes pass to whoever stays.
func TestRemoveEachOtherConcurrently(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		aUser, _ := dbtest.User(t, db)
		a := dbtest.Org(t, db, aUser)
		bUser, _ := dbtest.User(t, db)
		b := dbtest.AddMember(t, db, a, bUser, tenancy.RoleAdmin)
		acct := a.AccountID()
		for round := range 10 {
			aIdx := dbtest.NewIndex(t, db, a, fmt.Sprintf("A %d", round), "private")
			bIdx := dbtest.NewIndex(t, db, b, fmt.Sprintf("B %d", round), "private")
			var errs [2]error
			start := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-start
				_, errs[0] = models.RemoveMember(t.Context(), db, a, bUser.PublicID, dbtest.ActorOf(aUser))
			}()
			go func() {
				defer wg.Done()
				<-start
				_, errs[1] = models.RemoveMember(t.Context(), db, b, aUser.PublicID, dbtest.ActorOf(bUser))
			}()
			close(start)
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, models.ErrLastAdmin), errors.Is(err, tenancy.ErrForbidden),
					errors.Is(err, tenancy.ErrNotMember), errors.Is(err, tenancy.ErrNotFound):
				default:
					t.Errorf("round %d: %v, want success or a refusal", round, err)
				}
			}
			if n := adminCount(t, db, acct); n != 1 || ok != 1 {
				t.Fatalf("round %d: %d administrators and %d removals succeeded (%v); want 1 and 1", round, n, ok, errs)
			}
			stayer, leaver := a, bUser
			if errs[1] == nil {
				stayer, leaver = b, aUser
			}
			if n := dbtest.CountRows(t, db, "memberships", "account_id = ?", acct); n != 1 {
				t.Fatalf("round %d: %d members, want the one who stayed", round, n)
			}
			for _, idx := range []models.Index{aIdx, bIdx} {
				got := dbtest.RawIndex(t, db, idx.ID)
				if got.CreatedByID == nil || *got.CreatedByID != stayer.UserID() || got.Visibility != models.VisibilityPrivate {
					t.Errorf("round %d: %q created by %v (%s), want private to %d", round, idx.Name, got.CreatedByID, got.Visibility, stayer.UserID())
				}
			}
			dbtest.Must(t, dbtest.Plain(t, db).Create(&tenancy.Membership{AccountID: acct, UserID: leaver.ID, Role: tenancy.RoleAdmin}).Error)
		}
	})
}

// TestHandOverKeepsIndexNamesValid: a handed-over index's new name is still a
// valid index name, at most IndexNameMax characters, however long the names
// involved.
func TestHandOverKeepsIndexNamesValid(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		for _, c := range []struct {
			label     string
			userName  string
			indexName string
		}{
			{"a 100-character index name", "Short Name", strings.Repeat("é", models.IndexNameMax)},
			{"a 100-character member name", strings.Repeat("Long", models.UserNameMax/4), "Notes"},
			{"a 93-character member name", strings.Repeat("n", 93), "Notes"},
		} {
			t.Run(c.label, func(t *testing.T) {
				f := dbtest.NewOrgFixture(t, db)
				u, _ := dbtest.UserNamed(t, db, c.userName, dbtest.Unique("long")+"@example.com")
				s := dbtest.AddMember(t, db, f.Admin, u, tenancy.RoleMember)
				idx := dbtest.NewIndex(t, db, s, c.indexName, "private")
				dbtest.NewIndex(t, db, f.Admin, c.indexName, "private")
				_, err := models.RemoveMember(t.Context(), db, f.Admin, u.PublicID, dbtest.ActorOf(f.AdminUser))
				dbtest.Must(t, err)
				got := dbtest.RawIndex(t, db, idx.ID)
				if n := utf8.RuneCountInString(got.Name); n > models.IndexNameMax {
					t.Errorf("handed-over name has %d characters, want at most %d: %q", n, models.IndexNameMax, got.Name)
				}
				if got.Name != strings.TrimSpace(got.Name) || !strings.HasPrefix(got.Name, string([]rune(c.indexName)[:1])) {
					t.Errorf("handed-over name %q, want the original name's start, trimmed", got.Name)
				}
				if strings.EqualFold(got.Name, c.indexName) || got.NameKey != strings.ToLower(got.Name) {
					t.Errorf("name %q key %q: clashes, or key out of step", got.Name, got.NameKey)
				}
				// The heir can save the index under the name it was given.
				if _, err := models.UpdateIndex(t.Context(), db, f.Admin, idx.PublicID, models.IndexUpdate{Name: got.Name}); err != nil {
					t.Errorf("renaming to the handed-over name %q: %v", got.Name, err)
				}
			})
		}
	})
}

// TestMembershipActionsRecheckTheActor: an administrator's scope is read when
// their request starts; if another administrator demotes or removes them
// before their action takes the account's lock, the action must be refused,
// as it would be a moment later. The stale scope here stands for that
// in-flight request.
func TestMembershipActionsRecheckTheActor(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		for _, c := range []struct {
			label  string
			remove bool // removed rather than demoted
			act    func(f dbtest.OrgFixture, stale tenancy.Scope, staleUser models.User) error
		}{
			{"demoted, promotes themselves back", false, func(f dbtest.OrgFixture, stale tenancy.Scope, u models.User) error {
				_, err := models.ChangeRole(t.Context(), db, stale, u.PublicID, tenancy.RoleAdmin, dbtest.ActorOf(u))
				return err
			}},
			{"demoted, demotes the other administrator", false, func(f dbtest.OrgFixture, stale tenancy.Scope, u models.User) error {
				_, err := models.ChangeRole(t.Context(), db, stale, f.AdminUser.PublicID, tenancy.RoleMember, dbtest.ActorOf(u))
				return err
			}},
			{"removed, removes a member", true, func(f dbtest.OrgFixture, stale tenancy.Scope, u models.User) error {
				_, err := models.RemoveMember(t.Context(), db, stale, f.MemberUser.PublicID, dbtest.ActorOf(u))
				return err
			}},
			{"demoted, deletes the organization", false, func(f dbtest.OrgFixture, stale tenancy.Scope, u models.User) error {
				return models.DeleteOrganization(t.Context(), db, stale, stale.Account().Name, dbtest.ActorOf(u))
			}},
		} {
			t.Run(c.label, func(t *testing.T) {
				f := dbtest.NewOrgFixture(t, db)
				bUser, _ := dbtest.User(t, db)
				stale := dbtest.AddMember(t, db, f.Admin, bUser, tenancy.RoleAdmin)
				// A third administrator, so that the last-administrator rule
				// does not hide the missing check.
				cUser, _ := dbtest.User(t, db)
				dbtest.AddMember(t, db, f.Admin, cUser, tenancy.RoleAdmin)
				dbtest.NewIndex(t, db, f.Member, "Member's private", "private")
				var err error
				if c.remove {
					_, err = models.RemoveMember(t.Context(), db, f.Admin, bUser.PublicID, dbtest.ActorOf(f.AdminUser))
				} else {
					_, err = models.ChangeRole(t.Context(), db, f.Admin, bUser.PublicID, tenancy.RoleMember, dbtest.ActorOf(f.AdminUser))
				}
				dbtest.Must(t, err)
				before := teamSnapshot(t, db)
				err = c.act(f, stale, bUser)
				if err == nil {
					t.Errorf("a %s administrator's in-flight action succeeded; want ErrForbidden (or ErrNotMember)",
						map[bool]string{true: "removed", false: "demoted"}[c.remove])
				}
				wantTeamUnchanged(t, db, before)
			})
		}
	})
}

// The members page reads its rows column by column; GetMember through GORM.
// Both read every field alike, the ones that may be NULL or false among
// them.
func TestListMembersReadsRowsAsGetMemberDoes(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE memberships SET sso_signed_in_at = ?, scim_managed = ? WHERE user_id = ?",
			time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC), true, f.MemberUser.ID).Error)
		dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE users SET password_hash = '' WHERE id = ?", f.Member2User.ID).Error)
		rows, total, admins, err := models.ListMembersAndAdmins(t.Context(), db, f.Admin, tenancy.Page{Number: 1, Size: 20})
		dbtest.Must(t, err)
		if len(rows) != 3 || total != 3 || admins != 1 {
			t.Fatalf("%d rows, total %d, admins %d; want 3, 3, 1", len(rows), total, admins)
		}
		for _, got := range rows {
			want, err := models.GetMember(t.Context(), db, f.Admin, got.UserPublicID)
			dbtest.Must(t, err)
			if !got.JoinedAt.Equal(want.JoinedAt) || (got.SSOSignedInAt == nil) != (want.SSOSignedInAt == nil) ||
				got.SSOSignedInAt != nil && !got.SSOSignedInAt.Equal(*want.SSOSignedInAt) {
				t.Errorf("%s: times %v, %v; want %v, %v", got.Name, got.JoinedAt, got.SSOSignedInAt, want.JoinedAt, want.SSOSignedInAt)
			}
			got.JoinedAt, got.SSOSignedInAt, want.SSOSignedInAt = want.JoinedAt, nil, nil
			if got != want {
				t.Errorf("listed:\n%+v\nGetMember:\n%+v", got, want)
			}
		}
		byID := map[int64]models.MemberRow{}
		for _, r := range rows {
			byID[r.UserID] = r
		}
		if m := byID[f.MemberUser.ID]; m.SSOSignedInAt == nil || !m.SCIMManaged || !m.HasPassword {
			t.Errorf("member %+v: want an SSO sign-in, managed by SCIM, a password", m)
		}
		if m := byID[f.Member2User.ID]; m.HasPassword || m.SCIMManaged || m.SSOSignedInAt != nil {
			t.Errorf("second member %+v: want no password, nothing else", m)
		}
	})
}

// The members page pages through every member, administrators first, its
// counts whole on every page (past the last one too), for an administrator
// and a member alike, and in each organization only its own members.
func TestListMembersPages(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		for _, viewer := range []tenancy.Scope{f.Admin, f.Member} {
			var seen []int64
			for page, want := range []int{2, 1, 0} {
				rows, total, admins, err := models.ListMembersAndAdmins(t.Context(), db, viewer, tenancy.Page{Number: page + 1, Size: 2})
				dbtest.Must(t, err)
				if len(rows) != want || total != 3 || admins != 1 {
					t.Errorf("role %s, page %d: %d rows, total %d, admins %d; want %d, 3, 1", viewer.Role(), page+1, len(rows), total, admins, want)
				}
				for _, r := range rows {
					seen = append(seen, r.UserID)
				}
			}
			if len(seen) != 3 || seen[0] != f.AdminUser.ID || slices.Contains(seen[1:], f.AdminUser.ID) ||
				!slices.Contains(seen, f.MemberUser.ID) || !slices.Contains(seen, f.Member2User.ID) {
				t.Errorf("role %s: pages listed users %v; want the administrator %d first, then %d and %d", viewer.Role(), seen, f.AdminUser.ID, f.MemberUser.ID, f.Member2User.ID)
			}
		}
		rows, total, _, err := models.ListMembersAndAdmins(t.Context(), db, f.Other, tenancy.Page{Number: 1, Size: 2})
		dbtest.Must(t, err)
		if len(rows) != 1 || total != 1 || rows[0].UserID == f.AdminUser.ID {
			t.Errorf("another organization lists %d members of %d: %+v; want its own one", len(rows), total, rows)
		}
	})
}
