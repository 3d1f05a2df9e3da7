package models_test

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// teamTables are dumped row by row by teamSnapshot, each in a stable order: a
// role change, a renewed or revoked invitation, a handed-over index or a
// verified email changes rows without changing how many there are.
var teamTables = []struct{ table, order string }{
	{"users", "id"},
	{"accounts", "id"},
	{"memberships", "account_id, user_id"},
	{"invitations", "id"},
	{"audit_events", "id"},
	{"indexes", "id"},
	{"videos", "id"},
	{"s3_integrations", "id"},
}

// teamState is everything a refused membership or invitation call must leave
// as it was: the foundation's row counts and every row of teamTables.
type teamState struct {
	counts dbtest.RowCounts
	rows   map[string][]string
}

// teamSnapshot reads the state with raw SQL, which the scope guard does not
// inspect.
func teamSnapshot(t *testing.T, db *gorm.DB) teamState {
	t.Helper()
	st := teamState{counts: dbtest.CountAll(t, db), rows: map[string][]string{}}
	for _, tt := range teamTables {
		var rows []map[string]any
		if err := dbtest.Plain(t, db).Raw("SELECT * FROM " + tt.table + " ORDER BY " + tt.order).Scan(&rows).Error; err != nil {
			t.Fatalf("dump %s: %v", tt.table, err)
		}
		for _, r := range rows {
			st.rows[tt.table] = append(st.rows[tt.table], fmt.Sprint(r))
		}
	}
	return st
}

// wantTeamUnchanged fails unless nothing was written since before, naming
// the rows that went, came or changed.
func wantTeamUnchanged(t *testing.T, db *gorm.DB, before teamState) {
	t.Helper()
	dbtest.WantNothingWritten(t, db, before.counts)
	after := teamSnapshot(t, db)
	for _, tt := range teamTables {
		b, a := before.rows[tt.table], after.rows[tt.table]
		var diff []string
		for _, r := range b {
			if !slices.Contains(a, r) {
				diff = append(diff, "- "+r)
			}
		}
		for _, r := range a {
			if !slices.Contains(b, r) {
				diff = append(diff, "+ "+r)
			}
		}
		if len(diff) > 0 {
			t.Errorf("%s changed; want nothing written:\n%s", tt.table, strings.Join(diff, "\n"))
		}
	}
}

// invite runs Invite as the scope's user or fails the test.
func invite(t *testing.T, db *gorm.DB, s tenancy.Scope, by models.User, raw string, role tenancy.Role) models.InviteResult {
	t.Helper()
	res, err := models.Invite(t.Context(), db, s, raw, role, dbtest.ActorOf(by))
	if err != nil {
		t.Fatalf("invite %q: %v", raw, err)
	}
	return res
}

// inviteOne invites a single address and returns its invitation with the
// token of its link.
func inviteOne(t *testing.T, db *gorm.DB, s tenancy.Scope, by models.User, email string, role tenancy.Role) models.SentInvitation {
	t.Helper()
	res := invite(t, db, s, by, email, role)
	if len(res.Invited) != 1 {
		t.Fatalf("invite %q: %+v, want one invitation", email, res)
	}
	return res.Invited[0]
}

// rawInvitation reads an invitation's row with raw SQL, whatever the scope.
func rawInvitation(t *testing.T, db *gorm.DB, id int64) models.Invitation {
	t.Helper()
	var inv models.Invitation
	dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT * FROM invitations WHERE id = ?", id).Scan(&inv).Error)
	if inv.ID != id {
		t.Fatalf("invitation %d is gone", id)
	}
	return inv
}

// expireInvitation moves an invitation's expiry into the past, and when it
// was sent to a week before that.
func expireInvitation(t *testing.T, db *gorm.DB, id int64) {
	t.Helper()
	expired := dbtest.UTC().Add(-time.Minute)
	dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE invitations SET expires_at = ?, sent_at = ? WHERE id = ?", expired, expired.Add(-models.InvitationTTL), id).Error)
}

// sentAgo moves when an invitation was last sent d into the past, so that
// it may be sent again.
func sentAgo(t *testing.T, db *gorm.DB, id int64, d time.Duration) {
	t.Helper()
	dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE invitations SET sent_at = ? WHERE id = ?", dbtest.UTC().Add(-d), id).Error)
}

// auditOf reads the account's audit events of one action, oldest first, with
// raw SQL.
func auditOf(t *testing.T, db *gorm.DB, accountID int64, action tenancy.AuditAction) []tenancy.AuditEvent {
	t.Helper()
	var evs []tenancy.AuditEvent
	dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT * FROM audit_events WHERE account_id = ? AND action = ? ORDER BY id", accountID, action).Scan(&evs).Error)
	return evs
}

// wantAudit fails unless the account's events of action are exactly one per
// email of targets, in order, each naming its address and made by actor.
func wantAudit(t *testing.T, db *gorm.DB, accountID int64, action tenancy.AuditAction, actor tenancy.Actor, targets ...string) []tenancy.AuditEvent {
	t.Helper()
	evs := auditOf(t, db, accountID, action)
	got := make([]string, len(evs))
	for i, ev := range evs {
		got[i] = ev.Target
		if i < len(targets) && strings.Contains(strings.ToLower(ev.Target), targets[i]) {
			got[i] = targets[i] // the target names the address, maybe with more
		}
		if ev.ActorUserID == nil || *ev.ActorUserID != actor.UserID || ev.ActorName != actor.Name || ev.IP != actor.IP {
			t.Errorf("%s event on %s: actor %v %q from %q, want %d %q from %q",
				action, ev.Target, ev.ActorUserID, ev.ActorName, ev.IP, actor.UserID, actor.Name, actor.IP)
		}
		if ev.CreatedAt.IsZero() {
			t.Errorf("%s event on %s has no time", action, ev.Target)
		}
	}
	if !slices.Equal(got, targets) {
		t.Fatalf("%s events on %q, want %q", action, got, targets)
	}
	return evs
}

// wantExpiresInAWeek fails unless the invitation expires InvitationTTL after
// a moment between from and to.
func wantExpiresInAWeek(t *testing.T, inv models.Invitation, from, to time.Time) {
	t.Helper()
	lo, hi := from.Add(models.InvitationTTL-time.Second), to.Add(models.InvitationTTL+time.Second)
	if inv.ExpiresAt.Before(lo) || inv.ExpiresAt.After(hi) {
		t.Errorf("expires at %v, want between %v and %v", inv.ExpiresAt, lo, hi)
	}
}

func TestInviteParsesAddresses(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		cases := []struct {
			label   string
			raw     string
			invited []string
			invalid []string
		}{
			{"one address", "one@example.com", []string{"one@example.com"}, nil},
			{"commas", "a1@example.com,b1@example.com", []string{"a1@example.com", "b1@example.com"}, nil},
			{"semicolons", "a2@example.com; b2@example.com", []string{"a2@example.com", "b2@example.com"}, nil},
			{"new lines, CRLF too", "a3@example.com\nb3@example.com\r\nc3@example.com",
				[]string{"a3@example.com", "b3@example.com", "c3@example.com"}, nil},
			{"spaces and tabs around, upper case", "  A4@Example.COM ,\tB4@EXAMPLE.com  \n",
				[]string{"a4@example.com", "b4@example.com"}, nil},
			{"duplicates once normalised", "a5@example.com, A5@example.com ,\na5@EXAMPLE.COM; b5@example.com",
				[]string{"a5@example.com", "b5@example.com"}, nil},
			{"empty and blank entries", ",,a6@example.com;;\n\n , \t ,b6@example.com,",
				[]string{"a6@example.com", "b6@example.com"}, nil},
			{"every separator at once", "a7@example.com;b7@example.com\nc7@example.com, d7@example.com",
				[]string{"a7@example.com", "b7@example.com", "c7@example.com", "d7@example.com"}, nil},
			{"invalid next to valid, in order", "not-an-email, a8@example.com, x@y\nalice <alice8@example.com>; b8@example.com, bad@@example.com, not-an-email",
				[]string{"a8@example.com", "b8@example.com"}, []string{"not-an-email", "x@y", "alice", "<alice8@example.com>", "bad@@example.com"}},
			{"spaces separate too", "a9@example.com b9@example.com\tc9@example.com",
				[]string{"a9@example.com", "b9@example.com", "c9@example.com"}, nil},
		}
		for _, c := range cases {
			t.Run(c.label, func(t *testing.T) {
				before := dbtest.CountRows(t, db, "invitations", "")
				res := invite(t, db, f.Admin, f.AdminUser, c.raw, tenancy.RoleMember)
				var got []string
				for _, inv := range res.Invited {
					got = append(got, inv.Email)
				}
				if !slices.Equal(got, c.invited) {
					t.Errorf("invited %q, want %q", got, c.invited)
				}
				if !slices.Equal(res.Invalid, c.invalid) {
					t.Errorf("invalid %q, want %q", res.Invalid, c.invalid)
				}
				if len(res.AlreadyMembers)+len(res.AlreadyInvited) != 0 {
					t.Errorf("already members %q, already invited %q, want none", res.AlreadyMembers, res.AlreadyInvited)
				}
				if n := dbtest.CountRows(t, db, "invitations", ""); n != before+int64(len(c.invited)) {
					t.Errorf("%d invitations written, want %d", n-before, len(c.invited))
				}
				for _, email := range c.invited {
					if n := dbtest.CountRows(t, db, "invitations", "account_id = ? AND email = ?", f.Admin.AccountID(), email); n != 1 {
						t.Errorf("%d invitations stored for %s, want 1", n, email)
					}
				}
			})
		}
	})
}

func TestInviteSortsAddresses(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		pending := inviteOne(t, db, f.Admin, f.AdminUser, "pending@example.com", tenancy.RoleMember)
		// Addresses that are open elsewhere or closed here do not count.
		inviteOne(t, db, f.Other, f.AdminUser, "elsewhere@example.com", tenancy.RoleMember)
		revoked := inviteOne(t, db, f.Admin, f.AdminUser, "revoked@example.com", tenancy.RoleMember)
		_, err := models.RevokeInvitation(t.Context(), db, f.Admin, revoked.PublicID, dbtest.ActorOf(f.AdminUser))
		dbtest.Must(t, err)
		outsider, _ := dbtest.User(t, db) // has an account, but not here

		before := auditOf(t, db, f.Admin.AccountID(), models.AuditInvited)
		raw := strings.Join([]string{
			"new@example.com",
			strings.ToUpper(f.MemberUser.Email),
			"PENDING@example.com",
			"nope",
			"elsewhere@example.com",
			f.AdminUser.Email,
			"revoked@example.com",
			outsider.Email,
			"also@bad",
		}, ", ")
		actor := dbtest.ActorOf(f.AdminUser)
		res, err := models.Invite(t.Context(), db, f.Admin, raw, tenancy.RoleAdmin, actor)
		dbtest.Must(t, err)
		var invited []string
		for _, inv := range res.Invited {
			invited = append(invited, inv.Email)
		}
		wantInvited := []string{"new@example.com", "elsewhere@example.com", "revoked@example.com", outsider.Email}
		if !slices.Equal(invited, wantInvited) {
			t.Errorf("invited %q, want %q", invited, wantInvited)
		}
		if want := []string{f.MemberUser.Email, f.AdminUser.Email}; !slices.Equal(res.AlreadyMembers, want) {
			t.Errorf("already members %q, want %q", res.AlreadyMembers, want)
		}
		if want := []string{"pending@example.com"}; !slices.Equal(res.AlreadyInvited, want) {
			t.Errorf("already invited %q, want %q", res.AlreadyInvited, want)
		}
		if want := []string{"nope", "also@bad"}; !slices.Equal(res.Invalid, want) {
			t.Errorf("invalid %q, want %q", res.Invalid, want)
		}

		// Each invitation is stored as returned: the account, the role asked
		// for, the inviter, a week to accept, a public ID and a token.
		start := dbtest.UTC().Add(-time.Minute)
		tokens := map[string]bool{}
		for _, sent := range res.Invited {
			inv := rawInvitation(t, db, sent.ID)
			if inv.AccountID != f.Admin.AccountID() || inv.Email != sent.Email || inv.Role != tenancy.RoleAdmin ||
				inv.InvitedByID == nil || *inv.InvitedByID != f.AdminUser.ID || inv.AcceptedAt != nil || inv.RevokedAt != nil {
				t.Errorf("stored %+v", inv)
			}
			if inv.PublicID != sent.PublicID || !objectID.MatchString(inv.PublicID) {
				t.Errorf("public ID %q (returned %q), want 24 hex characters", inv.PublicID, sent.PublicID)
			}
			if inv.State() != models.InvitationPending {
				t.Errorf("%s: state %s, want pending", inv.Email, inv.State())
			}
			wantExpiresInAWeek(t, inv, start, dbtest.UTC())
			if len(sent.Token) < 22 || tokens[sent.Token] {
				t.Errorf("token %q: too short for 128 bits, or not unique", sent.Token)
			}
			tokens[sent.Token] = true
		}

		// The pending invitation was left alone: same link, no new event.
		if got := rawInvitation(t, db, pending.ID); got.TokenHash != tenancy.HashToken(pending.Token) || got.Role != tenancy.RoleMember {
			t.Errorf("the pending invitation changed: %+v", got)
		}
		// One open invitation per address, and one "member.invited" event per
		// address invited, naming the role.
		for _, email := range wantInvited {
			if n := dbtest.CountRows(t, db, "invitations", "account_id = ? AND email = ? AND accepted_at IS NULL AND revoked_at IS NULL",
				f.Admin.AccountID(), email); n != 1 {
				t.Errorf("%d open invitations for %s, want 1", n, email)
			}
		}
		var targets []string
		for _, ev := range before {
			targets = append(targets, ev.Target)
		}
		evs := wantAudit(t, db, f.Admin.AccountID(), models.AuditInvited, actor, append(targets, wantInvited...)...)
		for _, ev := range evs[len(before):] {
			if !strings.Contains(ev.Details, tenancy.RoleAdmin.Label()) {
				t.Errorf("event details %q do not name the role", ev.Details)
			}
		}
		if n := len(auditOf(t, db, f.Other.AccountID(), models.AuditInvited)); n != 1 {
			t.Errorf("%d invitation events in the other organization, want its own 1", n)
		}
	})
}

// TestInviteStoresOnlyTheTokenHash: the link's token exists only in the
// returned value; the database holds its hash.
func TestInviteStoresOnlyTheTokenHash(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		res := invite(t, db, f.Admin, f.AdminUser, "a@example.com, b@example.com", tenancy.RoleMember)
		sentAgo(t, db, res.Invited[1].ID, models.InvitationResendInterval)
		resent, err := models.ResendInvitation(t.Context(), db, f.Admin, res.Invited[1].PublicID, dbtest.ActorOf(f.AdminUser))
		dbtest.Must(t, err)
		// Every token ever sent, the replaced one too, is kept out of the
		// database; the current ones are stored as their hash.
		sent := append(res.Invited, resent)
		for _, s := range []models.SentInvitation{res.Invited[0], resent} {
			if got := rawInvitation(t, db, s.ID).TokenHash; got != tenancy.HashToken(s.Token) {
				t.Errorf("%s: token hash %q, want HashToken(token)", s.Email, got)
			}
		}
		for _, table := range []string{"invitations", "audit_events", "users", "accounts", "memberships"} {
			var rows []map[string]any
			dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT * FROM "+table).Scan(&rows).Error)
			for _, row := range rows {
				for col, v := range row {
					for _, s := range sent {
						if strings.Contains(fmt.Sprint(v), s.Token) {
							t.Errorf("%s.%s holds the raw token of %s", table, col, s.Email)
						}
					}
				}
			}
		}
	})
}

func TestInviteRefusals(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		inviteOne(t, db, f.Admin, f.AdminUser, "pending@example.com", tenancy.RoleMember)
		many := func(n int) string {
			var out []string
			for i := range n {
				out = append(out, fmt.Sprintf("person%d@example.com", i))
			}
			return strings.Join(out, "\n")
		}
		cases := []struct {
			label string
			scope tenancy.Scope
			raw   string
			role  tenancy.Role
			keys  []string
			err   error
		}{
			{"nothing", f.Admin, "", tenancy.RoleMember, []string{"emails"}, nil},
			{"only separators and blanks", f.Admin, " ,;\n\r\n ; ,\t", tenancy.RoleMember, []string{"emails"}, nil},
			{"51 distinct addresses", f.Admin, many(51), tenancy.RoleMember, []string{"emails"}, nil},
			{"51 distinct addresses, some invalid", f.Admin, many(49) + ",bad1,bad2", tenancy.RoleMember, []string{"emails"}, nil},
			{"unknown role", f.Admin, "new@example.com", "owner", []string{"role"}, nil},
			{"upper-case role", f.Admin, "new@example.com", "ADMIN", []string{"role"}, nil},
			{"empty role", f.Admin, "new@example.com", "", []string{"role"}, nil},
			{"bad role and no address", f.Admin, "", "owner", []string{"emails", "role"}, nil},
			{"all invalid", f.Admin, "nope, also@bad\n@example.com", tenancy.RoleMember, []string{"emails"}, nil},
			{"regular member", f.Member, "new@example.com", tenancy.RoleMember, nil, tenancy.ErrForbidden},
			{"regular member, bad input", f.Member, "", "owner", nil, tenancy.ErrForbidden},
			{"personal account", f.AdminPersonal, "new@example.com", tenancy.RoleMember, nil, tenancy.ErrNotFound},
			{"zero scope", tenancy.Scope{}, "new@example.com", tenancy.RoleMember, nil, tenancy.ErrUnscoped},
		}
		for _, c := range cases {
			t.Run(c.label, func(t *testing.T) {
				before := teamSnapshot(t, db)
				res, err := models.Invite(t.Context(), db, c.scope, c.raw, c.role, dbtest.ActorOf(f.AdminUser))
				if c.err != nil {
					dbtest.WantIs(t, err, c.err)
				} else {
					dbtest.WantFields(t, err, c.keys...)
				}
				if len(res.Invited) != 0 {
					t.Errorf("a refused invite returned invitations %+v", res.Invited)
				}
				wantTeamUnchanged(t, db, before)
			})
		}

		t.Run("the 50-address message says how many were entered", func(t *testing.T) {
			_, err := models.Invite(t.Context(), db, f.Admin, many(51)+"\n"+many(51), tenancy.RoleMember, dbtest.ActorOf(f.AdminUser))
			fe, _ := tenancy.AsFieldErrors(err)
			if !strings.Contains(fe["emails"], "50") || !strings.Contains(fe["emails"], "51") {
				t.Errorf("message %q, want the limit and the count", fe["emails"])
			}
		})
		t.Run("the all-invalid message names them", func(t *testing.T) {
			_, err := models.Invite(t.Context(), db, f.Admin, "nope, also@bad", tenancy.RoleMember, dbtest.ActorOf(f.AdminUser))
			fe, _ := tenancy.AsFieldErrors(err)
			if !strings.Contains(fe["emails"], "nope") || !strings.Contains(fe["emails"], "also@bad") {
				t.Errorf("message %q, want the invalid addresses", fe["emails"])
			}
		})
		t.Run("50 distinct addresses, with duplicates, are invited", func(t *testing.T) {
			res := invite(t, db, f.Admin, f.AdminUser, many(50)+"\n"+strings.ToUpper(many(50)), tenancy.RoleMember)
			if len(res.Invited) != 50 {
				t.Fatalf("%d invited, want 50", len(res.Invited))
			}
			if n := dbtest.CountRows(t, db, "invitations", "account_id = ? AND email LIKE 'person%'", f.Admin.AccountID()); n != 50 {
				t.Fatalf("%d stored, want 50", n)
			}
		})
	})
}

// TestInviteRenewsAnExpiredInvitation: inviting an address again after its
// invitation expired renews that invitation, with the role asked for now.
func TestInviteRenewsAnExpiredInvitation(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		old := inviteOne(t, db, f.Admin, f.AdminUser, "late@example.com", tenancy.RoleMember)
		expireInvitation(t, db, old.ID)
		if v, err := models.LookupInvitation(t.Context(), db, old.Token); err != nil || v.State() != models.InvitationExpired {
			t.Fatalf("before renewal: %v, %v; want expired", v.State(), err)
		}
		start := dbtest.UTC()
		res := invite(t, db, f.Admin, f.AdminUser, "Late@Example.com", tenancy.RoleAdmin)
		if len(res.Invited) != 1 || len(res.AlreadyInvited) != 0 {
			t.Fatalf("result %+v, want late@example.com invited again", res)
		}
		renewed := res.Invited[0]
		if renewed.ID != old.ID || renewed.PublicID != old.PublicID {
			t.Errorf("renewal returned invitation %d %s, want the expired one %d %s", renewed.ID, renewed.PublicID, old.ID, old.PublicID)
		}
		if n := dbtest.CountRows(t, db, "invitations", "email = ?", "late@example.com"); n != 1 {
			t.Errorf("%d invitations for the address, want the one renewed", n)
		}
		got := rawInvitation(t, db, old.ID)
		if renewed.Token == old.Token || got.TokenHash != tenancy.HashToken(renewed.Token) {
			t.Errorf("token hash %q, want the hash of a new token", got.TokenHash)
		}
		if got.Role != tenancy.RoleAdmin || renewed.Role != tenancy.RoleAdmin {
			t.Errorf("role %s (returned %s), want admin as asked now", got.Role, renewed.Role)
		}
		wantExpiresInAWeek(t, got, start, dbtest.UTC())
		if got.State() != models.InvitationPending || got.SentAt.Before(start.Add(-time.Second)) {
			t.Errorf("state %s, sent at %v; want pending, sent now", got.State(), got.SentAt)
		}
		_, err := models.LookupInvitation(t.Context(), db, old.Token)
		dbtest.WantIs(t, err, models.ErrInvitationNotFound)
		v, err := models.LookupInvitation(t.Context(), db, renewed.Token)
		dbtest.Must(t, err)
		if v.ID != old.ID || v.State() != models.InvitationPending {
			t.Errorf("new link: %+v", v)
		}
		wantAudit(t, db, f.Admin.AccountID(), models.AuditInvited, dbtest.ActorOf(f.AdminUser), "late@example.com", "late@example.com")
	})
}

func TestListInvitations(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		// Made one at a time, oldest first.
		emails := []string{"i0@example.com", "i1@example.com", "i2@example.com", "i3@example.com", "i4@example.com", "i5@example.com", "i6@example.com"}
		sent := map[string]models.SentInvitation{}
		for _, e := range emails {
			sent[e] = inviteOne(t, db, f.Admin, f.AdminUser, e, tenancy.RoleMember)
		}
		// i1 is accepted, i3 revoked, i5 expired (still open: listed).
		joiner, _ := dbtest.UserNamed(t, db, "Joiner", "i1@example.com")
		_, err := models.AcceptInvitation(t.Context(), db, sent["i1@example.com"].Token, joiner, "")
		dbtest.Must(t, err)
		_, err = models.RevokeInvitation(t.Context(), db, f.Admin, sent["i3@example.com"].PublicID, dbtest.ActorOf(f.AdminUser))
		dbtest.Must(t, err)
		expireInvitation(t, db, sent["i5@example.com"].ID)
		inviteOne(t, db, f.Other, f.AdminUser, "foreign@example.com", tenancy.RoleMember)

		want := []string{"i6@example.com", "i5@example.com", "i4@example.com", "i2@example.com", "i0@example.com"}
		var got []string
		for page := 1; page <= 3; page++ {
			rows, total, err := models.ListInvitations(t.Context(), db, f.Admin, tenancy.Page{Number: page, Size: 2})
			dbtest.Must(t, err)
			if total != 5 {
				t.Errorf("page %d: total %d, want 5", page, total)
			}
			if wantLen := min(2, 5-2*(page-1)); len(rows) != wantLen {
				t.Errorf("page %d: %d rows, want %d", page, len(rows), wantLen)
			}
			for _, r := range rows {
				got = append(got, r.Email)
				if r.InvitedByName != f.AdminUser.Name || r.AccountID != f.Admin.AccountID() || r.TokenHash != tenancy.HashToken(sent[r.Email].Token) {
					t.Errorf("row %+v", r)
				}
				wantState := models.InvitationPending
				if r.Email == "i5@example.com" {
					wantState = models.InvitationExpired
				}
				if r.State() != wantState {
					t.Errorf("%s: state %s, want %s", r.Email, r.State(), wantState)
				}
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("listed %q, want %q (open only, newest first)", got, want)
		}
		rows, _, err := models.ListInvitations(t.Context(), db, f.Admin, tenancy.Page{Number: 4, Size: 2})
		dbtest.Must(t, err)
		if len(rows) != 0 {
			t.Errorf("page past the end: %d rows", len(rows))
		}

		for _, c := range []struct {
			label string
			scope tenancy.Scope
			err   error
		}{
			{"regular member", f.Member, tenancy.ErrForbidden},
			{"zero scope", tenancy.Scope{}, tenancy.ErrUnscoped},
		} {
			t.Run(c.label, func(t *testing.T) {
				rows, total, err := models.ListInvitations(t.Context(), db, c.scope, tenancy.Page{Number: 1, Size: 20})
				dbtest.WantIs(t, err, c.err)
				if len(rows) != 0 || total != 0 {
					t.Errorf("refused list returned %d rows, total %d", len(rows), total)
				}
			})
		}
		rows, total, err := models.ListInvitations(t.Context(), db, f.Other, tenancy.Page{Number: 1, Size: 20})
		dbtest.Must(t, err)
		if total != 1 || len(rows) != 1 || rows[0].Email != "foreign@example.com" {
			t.Errorf("the other organization lists %+v", rows)
		}
	})
}

func TestResendInvitation(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		for _, expired := range []bool{false, true} {
			t.Run(fmt.Sprintf("expired=%v", expired), func(t *testing.T) {
				email := fmt.Sprintf("resend-%v@example.com", expired)
				sent := inviteOne(t, db, f.Admin, f.AdminUser, email, tenancy.RoleAdmin)
				if expired {
					expireInvitation(t, db, sent.ID)
				} else {
					sentAgo(t, db, sent.ID, models.InvitationResendInterval)
				}
				start := dbtest.UTC()
				again, err := models.ResendInvitation(t.Context(), db, f.Admin, sent.PublicID, dbtest.ActorOf(f.AdminUser))
				dbtest.Must(t, err)
				if again.ID != sent.ID || again.Email != email || again.Role != tenancy.RoleAdmin || again.Token == "" || again.Token == sent.Token {
					t.Fatalf("resend returned %+v", again)
				}
				got := rawInvitation(t, db, sent.ID)
				if got.TokenHash != tenancy.HashToken(again.Token) || got.Role != tenancy.RoleAdmin || got.State() != models.InvitationPending {
					t.Errorf("stored %+v", got)
				}
				wantExpiresInAWeek(t, got, start, dbtest.UTC())
				_, err = models.LookupInvitation(t.Context(), db, sent.Token)
				dbtest.WantIs(t, err, models.ErrInvitationNotFound)
				v, err := models.LookupInvitation(t.Context(), db, again.Token)
				dbtest.Must(t, err)
				if v.ID != sent.ID || v.State() != models.InvitationPending {
					t.Errorf("new link shows %+v", v)
				}
				if n := dbtest.CountRows(t, db, "invitations", "email = ?", email); n != 1 {
					t.Errorf("%d invitations for %s, want 1", n, email)
				}
				evs := auditOf(t, db, f.Admin.AccountID(), models.AuditInvitationResent)
				if len(evs) == 0 || !strings.Contains(evs[len(evs)-1].Target, email) || *evs[len(evs)-1].ActorUserID != f.AdminUser.ID {
					t.Errorf("resent events %+v", evs)
				}
			})
		}

		revoked := inviteOne(t, db, f.Admin, f.AdminUser, "revoked@example.com", tenancy.RoleMember)
		_, err := models.RevokeInvitation(t.Context(), db, f.Admin, revoked.PublicID, dbtest.ActorOf(f.AdminUser))
		dbtest.Must(t, err)
		accepted := inviteOne(t, db, f.Admin, f.AdminUser, "accepted@example.com", tenancy.RoleMember)
		joiner, _ := dbtest.UserNamed(t, db, "Accepted", "accepted@example.com")
		_, err = models.AcceptInvitation(t.Context(), db, accepted.Token, joiner, "")
		dbtest.Must(t, err)
		foreign := inviteOne(t, db, f.Other, f.AdminUser, "foreign@example.com", tenancy.RoleMember)
		open := inviteOne(t, db, f.Admin, f.AdminUser, "open@example.com", tenancy.RoleMember)
		for _, c := range []struct {
			label string
			scope tenancy.Scope
			id    string
			err   error
		}{
			{"unknown ID", f.Admin, "0123456789abcdef01234567", tenancy.ErrNotFound},
			{"empty ID", f.Admin, "", tenancy.ErrNotFound},
			{"another organization's invitation", f.Admin, foreign.PublicID, tenancy.ErrNotFound},
			{"revoked", f.Admin, revoked.PublicID, tenancy.ErrNotFound},
			{"accepted", f.Admin, accepted.PublicID, tenancy.ErrNotFound},
			{"from the administrator's personal account", f.AdminPersonal, open.PublicID, tenancy.ErrNotFound},
			{"regular member", f.Member, open.PublicID, tenancy.ErrForbidden},
			{"zero scope", tenancy.Scope{}, open.PublicID, tenancy.ErrUnscoped},
		} {
			t.Run(c.label, func(t *testing.T) {
				before := teamSnapshot(t, db)
				got, err := models.ResendInvitation(t.Context(), db, c.scope, c.id, dbtest.ActorOf(f.AdminUser))
				dbtest.WantIs(t, err, c.err)
				if got.Token != "" {
					t.Errorf("a refused resend returned a token")
				}
				wantTeamUnchanged(t, db, before)
			})
		}
		// The links of the refused ones still lead where they did.
		for _, s := range []models.SentInvitation{foreign, open} {
			if _, err := models.LookupInvitation(t.Context(), db, s.Token); err != nil {
				t.Errorf("%s: link broken by a refused resend: %v", s.Email, err)
			}
		}
	})
}

func TestRevokeInvitation(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		sent := inviteOne(t, db, f.Admin, f.AdminUser, "revoke@example.com", tenancy.RoleMember)
		expired := inviteOne(t, db, f.Admin, f.AdminUser, "expired@example.com", tenancy.RoleMember)
		expireInvitation(t, db, expired.ID)
		actor := dbtest.ActorOf(f.AdminUser)
		for _, s := range []models.SentInvitation{sent, expired} {
			inv, err := models.RevokeInvitation(t.Context(), db, f.Admin, s.PublicID, actor)
			dbtest.Must(t, err)
			if inv.ID != s.ID || inv.Email != s.Email {
				t.Errorf("revoke returned %+v", inv)
			}
			v, err := models.LookupInvitation(t.Context(), db, s.Token)
			dbtest.Must(t, err)
			if v.State() != models.InvitationRevoked || v.RevokedAt == nil {
				t.Errorf("%s: state %s, want revoked", s.Email, v.State())
			}
		}
		rows, total, err := models.ListInvitations(t.Context(), db, f.Admin, tenancy.Page{Number: 1, Size: 20})
		dbtest.Must(t, err)
		if total != 0 || len(rows) != 0 {
			t.Errorf("revoked invitations still listed: %+v", rows)
		}
		wantAudit(t, db, f.Admin.AccountID(), models.AuditInvitationRevoked, actor, "revoke@example.com", "expired@example.com")

		// The revoked link cannot be used, and nothing changes trying.
		invitee, _ := dbtest.UserNamed(t, db, "Invitee", "revoke@example.com")
		before := teamSnapshot(t, db)
		_, err = models.AcceptInvitation(t.Context(), db, sent.Token, invitee, "")
		dbtest.WantIs(t, err, models.ErrInvitationClosed)
		wantTeamUnchanged(t, db, before)

		// The address can be invited again, with a new link.
		again := inviteOne(t, db, f.Admin, f.AdminUser, "revoke@example.com", tenancy.RoleMember)
		if again.ID == sent.ID || again.Token == sent.Token {
			t.Errorf("re-invitation reused the revoked invitation")
		}

		accepted := inviteOne(t, db, f.Admin, f.AdminUser, "accepted@example.com", tenancy.RoleMember)
		joiner, _ := dbtest.UserNamed(t, db, "Accepted", "accepted@example.com")
		_, err = models.AcceptInvitation(t.Context(), db, accepted.Token, joiner, "")
		dbtest.Must(t, err)
		foreign := inviteOne(t, db, f.Other, f.AdminUser, "foreign@example.com", tenancy.RoleMember)
		for _, c := range []struct {
			label string
			scope tenancy.Scope
			id    string
			err   error
		}{
			{"unknown ID", f.Admin, "0123456789abcdef01234567", tenancy.ErrNotFound},
			{"another organization's invitation", f.Admin, foreign.PublicID, tenancy.ErrNotFound},
			{"revoked already", f.Admin, sent.PublicID, tenancy.ErrNotFound},
			{"accepted", f.Admin, accepted.PublicID, tenancy.ErrNotFound},
			{"regular member", f.Member, again.PublicID, tenancy.ErrForbidden},
			{"zero scope", tenancy.Scope{}, again.PublicID, tenancy.ErrUnscoped},
		} {
			t.Run(c.label, func(t *testing.T) {
				before := teamSnapshot(t, db)
				_, err := models.RevokeInvitation(t.Context(), db, c.scope, c.id, actor)
				dbtest.WantIs(t, err, c.err)
				wantTeamUnchanged(t, db, before)
			})
		}
		if v, err := models.LookupInvitation(t.Context(), db, accepted.Token); err != nil || v.State() != models.InvitationAccepted {
			t.Errorf("accepted invitation: %v, %v", v.State(), err)
		}
	})
}

func TestLookupInvitation(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		sent := inviteOne(t, db, f.Admin, f.AdminUser, "look@example.com", tenancy.RoleAdmin)
		before := teamSnapshot(t, db)
		v, err := models.LookupInvitation(t.Context(), db, sent.Token)
		dbtest.Must(t, err)
		wantTeamUnchanged(t, db, before) // opening a link changes nothing
		acct := f.Admin.Account()
		if v.ID != sent.ID || v.Email != "look@example.com" || v.Role != tenancy.RoleAdmin || v.AccountID != acct.ID {
			t.Errorf("invitation %+v", v.Invitation)
		}
		if v.AccountName != acct.Name || v.AccountPublicID != acct.PublicID || v.InviterName != f.AdminUser.Name {
			t.Errorf("account %q %q, inviter %q; want %q %q %q", v.AccountName, v.AccountPublicID, v.InviterName, acct.Name, acct.PublicID, f.AdminUser.Name)
		}
		if v.State() != models.InvitationPending {
			t.Errorf("state %s, want pending", v.State())
		}

		// Expired, then accepted: the link shows where the invitation stands.
		late := inviteOne(t, db, f.Admin, f.AdminUser, "late@example.com", tenancy.RoleMember)
		expireInvitation(t, db, late.ID)
		if v, err := models.LookupInvitation(t.Context(), db, late.Token); err != nil || v.State() != models.InvitationExpired {
			t.Errorf("expired invitation: %s, %v; want expired", v.State(), err)
		}
		joiner, _ := dbtest.UserNamed(t, db, "Joiner", "joiner@example.com")
		joined := inviteOne(t, db, f.Admin, f.AdminUser, "joiner@example.com", tenancy.RoleMember)
		_, err = models.AcceptInvitation(t.Context(), db, joined.Token, joiner, "")
		dbtest.Must(t, err)
		if v, err := models.LookupInvitation(t.Context(), db, joined.Token); err != nil || v.State() != models.InvitationAccepted || v.AcceptedByID == nil || *v.AcceptedByID != joiner.ID {
			t.Errorf("accepted invitation: %s, %v; want accepted by %d", v.State(), err, joiner.ID)
		}

		for _, token := range []string{"", "nope", sent.Token + "x", strings.ToUpper(sent.Token), tenancy.HashToken(sent.Token)} {
			_, err := models.LookupInvitation(t.Context(), db, token)
			dbtest.WantIs(t, err, models.ErrInvitationNotFound)
		}

		// An inviter who is gone leaves the invitation without a name.
		inviter, _ := dbtest.User(t, db)
		inviterScope := dbtest.AddMember(t, db, f.Admin, inviter, tenancy.RoleAdmin)
		orphan := inviteOne(t, db, inviterScope, inviter, "orphan@example.com", tenancy.RoleMember)
		dbtest.Must(t, dbtest.Plain(t, db).Exec("DELETE FROM users WHERE id = ?", inviter.ID).Error)
		v, err = models.LookupInvitation(t.Context(), db, orphan.Token)
		dbtest.Must(t, err)
		if v.InviterName != "" || v.AccountName != acct.Name {
			t.Errorf("inviter %q account %q, want none and %q", v.InviterName, v.AccountName, acct.Name)
		}
	})
}

// TestInvitationState: State reads as the link page shows it, from rows as
// each database returns them; accepted wins over revoked, both over expired.
func TestInvitationState(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		later, earlier := dbtest.UTC().Add(time.Minute), dbtest.UTC().Add(-time.Minute)
		for i, c := range []struct {
			label             string
			expires           time.Time
			accepted, revoked bool
			want              models.InvitationState
		}{
			{"open, a minute left", later, false, false, models.InvitationPending},
			{"open, a minute past its expiry", earlier, false, false, models.InvitationExpired},
			{"revoked", later, false, true, models.InvitationRevoked},
			{"revoked after it expired", earlier, false, true, models.InvitationRevoked},
			{"accepted", later, true, false, models.InvitationAccepted},
			{"accepted, since expired", earlier, true, false, models.InvitationAccepted},
		} {
			t.Run(c.label, func(t *testing.T) {
				sent := inviteOne(t, db, f.Admin, f.AdminUser, fmt.Sprintf("state%d@example.com", i), tenancy.RoleMember)
				dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE invitations SET expires_at = ? WHERE id = ?", c.expires, sent.ID).Error)
				if c.accepted {
					dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE invitations SET accepted_at = ? WHERE id = ?", earlier, sent.ID).Error)
				}
				if c.revoked {
					dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE invitations SET revoked_at = ? WHERE id = ?", earlier, sent.ID).Error)
				}
				v, err := models.LookupInvitation(t.Context(), db, sent.Token)
				dbtest.Must(t, err)
				if got := v.State(); got != c.want {
					t.Errorf("state %s, want %s", got, c.want)
				}
			})
		}
	})
}

func TestAcceptInvitation(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		for _, role := range []tenancy.Role{tenancy.RoleMember, tenancy.RoleAdmin} {
			t.Run(string(role), func(t *testing.T) {
				email := "join-" + string(role) + "@example.com"
				sent := inviteOne(t, db, f.Admin, f.AdminUser, strings.ToUpper(email), role)
				user, personal := dbtest.UserNamed(t, db, "Joining "+string(role), email)
				if user.Verified() {
					t.Fatal("a new user is already verified")
				}
				// The address compares case-insensitively, as NormalizeEmail does.
				asTyped := user
				asTyped.Email = "  " + strings.ToUpper(email) + " "
				start := dbtest.UTC()
				s, err := models.AcceptInvitation(t.Context(), db, sent.Token, asTyped, "198.51.100.4")
				dbtest.Must(t, err)
				if s.AccountID() != f.Admin.AccountID() || s.UserID() != user.ID || s.Role() != role || !s.IsOrganization() {
					t.Errorf("scope: account %d user %d role %s; want %d %d %s", s.AccountID(), s.UserID(), s.Role(), f.Admin.AccountID(), user.ID, role)
				}
				if got := membershipRole(t, db, f.Admin.AccountID(), user.ID); got != role {
					t.Errorf("membership role %q, want %q", got, role)
				}
				if _, err := tenancy.LoadScope(t.Context(), db, user.ID, f.Admin.Account().PublicID); err != nil {
					t.Errorf("the new member cannot load the organization: %v", err)
				}
				if got := membershipRole(t, db, personal.AccountID(), user.ID); got != tenancy.RoleAdmin {
					t.Errorf("personal account membership %q, want it untouched", got)
				}
				if !reloadUser(t, db, user.ID).Verified() {
					t.Error("accepting did not verify the email address")
				}
				inv := rawInvitation(t, db, sent.ID)
				if inv.AcceptedAt == nil || inv.AcceptedAt.Before(start.Add(-time.Second)) || inv.AcceptedByID == nil || *inv.AcceptedByID != user.ID {
					t.Errorf("invitation accepted at %v by %v", inv.AcceptedAt, inv.AcceptedByID)
				}
				if inv.State() != models.InvitationAccepted {
					t.Errorf("state %s, want accepted", inv.State())
				}
				evs := auditOf(t, db, f.Admin.AccountID(), models.AuditJoined)
				if len(evs) == 0 {
					t.Fatal("no member.joined event")
				}
				ev := evs[len(evs)-1]
				if ev.ActorUserID == nil || *ev.ActorUserID != user.ID || ev.ActorName != user.Name || ev.IP != "198.51.100.4" ||
					!strings.Contains(strings.ToLower(ev.Target), email) || !strings.Contains(ev.Details, role.Label()) {
					t.Errorf("joined event %+v", ev)
				}

				// Single use.
				before := teamSnapshot(t, db)
				_, err = models.AcceptInvitation(t.Context(), db, sent.Token, user, "")
				dbtest.WantIs(t, err, models.ErrInvitationClosed)
				wantTeamUnchanged(t, db, before)
			})
		}
	})
}

func TestAcceptInvitationRefusals(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		invitee, _ := dbtest.UserNamed(t, db, "Invitee", "invitee@example.com")
		someoneElse, _ := dbtest.UserNamed(t, db, "Someone Else", "someone@example.com")
		pending := inviteOne(t, db, f.Admin, f.AdminUser, "invitee@example.com", tenancy.RoleAdmin)
		otherPending := inviteOne(t, db, f.Admin, f.AdminUser, "expired@example.com", tenancy.RoleMember)
		expireInvitation(t, db, otherPending.ID)
		expiredUser, _ := dbtest.UserNamed(t, db, "Expired", "expired@example.com")
		revokedSent := inviteOne(t, db, f.Admin, f.AdminUser, "revoked@example.com", tenancy.RoleMember)
		_, err := models.RevokeInvitation(t.Context(), db, f.Admin, revokedSent.PublicID, dbtest.ActorOf(f.AdminUser))
		dbtest.Must(t, err)
		revokedUser, _ := dbtest.UserNamed(t, db, "Revoked", "revoked@example.com")

		for _, c := range []struct {
			label string
			token string
			user  models.User
			err   error
		}{
			{"unknown token", "nope", invitee, models.ErrInvitationNotFound},
			{"empty token", "", invitee, models.ErrInvitationNotFound},
			{"a different email", pending.Token, someoneElse, models.ErrInvitationForSomeoneElse},
			{"a member of the organization with a different email", pending.Token, f.MemberUser, models.ErrInvitationForSomeoneElse},
			{"expired", otherPending.Token, expiredUser, models.ErrInvitationClosed},
			{"revoked", revokedSent.Token, revokedUser, models.ErrInvitationClosed},
		} {
			t.Run(c.label, func(t *testing.T) {
				before := teamSnapshot(t, db)
				s, err := models.AcceptInvitation(t.Context(), db, c.token, c.user, "")
				dbtest.WantIs(t, err, c.err)
				if !s.IsZero() {
					t.Errorf("a refused accept returned a scope in account %d", s.AccountID())
				}
				wantTeamUnchanged(t, db, before)
			})
		}
		// The invitation someone else tried is still there for its invitee.
		s, err := models.AcceptInvitation(t.Context(), db, pending.Token, invitee, "")
		dbtest.Must(t, err)
		if s.Role() != tenancy.RoleAdmin {
			t.Errorf("role %s, want admin", s.Role())
		}
	})
}

// TestAcceptInvitationWhenAlreadyMember: someone who joined meanwhile accepts
// without a second membership, keeping their role.
func TestAcceptInvitationWhenAlreadyMember(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		user, _ := dbtest.UserNamed(t, db, "Early", "early@example.com")
		sent := inviteOne(t, db, f.Admin, f.AdminUser, "early@example.com", tenancy.RoleMember)
		dbtest.AddMember(t, db, f.Admin, user, tenancy.RoleAdmin)
		s, err := models.AcceptInvitation(t.Context(), db, sent.Token, user, "")
		dbtest.Must(t, err)
		if s.AccountID() != f.Admin.AccountID() || s.Role() != tenancy.RoleAdmin {
			t.Errorf("scope in %d as %s, want %d as admin", s.AccountID(), s.Role(), f.Admin.AccountID())
		}
		if n := dbtest.CountRows(t, db, "memberships", "account_id = ? AND user_id = ?", f.Admin.AccountID(), user.ID); n != 1 {
			t.Errorf("%d memberships, want 1", n)
		}
		if got := rawInvitation(t, db, sent.ID); got.State() != models.InvitationAccepted {
			t.Errorf("invitation %s, want accepted", got.State())
		}
	})
}

// TestAcceptInvitationConcurrently: of simultaneous accepts of one link,
// exactly one succeeds.
func TestAcceptInvitationConcurrently(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		for round := range 4 {
			email := fmt.Sprintf("race%d@example.com", round)
			sent := inviteOne(t, db, f.Admin, f.AdminUser, email, tenancy.RoleMember)
			user, _ := dbtest.UserNamed(t, db, "Racer", email)
			const n = 6
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, errs[i] = models.AcceptInvitation(t.Context(), db, sent.Token, user, "")
				}()
			}
			close(start)
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, models.ErrInvitationClosed):
				default:
					t.Errorf("round %d: concurrent accept: %v, want success or ErrInvitationClosed", round, err)
				}
			}
			if ok != 1 {
				t.Errorf("round %d: %d accepts succeeded, want 1", round, ok)
			}
			if c := dbtest.CountRows(t, db, "memberships", "account_id = ? AND user_id = ?", f.Admin.AccountID(), user.ID); c != 1 {
				t.Errorf("round %d: %d memberships, want 1", round, c)
			}
			if c := dbtest.CountRows(t, db, "audit_events", "account_id = ? AND action = ? AND target = ?", f.Admin.AccountID(), models.AuditJoined, email); c != 1 {
				t.Errorf("round %d: %d joined events, want 1", round, c)
			}
		}
	})
}

// TestInviteSameAddressConcurrently: administrators inviting one address at
// once get one invitation between them; the others are told it is already
// invited, not a database error.
func TestInviteSameAddressConcurrently(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		for round := range 5 {
			email := fmt.Sprintf("together%d@example.com", round)
			const n = 6
			results := make([]models.InviteResult, n)
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					results[i], errs[i] = models.Invite(t.Context(), db, f.Admin, email, tenancy.RoleMember, dbtest.ActorOf(f.AdminUser))
				}()
			}
			close(start)
			wg.Wait()
			invited, already, failed := 0, 0, 0
			var firstErr error
			for i, err := range errs {
				if err != nil {
					failed++
					firstErr = cmp.Or(firstErr, err)
					continue
				}
				invited += len(results[i].Invited)
				already += len(results[i].AlreadyInvited)
			}
			if failed > 0 {
				t.Errorf("round %d: %d of %d concurrent invites failed (%v), want success", round, failed, n, firstErr)
			}
			if invited != 1 || already != n-1 {
				t.Errorf("round %d: %d invited, %d already invited; want 1 and %d", round, invited, already, n-1)
			}
			if c := dbtest.CountRows(t, db, "invitations", "email = ?", email); c != 1 {
				t.Errorf("round %d: %d invitations, want 1", round, c)
			}
		}
	})
}
