package models_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// adminCount is the number of administrators of the account.
func adminCount(t *testing.T, db *gorm.DB, accountID int64) int64 {
	t.Helper()
	return countRows(t, db, "memberships", "account_id = ? AND role = ?", accountID, tenancy.RoleAdmin)
}

// joinedLongAgo backdates a membership, making its member the
// longest-serving.
func joinedLongAgo(t *testing.T, db *gorm.DB, accountID, userID int64) {
	t.Helper()
	must(t, dbtest.Plain(t, db).Exec("UPDATE memberships SET created_at = ? WHERE account_id = ? AND user_id = ?",
		utc().AddDate(-5, 0, 0), accountID, userID).Error)
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
	got := rawIndex(t, db, idx.ID)
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
		must(t, err)
		must(t, dbtest.Plain(t, db).Exec("UPDATE users SET password_hash = '' WHERE id = ?", carl.ID).Error)
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
					must(t, err)
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
		must(t, err)
		if total != 2 || len(rows) != 2 {
			t.Errorf("the other organization lists %d of %d members, want 2", len(rows), total)
		}
		_, _, err = models.ListMembers(t.Context(), db, tenancy.Scope{}, tenancy.Page{Number: 1, Size: 20})
		wantIs(t, err, tenancy.ErrUnscoped)

		t.Run("GetMember", func(t *testing.T) {
			for _, s := range []tenancy.Scope{org, aliceScope} {
				r, err := models.GetMember(t.Context(), db, s, carl.PublicID)
				must(t, err)
				if r.UserID != carl.ID || r.Email != carl.Email || r.Role != tenancy.RoleMember || r.HasPassword || r.JoinedAt.IsZero() {
					t.Errorf("GetMember %+v", r)
				}
			}
			r, err := models.GetMember(t.Context(), db, other, bob.PublicID)
			must(t, err)
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
					wantIs(t, err, c.err)
				})
			}
		})
	})
}

func TestChangeRole(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newOrgFixture(t, db)
		acct := f.admin.AccountID()
		actor := actorOf(f.adminUser)

		u, err := models.ChangeRole(t.Context(), db, f.admin, f.memberUser.PublicID, tenancy.RoleAdmin, actor)
		must(t, err)
		if u.ID != f.memberUser.ID || u.Email != f.memberUser.Email {
			t.Errorf("ChangeRole returned %+v", u)
		}
		if got := membershipRole(t, db, acct, f.memberUser.ID); got != tenancy.RoleAdmin {
			t.Fatalf("promoted to %q, want admin", got)
		}
		if s, err := tenancy.LoadScope(t.Context(), db, f.memberUser.ID, f.admin.Account().PublicID); err != nil || s.Role() != tenancy.RoleAdmin {
			t.Errorf("promoted member's next scope: %v, %v", s.Role(), err)
		}
		// The promoted member demotes the founder.
		promoted := actorOf(f.memberUser)
		promotedScope, err := tenancy.LoadScope(t.Context(), db, f.memberUser.ID, f.admin.Account().PublicID)
		must(t, err)
		_, err = models.ChangeRole(t.Context(), db, promotedScope, f.adminUser.PublicID, tenancy.RoleMember, promoted)
		must(t, err)
		if got := membershipRole(t, db, acct, f.adminUser.ID); got != tenancy.RoleMember {
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
			{actor, f.memberUser.Email, tenancy.RoleMember, tenancy.RoleAdmin},
			{promoted, f.adminUser.Email, tenancy.RoleAdmin, tenancy.RoleMember},
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
		_, err = models.ChangeRole(t.Context(), db, promotedScope, f.member2User.PublicID, tenancy.RoleMember, promoted)
		must(t, err)
		wantTeamUnchanged(t, db, before)
	})
}

func TestChangeRoleRefusals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newOrgFixture(t, db)
		outsider, _ := dbtest.User(t, db)
		otherOwner := reloadUser(t, db, f.other.UserID())
		actor := actorOf(f.adminUser)
		cases := []struct {
			label  string
			scope  tenancy.Scope
			target string
			role   tenancy.Role
			err    error
			keys   []string
		}{
			{"the last administrator demotes themselves", f.admin, f.adminUser.PublicID, tenancy.RoleMember, models.ErrLastAdmin, nil},
			{"a regular member promotes themselves", f.member, f.memberUser.PublicID, tenancy.RoleAdmin, tenancy.ErrForbidden, nil},
			{"a regular member demotes the administrator", f.member, f.adminUser.PublicID, tenancy.RoleMember, tenancy.ErrForbidden, nil},
			{"a regular member, bad role", f.member, f.member2User.PublicID, "owner", tenancy.ErrForbidden, nil},
			{"unknown user", f.admin, "00000000-0000-0000-0000-000000000000", tenancy.RoleAdmin, tenancy.ErrNotFound, nil},
			{"a user with no membership here", f.admin, outsider.PublicID, tenancy.RoleAdmin, tenancy.ErrNotFound, nil},
			{"another organization's administrator", f.admin, otherOwner.PublicID, tenancy.RoleMember, tenancy.ErrNotFound, nil},
			{"a member, from another organization", f.other, f.memberUser.PublicID, tenancy.RoleAdmin, tenancy.ErrNotFound, nil},
			{"personal account", f.adminPersonal, f.adminUser.PublicID, tenancy.RoleMember, tenancy.ErrNotFound, nil},
			{"zero scope", tenancy.Scope{}, f.memberUser.PublicID, tenancy.RoleAdmin, tenancy.ErrUnscoped, nil},
			{"unknown role", f.admin, f.memberUser.PublicID, "owner", nil, []string{"role"}},
			{"upper-case role", f.admin, f.memberUser.PublicID, "ADMIN", nil, []string{"role"}},
			{"empty role", f.admin, f.memberUser.PublicID, "", nil, []string{"role"}},
		}
		for _, c := range cases {
			t.Run(c.label, func(t *testing.T) {
				before := teamSnapshot(t, db)
				_, err := models.ChangeRole(t.Context(), db, c.scope, c.target, c.role, actor)
				if c.err != nil {
					wantIs(t, err, c.err)
				} else {
					wantFields(t, err, c.keys...)
				}
				wantTeamUnchanged(t, db, before)
			})
		}
		if n := adminCount(t, db, f.admin.AccountID()); n != 1 {
			t.Errorf("%d administrators, want 1", n)
		}
	})
}

// TestRemoveMemberHandsOverPrivateIndexes: a removed member's private indexes
// pass to the administrator who removed them and stay private; names that
// would clash with what the heir sees get " (from <name>)", then a number.
// Shared indexes stay as they were.
func TestRemoveMemberHandsOverPrivateIndexes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newOrgFixture(t, db)
		m := f.memberUser
		notes := newIndex(t, db, f.member, "Notes", "private")
		plan := newIndex(t, db, f.member, "Plan", "private")
		draft := newIndex(t, db, f.member, "Draft", "private")
		solo := newIndex(t, db, f.member, "Solo", "private")
		shared := newIndex(t, db, f.member, "Shared by the member", "account")
		video := addVideo(t, db, f.member, notes, "Kept", 30)
		// What the heir already sees: their own private indexes and a shared one.
		adminOwn := []models.Index{
			newIndex(t, db, f.admin, "notes", "private"),
			newIndex(t, db, f.admin, "Plan", "private"),
			newIndex(t, db, f.admin, "Plan (from "+m.Name+")", "private"),
		}
		newIndex(t, db, f.member2, "DRAFT", "account")
		member2Solo := newIndex(t, db, f.member2, "Solo", "private")
		untouched := []models.Index{shared, member2Solo}
		untouched = append(untouched, adminOwn...)
		var beforeRows []string
		for _, idx := range untouched {
			beforeRows = append(beforeRows, indexString(rawIndex(t, db, idx.ID)))
		}

		u, err := models.RemoveMember(t.Context(), db, f.admin, m.PublicID, actorOf(f.adminUser))
		must(t, err)
		if u.ID != m.ID {
			t.Errorf("RemoveMember returned user %d, want %d", u.ID, m.ID)
		}
		if got := membershipRole(t, db, f.admin.AccountID(), m.ID); got != "" {
			t.Fatalf("still a member as %q", got)
		}
		_, err = tenancy.LoadScope(t.Context(), db, m.ID, f.admin.Account().PublicID)
		wantIs(t, err, tenancy.ErrNotMember)

		wantHandedOver(t, db, notes, f.admin, "Notes (from "+m.Name+")", f.member2)
		wantHandedOver(t, db, plan, f.admin, "Plan (from "+m.Name+", 2)", f.member2)
		wantHandedOver(t, db, draft, f.admin, "Draft (from "+m.Name+")", f.member2)
		wantHandedOver(t, db, solo, f.admin, "Solo", f.member2)
		for i, idx := range untouched {
			if got := indexString(rawIndex(t, db, idx.ID)); got != beforeRows[i] {
				t.Errorf("%q changed:\nbefore %s\nafter  %s", idx.Name, beforeRows[i], got)
			}
		}
		if got := rawIndex(t, db, shared.ID); got.CreatedByID == nil || *got.CreatedByID != m.ID || got.Visibility != models.VisibilityAccount {
			t.Errorf("the shared index is now %+v, want it shared and still created by the member", got)
		}
		for _, s := range []tenancy.Scope{f.admin, f.member2} {
			if _, err := models.GetIndex(t.Context(), db, s, shared.PublicID); err != nil {
				t.Errorf("user %d cannot open the shared index: %v", s.UserID(), err)
			}
		}
		if n := countRows(t, db, "videos", "id = ? AND index_id = ?", video.ID, notes.ID); n != 1 {
			t.Error("the handed-over index lost its video")
		}
		list := listIndexes(t, db, f.admin, models.IndexQuery{Sort: models.SortName})
		for _, want := range []string{"Notes (from " + m.Name + ")", "Plan (from " + m.Name + ", 2)", "Solo", "Shared by the member"} {
			if !slices.Contains(indexNames(list.Rows), want) {
				t.Errorf("the heir's list %q lacks %q", indexNames(list.Rows), want)
			}
		}
		wantAudit(t, db, f.admin.AccountID(), models.AuditRemoved, actorOf(f.adminUser), m.Email)
	})
}

func TestRemoveMemberRefusals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newOrgFixture(t, db)
		newIndex(t, db, f.admin, "Admin's private", "private")
		newIndex(t, db, f.member, "Member's private", "private")
		outsider, _ := dbtest.User(t, db)
		otherOwner := reloadUser(t, db, f.other.UserID())
		for _, c := range []struct {
			label  string
			scope  tenancy.Scope
			target string
			err    error
		}{
			{"the last administrator removes themselves", f.admin, f.adminUser.PublicID, models.ErrLastAdmin},
			{"a regular member removes another", f.member, f.member2User.PublicID, tenancy.ErrForbidden},
			{"a regular member removes the administrator", f.member, f.adminUser.PublicID, tenancy.ErrForbidden},
			{"a regular member removes themselves", f.member, f.memberUser.PublicID, tenancy.ErrForbidden},
			{"another organization's administrator", f.admin, otherOwner.PublicID, tenancy.ErrNotFound},
			{"a member, from another organization", f.other, f.memberUser.PublicID, tenancy.ErrNotFound},
			{"a user with no membership here", f.admin, outsider.PublicID, tenancy.ErrNotFound},
			{"unknown user", f.admin, "00000000-0000-0000-0000-000000000000", tenancy.ErrNotFound},
			{"personal account", f.adminPersonal, f.adminUser.PublicID, tenancy.ErrNotFound},
			{"zero scope", tenancy.Scope{}, f.memberUser.PublicID, tenancy.ErrUnscoped},
		} {
			t.Run(c.label, func(t *testing.T) {
				before := teamSnapshot(t, db)
				_, err := models.RemoveMember(t.Context(), db, c.scope, c.target, actorOf(f.adminUser))
				wantIs(t, err, c.err)
				wantTeamUnchanged(t, db, before)
			})
		}
	})
}

// TestRemoveSelfWithAnotherAdmin: an administrator may remove themselves
// while another remains; their private indexes pass to the longest-serving
// other administrator.
func TestRemoveSelfWithAnotherAdmin(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newOrgFixture(t, db)
		acct := f.admin.AccountID()
		bUser, _ := dbtest.User(t, db)
		b := dbtest.AddMember(t, db, f.admin, bUser, tenancy.RoleAdmin)
		cUser, _ := dbtest.User(t, db)
		c := dbtest.AddMember(t, db, f.admin, cUser, tenancy.RoleAdmin)
		// c joined last but, backdated, has served longest of the others.
		joinedLongAgo(t, db, acct, cUser.ID)
		mine := newIndex(t, db, f.admin, "Mine", "private")
		other := newIndex(t, db, f.admin, "Roadmap", "private")
		newIndex(t, db, c, "Roadmap", "private")

		_, err := models.RemoveMember(t.Context(), db, f.admin, f.adminUser.PublicID, actorOf(f.adminUser))
		must(t, err)
		if got := membershipRole(t, db, acct, f.adminUser.ID); got != "" {
			t.Fatalf("still a member as %q", got)
		}
		if n := adminCount(t, db, acct); n != 2 {
			t.Errorf("%d administrators, want 2", n)
		}
		wantHandedOver(t, db, mine, c, "Mine", b, f.member)
		wantHandedOver(t, db, other, c, "Roadmap (from "+f.adminUser.Name+")", b, f.member)
		wantAudit(t, db, acct, models.AuditRemoved, actorOf(f.adminUser), f.adminUser.Email)
	})
}

func TestLeaveOrganization(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newOrgFixture(t, db)
		acct := f.admin.AccountID()
		bUser, _ := dbtest.User(t, db)
		b := dbtest.AddMember(t, db, f.admin, bUser, tenancy.RoleAdmin)
		joinedLongAgo(t, db, acct, bUser.ID) // b is now the longest-serving administrator

		for label, s := range map[string]tenancy.Scope{"member": f.member, "admin with another admin": f.admin} {
			ok, err := models.CanLeave(t.Context(), db, s)
			if err != nil || !ok {
				t.Errorf("%s: CanLeave %v, %v; want true", label, ok, err)
			}
		}

		private := newIndex(t, db, f.member, "Leaving notes", "private")
		shared := newIndex(t, db, f.member, "Leaving shared", "account")
		must(t, models.LeaveOrganization(t.Context(), db, f.member, actorOf(f.memberUser)))
		if got := membershipRole(t, db, acct, f.memberUser.ID); got != "" {
			t.Fatalf("still a member as %q", got)
		}
		_, err := tenancy.LoadScope(t.Context(), db, f.memberUser.ID, f.admin.Account().PublicID)
		wantIs(t, err, tenancy.ErrNotMember)
		wantHandedOver(t, db, private, b, "Leaving notes", f.admin, f.member2)
		if got := rawIndex(t, db, shared.ID); got.CreatedByID == nil || *got.CreatedByID != f.memberUser.ID || got.Visibility != models.VisibilityAccount {
			t.Errorf("shared index now %+v", got)
		}
		wantAudit(t, db, acct, models.AuditLeft, actorOf(f.memberUser), f.memberUser.Email)

		// An administrator leaves while another remains.
		mine := newIndex(t, db, f.admin, "Founder's", "private")
		must(t, models.LeaveOrganization(t.Context(), db, f.admin, actorOf(f.adminUser)))
		wantHandedOver(t, db, mine, b, "Founder's", f.member2)
		if n := adminCount(t, db, acct); n != 1 {
			t.Errorf("%d administrators, want 1", n)
		}

		// b is now the last administrator: cannot leave, and CanLeave says so.
		ok, err := models.CanLeave(t.Context(), db, b)
		if err != nil || ok {
			t.Errorf("last admin: CanLeave %v, %v; want false", ok, err)
		}
		ok, err = models.CanLeave(t.Context(), db, f.adminPersonal)
		if err != nil || ok {
			t.Errorf("personal account: CanLeave %v, %v; want false", ok, err)
		}
		for _, c := range []struct {
			label string
			scope tenancy.Scope
			err   error
		}{
			{"the last administrator", b, models.ErrLastAdmin},
			{"personal account", f.adminPersonal, tenancy.ErrNotFound},
			{"someone who already left", f.member, tenancy.ErrNotMember},
			{"zero scope", tenancy.Scope{}, tenancy.ErrUnscoped},
		} {
			t.Run(c.label, func(t *testing.T) {
				before := teamSnapshot(t, db)
				wantIs(t, models.LeaveOrganization(t.Context(), db, c.scope, actorOf(bUser)), c.err)
				wantTeamUnchanged(t, db, before)
			})
		}
		// The remaining regular member can still leave.
		must(t, models.LeaveOrganization(t.Context(), db, f.member2, actorOf(f.member2User)))
		if n := countRows(t, db, "memberships", "account_id = ?", acct); n != 1 {
			t.Errorf("%d members left, want b alone", n)
		}
	})
}

func TestDeleteOrganization(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newOrgFixture(t, db)
		acct := f.admin.AccountID()
		// Everything an organization holds, in this one and in another.
		fill := func(s tenancy.Scope, by models.User, tag string) models.SentInvitation {
			shared := newIndex(t, db, s, tag+" shared", "account")
			private := newIndex(t, db, s, tag+" private", "private")
			addVideo(t, db, s, shared, tag+" one", 10)
			addVideo(t, db, s, private, tag+" two", 20)
			newIntegration(t, db, s, tag+" bucket")
			res := invite(t, db, s, by, tag+"-open@example.com, "+tag+"-revoked@example.com, "+tag+"-joined@example.com", tenancy.RoleMember)
			_, err := models.RevokeInvitation(t.Context(), db, s, res.Invited[1].PublicID, actorOf(by))
			must(t, err)
			joiner, _ := dbtest.UserNamed(t, db, tag+" joiner", tag+"-joined@example.com")
			_, err = models.AcceptInvitation(t.Context(), db, res.Invited[2].Token, joiner, "")
			must(t, err)
			return res.Invited[0]
		}
		open := fill(f.admin, f.adminUser, "doomed")
		otherOwner := reloadUser(t, db, f.other.UserID())
		otherOpen := fill(f.other, otherOwner, "kept")
		newIndex(t, db, f.adminPersonal, "Personal", "")
		// The organization was renamed since the administrator's scope was made:
		// the current name is the one to type.
		oldName := f.admin.Account().Name
		renamed, err := models.RenameOrganization(t.Context(), db, f.admin, "Doomed Inc", actorOf(f.adminUser))
		must(t, err)

		owned := []string{"memberships", "indexes", "videos", "s3_integrations", "invitations", "audit_events"}
		countsOf := func(accountID int64) map[string]int64 {
			c := map[string]int64{"accounts": countRows(t, db, "accounts", "id = ?", accountID)}
			for _, table := range owned {
				c[table] = countRows(t, db, table, "account_id = ?", accountID)
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
			{"empty name", f.admin, "", nil},
			{"wrong name", f.admin, "Something else", nil},
			{"the name in another case", f.admin, strings.ToUpper(renamed.Name), nil},
			{"part of the name", f.admin, renamed.Name[:len(renamed.Name)-1], nil},
			{"the name and more", f.admin, renamed.Name + "!", nil},
			{"the name before the rename", f.admin, oldName, nil},
			{"regular member", f.member, renamed.Name, tenancy.ErrForbidden},
			{"personal account", f.adminPersonal, f.adminPersonal.Account().Name, tenancy.ErrNotFound},
			{"zero scope", tenancy.Scope{}, renamed.Name, tenancy.ErrUnscoped},
		} {
			t.Run(c.label, func(t *testing.T) {
				before := teamSnapshot(t, db)
				err := models.DeleteOrganization(t.Context(), db, c.scope, c.confirm, actorOf(f.adminUser))
				if c.err != nil {
					wantIs(t, err, c.err)
				} else {
					wantFields(t, err, "confirm_name")
				}
				wantTeamUnchanged(t, db, before)
			})
		}

		otherBefore := countsOf(f.other.AccountID())
		personalBefore := countsOf(f.adminPersonal.AccountID())
		users := countRows(t, db, "users", "")
		must(t, models.DeleteOrganization(t.Context(), db, f.admin, "  "+renamed.Name+" ", actorOf(f.adminUser)))
		for table, n := range countsOf(acct) {
			if n != 0 {
				t.Errorf("%d rows of %s left for the deleted organization", n, table)
			}
		}
		if got := countsOf(f.other.AccountID()); fmt.Sprint(got) != fmt.Sprint(otherBefore) {
			t.Errorf("the other organization changed: %v, was %v", got, otherBefore)
		}
		if got := countsOf(f.adminPersonal.AccountID()); fmt.Sprint(got) != fmt.Sprint(personalBefore) {
			t.Errorf("the personal account changed: %v, was %v", got, personalBefore)
		}
		if n := countRows(t, db, "users", ""); n != users {
			t.Errorf("%d users, was %d: members must keep their user", n, users)
		}
		for _, u := range []models.User{f.adminUser, f.memberUser, f.member2User} {
			_, err := tenancy.LoadScope(t.Context(), db, u.ID, f.admin.Account().PublicID)
			wantIs(t, err, tenancy.ErrNotMember)
			if _, err := tenancy.PersonalScope(t.Context(), db, u.ID); err != nil {
				t.Errorf("%s lost their personal account: %v", u.Name, err)
			}
		}
		_, err = models.LookupInvitation(t.Context(), db, open.Token)
		wantIs(t, err, models.ErrInvitationNotFound)
		if _, err := models.LookupInvitation(t.Context(), db, otherOpen.Token); err != nil {
			t.Errorf("the other organization's invitation: %v", err)
		}

		// Its creator may create an organization again.
		ok, err := models.CanCreateOrganization(t.Context(), db, f.adminUser.ID)
		if err != nil || !ok {
			t.Fatalf("CanCreateOrganization %v, %v; want true", ok, err)
		}
		again, err := models.CreateOrganization(t.Context(), db, f.adminUser.ID, renamed.Name)
		must(t, err)
		if got := membershipRole(t, db, again.ID, f.adminUser.ID); got != tenancy.RoleAdmin {
			t.Errorf("role in the new organization %q, want admin", got)
		}
	})
}

// TestDemoteEachOtherConcurrently: two administrators demoting each other at
// once never leave the organization without one.
func TestDemoteEachOtherConcurrently(t *testing.T) {
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
				_, errs[0] = models.ChangeRole(t.Context(), db, a, bUser.PublicID, tenancy.RoleMember, actorOf(aUser))
			}()
			go func() {
				defer wg.Done()
				<-start
				_, errs[1] = models.ChangeRole(t.Context(), db, b, aUser.PublicID, tenancy.RoleMember, actorOf(bUser))
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
			must(t, dbtest.Plain(t, db).Exec("UPDATE memberships SET role = ? WHERE account_id = ?", tenancy.RoleAdmin, acct).Error)
		}
	})
}

// TestRemoveEachOtherConcurrently: two administrators removing each other at
// once never leave the organization without one, and the private indexes of
// whoever goes pass to whoever stays.
func TestRemoveEachOtherConcurrently(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		aUser, _ := dbtest.User(t, db)
		a := dbtest.Org(t, db, aUser)
		bUser, _ := dbtest.User(t, db)
		b := dbtest.AddMember(t, db, a, bUser, tenancy.RoleAdmin)
		acct := a.AccountID()
		for round := range 10 {
			aIdx := newIndex(t, db, a, fmt.Sprintf("A %d", round), "private")
			bIdx := newIndex(t, db, b, fmt.Sprintf("B %d", round), "private")
			var errs [2]error
			start := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-start
				_, errs[0] = models.RemoveMember(t.Context(), db, a, bUser.PublicID, actorOf(aUser))
			}()
			go func() {
				defer wg.Done()
				<-start
				_, errs[1] = models.RemoveMember(t.Context(), db, b, aUser.PublicID, actorOf(bUser))
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
			if n := countRows(t, db, "memberships", "account_id = ?", acct); n != 1 {
				t.Fatalf("round %d: %d members, want the one who stayed", round, n)
			}
			for _, idx := range []models.Index{aIdx, bIdx} {
				got := rawIndex(t, db, idx.ID)
				if got.CreatedByID == nil || *got.CreatedByID != stayer.UserID() || got.Visibility != models.VisibilityPrivate {
					t.Errorf("round %d: %q created by %v (%s), want private to %d", round, idx.Name, got.CreatedByID, got.Visibility, stayer.UserID())
				}
			}
			must(t, dbtest.Plain(t, db).Create(&tenancy.Membership{AccountID: acct, UserID: leaver.ID, Role: tenancy.RoleAdmin}).Error)
		}
	})
}

// TestHandOverKeepsIndexNamesValid: a handed-over index's new name is still a
// valid index name, at most IndexNameMax characters, however long the names
// involved.
func TestHandOverKeepsIndexNamesValid(t *testing.T) {
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
				f := newOrgFixture(t, db)
				u, _ := dbtest.UserNamed(t, db, c.userName, dbtest.Unique("long")+"@example.com")
				s := dbtest.AddMember(t, db, f.admin, u, tenancy.RoleMember)
				idx := newIndex(t, db, s, c.indexName, "private")
				newIndex(t, db, f.admin, c.indexName, "private")
				_, err := models.RemoveMember(t.Context(), db, f.admin, u.PublicID, actorOf(f.adminUser))
				must(t, err)
				got := rawIndex(t, db, idx.ID)
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
				if _, err := models.UpdateIndex(t.Context(), db, f.admin, idx.PublicID, models.IndexUpdate{Name: got.Name}); err != nil {
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
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		for _, c := range []struct {
			label  string
			remove bool // removed rather than demoted
			act    func(f orgFixture, stale tenancy.Scope, staleUser models.User) error
		}{
			{"demoted, promotes themselves back", false, func(f orgFixture, stale tenancy.Scope, u models.User) error {
				_, err := models.ChangeRole(t.Context(), db, stale, u.PublicID, tenancy.RoleAdmin, actorOf(u))
				return err
			}},
			{"demoted, demotes the other administrator", false, func(f orgFixture, stale tenancy.Scope, u models.User) error {
				_, err := models.ChangeRole(t.Context(), db, stale, f.adminUser.PublicID, tenancy.RoleMember, actorOf(u))
				return err
			}},
			{"removed, removes a member", true, func(f orgFixture, stale tenancy.Scope, u models.User) error {
				_, err := models.RemoveMember(t.Context(), db, stale, f.memberUser.PublicID, actorOf(u))
				return err
			}},
			{"demoted, deletes the organization", false, func(f orgFixture, stale tenancy.Scope, u models.User) error {
				return models.DeleteOrganization(t.Context(), db, stale, stale.Account().Name, actorOf(u))
			}},
		} {
			t.Run(c.label, func(t *testing.T) {
				f := newOrgFixture(t, db)
				bUser, _ := dbtest.User(t, db)
				stale := dbtest.AddMember(t, db, f.admin, bUser, tenancy.RoleAdmin)
				// A third administrator, so that the last-administrator rule
				// does not hide the missing check.
				cUser, _ := dbtest.User(t, db)
				dbtest.AddMember(t, db, f.admin, cUser, tenancy.RoleAdmin)
				newIndex(t, db, f.member, "Member's private", "private")
				var err error
				if c.remove {
					_, err = models.RemoveMember(t.Context(), db, f.admin, bUser.PublicID, actorOf(f.adminUser))
				} else {
					_, err = models.ChangeRole(t.Context(), db, f.admin, bUser.PublicID, tenancy.RoleMember, actorOf(f.adminUser))
				}
				must(t, err)
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
