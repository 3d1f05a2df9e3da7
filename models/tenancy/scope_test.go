package tenancy_test

import (
	"testing"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

func TestLoadScope(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		owner, ownerPersonal := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		memberUser, _ := dbtest.User(t, db)
		dbtest.AddMember(t, db, org, memberUser, tenancy.RoleMember)
		outsider, outsiderPersonal := dbtest.User(t, db)
		orgPublic := org.Account().PublicID

		members := []struct {
			label string
			user  models.User
			role  tenancy.Role
		}{
			{"admin", owner, tenancy.RoleAdmin},
			{"member", memberUser, tenancy.RoleMember},
		}
		for _, m := range members {
			t.Run(m.label, func(t *testing.T) {
				s, err := tenancy.LoadScope(t.Context(), db, m.user.ID, orgPublic)
				dbtest.Must(t, err)
				if s.IsZero() || s.AccountID() != org.AccountID() || s.UserID() != m.user.ID || s.Role() != m.role {
					t.Fatalf("scope account %d user %d role %s, want %d %d %s", s.AccountID(), s.UserID(), s.Role(), org.AccountID(), m.user.ID, m.role)
				}
				if !s.IsOrganization() || s.IsPersonal() || s.Account().Name != org.Account().Name || s.Account().PublicID != orgPublic {
					t.Fatalf("scope account %+v", s.Account())
				}
			})
		}

		refused := []struct {
			label    string
			userID   int64
			publicID string
		}{
			{"non-member", outsider.ID, orgPublic},
			{"unknown public ID", owner.ID, uuid.NewString()},
			{"empty public ID", owner.ID, ""},
			{"another user's personal account", owner.ID, outsiderPersonal.Account().PublicID},
			{"a member into the owner's personal account", memberUser.ID, ownerPersonal.Account().PublicID},
			{"unknown user", 987654, orgPublic},
			{"no user", 0, orgPublic},
			{"internal ID instead of public ID", owner.ID, "1"},
		}
		for _, c := range refused {
			t.Run(c.label, func(t *testing.T) {
				s, err := tenancy.LoadScope(t.Context(), db, c.userID, c.publicID)
				dbtest.WantIs(t, err, tenancy.ErrNotMember)
				if !s.IsZero() {
					t.Fatalf("a refused scope is not zero: %+v", s.Account())
				}
			})
		}
	})
}

// TestLoadScopeRechecksMembership: a scope is only as good as the
// membership row at the moment it is loaded.
func TestLoadScopeRechecksMembership(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		owner, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		u, _ := dbtest.User(t, db)
		dbtest.AddMember(t, db, org, u, tenancy.RoleMember)
		dbtest.Must(t, dbtest.Plain(t, db).Where("account_id = ? AND user_id = ?", org.AccountID(), u.ID).Delete(&tenancy.Membership{}).Error)
		_, err := tenancy.LoadScope(t.Context(), db, u.ID, org.Account().PublicID)
		dbtest.WantIs(t, err, tenancy.ErrNotMember)
		_, err = tenancy.ScopeForSession(t.Context(), db, u.ID, org.AccountID())
		dbtest.WantIs(t, err, tenancy.ErrNotMember)
		// Promotion shows on the next load.
		dbtest.Must(t, dbtest.Plain(t, db).Model(&tenancy.Membership{}).Where("account_id = ? AND user_id = ?", org.AccountID(), owner.ID).Update("role", tenancy.RoleMember).Error)
		s, err := tenancy.LoadScope(t.Context(), db, owner.ID, org.Account().PublicID)
		dbtest.Must(t, err)
		if s.Role() != tenancy.RoleMember {
			t.Fatalf("role %s after the change, want member", s.Role())
		}
	})
}

func TestScopeForSession(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		owner, ownerPersonal := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		outsider, outsiderPersonal := dbtest.User(t, db)

		s, err := tenancy.ScopeForSession(t.Context(), db, owner.ID, org.AccountID())
		dbtest.Must(t, err)
		if s.AccountID() != org.AccountID() || s.UserID() != owner.ID || s.Role() != tenancy.RoleAdmin || !s.IsOrganization() {
			t.Fatalf("scope %d/%d/%s", s.AccountID(), s.UserID(), s.Role())
		}
		s, err = tenancy.ScopeForSession(t.Context(), db, owner.ID, ownerPersonal.AccountID())
		dbtest.Must(t, err)
		if s.AccountID() != ownerPersonal.AccountID() || !s.IsPersonal() || s.Role() != tenancy.RoleAdmin {
			t.Fatalf("personal scope %d/%s", s.AccountID(), s.Role())
		}

		refused := []struct {
			label             string
			userID, accountID int64
		}{
			{"non-member", outsider.ID, org.AccountID()},
			{"another user's personal account", owner.ID, outsiderPersonal.AccountID()},
			{"no account", owner.ID, 0},
			{"unknown account", owner.ID, 987654},
			{"unknown user", 987654, org.AccountID()},
		}
		for _, c := range refused {
			t.Run(c.label, func(t *testing.T) {
				s, err := tenancy.ScopeForSession(t.Context(), db, c.userID, c.accountID)
				dbtest.WantIs(t, err, tenancy.ErrNotMember)
				if !s.IsZero() {
					t.Fatal("a refused scope is not zero")
				}
			})
		}
	})
}

func TestPersonalScope(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, _ := dbtest.User(t, db)
		owner, _ := dbtest.User(t, db)
		// Membership of organizations and of other users' accounts must not
		// confuse which account is u's own.
		dbtest.AddMember(t, db, dbtest.Org(t, db, owner), u, tenancy.RoleAdmin)
		dbtest.Org(t, db, u)

		s, err := tenancy.PersonalScope(t.Context(), db, u.ID)
		dbtest.Must(t, err)
		a := s.Account()
		if !s.IsPersonal() || a.CreatedByID != u.ID || a.Name != u.Name || s.UserID() != u.ID || s.Role() != tenancy.RoleAdmin {
			t.Fatalf("personal scope: account %+v, user %d, role %s", a, s.UserID(), s.Role())
		}
		for capability := range tenancy.Policy {
			if !s.Can(capability) {
				t.Errorf("the owner of a personal account cannot %q", capability)
			}
		}

		_, err = tenancy.PersonalScope(t.Context(), db, 987654)
		dbtest.WantIs(t, err, tenancy.ErrNotMember)
		_, err = tenancy.PersonalScope(t.Context(), db, 0)
		dbtest.WantIs(t, err, tenancy.ErrNotMember)
	})
}

func TestPolicy(t *testing.T) {
	t.Parallel()
	// The product's role table (DESIGN.md), written out independently of
	// models.Policy so that a change to either shows here.
	memberMay := map[tenancy.Capability]bool{
		tenancy.CapViewAccount:   true,
		tenancy.CapUseResources:  true,
		tenancy.CapManageOwnKeys: true,
	}
	all := []tenancy.Capability{
		tenancy.CapViewAccount, tenancy.CapUseResources, tenancy.CapManageOwnKeys, tenancy.CapManageMembers,
		tenancy.CapManageAccount, tenancy.CapManageBilling, tenancy.CapViewAccountUsage, tenancy.CapViewAuditLog,
	}
	if len(tenancy.Policy) != len(all) {
		t.Fatalf("Policy has %d capabilities, want %d", len(tenancy.Policy), len(all))
	}
	for _, c := range all {
		if !tenancy.Policy[c][tenancy.RoleAdmin] {
			t.Errorf("Policy: administrators may not %q", c)
		}
		if tenancy.Policy[c][tenancy.RoleMember] != memberMay[c] {
			t.Errorf("Policy: regular users %q = %v, want %v", c, tenancy.Policy[c][tenancy.RoleMember], memberMay[c])
		}
	}

	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		owner, _ := dbtest.User(t, db)
		admin := dbtest.Org(t, db, owner)
		u, _ := dbtest.User(t, db)
		member := dbtest.AddMember(t, db, admin, u, tenancy.RoleMember)
		scopes := map[tenancy.Role]tenancy.Scope{tenancy.RoleAdmin: admin, tenancy.RoleMember: member}
		for c, roles := range tenancy.Policy {
			for role, s := range scopes {
				if got := s.Can(c); got != roles[role] {
					t.Errorf("%s Can(%q) = %v, want %v", role, c, got, roles[role])
				}
			}
			if (tenancy.Scope{}).Can(c) {
				t.Errorf("a zero scope can %q", c)
			}
		}
		for _, s := range scopes {
			if s.Can("launch the rockets") {
				t.Error("a capability missing from Policy is granted")
			}
		}
	})
}

// auditFixture is two organizations with audit events in each, made the way
// the product makes them.
type auditFixture struct {
	a, b     tenancy.Scope
	aCount   int64
	bCount   int64
	aOwner   models.User
	personal tenancy.Scope
}

func newAuditFixture(t *testing.T, db *gorm.DB) auditFixture {
	t.Helper()
	ownerA, personal := dbtest.User(t, db)
	ownerB, _ := dbtest.User(t, db)
	a := dbtest.Org(t, db, ownerA)
	b := dbtest.Org(t, db, ownerB)
	rename := func(s tenancy.Scope, owner models.User, names ...string) tenancy.Scope {
		for _, name := range names {
			_, err := models.RenameOrganization(t.Context(), db, s, name, tenancy.Actor{UserID: owner.ID, Name: owner.Name, IP: "192.0.2.9"})
			dbtest.Must(t, err)
			s, err = tenancy.LoadScope(t.Context(), db, owner.ID, s.Account().PublicID)
			dbtest.Must(t, err)
		}
		return s
	}
	a = rename(a, ownerA, "Alpha One", "Alpha Two", "Alpha Three")
	b = rename(b, ownerB, "Bravo One")
	return auditFixture{a: a, b: b, aCount: 3, bCount: 1, aOwner: ownerA, personal: personal}
}

func TestScopedAuditEventsStayInTheirAccount(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newAuditFixture(t, db)
		memberUser, _ := dbtest.User(t, db)
		memberOfA := dbtest.AddMember(t, db, f.a, memberUser, tenancy.RoleMember)
		cases := []struct {
			label string
			scope tenancy.Scope
			want  int64
		}{
			{"A as admin", f.a, f.aCount},
			{"A as member", memberOfA, f.aCount},
			{"B", f.b, f.bCount},
			{"personal account of A's owner", f.personal, 0},
		}
		for _, c := range cases {
			t.Run(c.label, func(t *testing.T) {
				events, total, err := tenancy.ListAuditEvents(t.Context(), db, c.scope, tenancy.Page{Number: 1, Size: 50})
				dbtest.Must(t, err)
				if total != c.want || int64(len(events)) != c.want {
					t.Fatalf("total %d, listed %d, want %d", total, len(events), c.want)
				}
				for _, ev := range events {
					if ev.AccountID != c.scope.AccountID() {
						t.Errorf("event %d of account %d listed in account %d", ev.ID, ev.AccountID, c.scope.AccountID())
					}
				}
			})
		}

		// Newest first, paginated.
		events, total, err := tenancy.ListAuditEvents(t.Context(), db, f.a, tenancy.Page{Number: 1, Size: 2})
		dbtest.Must(t, err)
		if total != 3 || len(events) != 2 || events[0].Details != "renamed to Alpha Three" || events[1].Details != "renamed to Alpha Two" {
			t.Fatalf("page 1: total %d, %+v", total, events)
		}
		events, _, err = tenancy.ListAuditEvents(t.Context(), db, f.a, tenancy.Page{Number: 2, Size: 2})
		dbtest.Must(t, err)
		if len(events) != 1 || events[0].Details != "renamed to Alpha One" {
			t.Fatalf("page 2: %+v", events)
		}
	})
}

// TestUnscopedAccessToAccountOwnedTablesFails: every way of reaching
// audit_events without a scope is an error wrapping ErrUnscoped, never
// "all rows", and changes nothing.
func TestUnscopedAccessToAccountOwnedTablesFails(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newAuditFixture(t, db)
		aID := f.a.AccountID()
		cases := []struct {
			label string
			run   func() error
		}{
			{"Count", func() error { var n int64; return db.Model(&tenancy.AuditEvent{}).Count(&n).Error }},
			{"Count by table name", func() error { var n int64; return db.Table("audit_events").Count(&n).Error }},
			{"Find", func() error { return db.Find(&[]tenancy.AuditEvent{}).Error }},
			{"Find with a hand-written account filter", func() error {
				return db.Where("account_id = ?", aID).Find(&[]tenancy.AuditEvent{}).Error
			}},
			{"First", func() error { return db.First(&tenancy.AuditEvent{}).Error }},
			{"Take by ID", func() error { return db.Take(&tenancy.AuditEvent{}, 1).Error }},
			{"Pluck", func() error { var s []string; return db.Model(&tenancy.AuditEvent{}).Pluck("details", &s).Error }},
			{"Scan into a map", func() error { var m []map[string]any; return db.Table("audit_events").Find(&m).Error }},
			{"Rows", func() error {
				rows, err := db.Model(&tenancy.AuditEvent{}).Select("id").Rows()
				if rows != nil {
					_ = rows.Close()
				}
				return err
			}},
			{"Delete", func() error { return db.Where("1=1").Delete(&tenancy.AuditEvent{}).Error }},
			{"Delete by ID", func() error { return db.Delete(&tenancy.AuditEvent{}, 1).Error }},
			{"Update", func() error {
				return db.Model(&tenancy.AuditEvent{}).Where("1=1").Update("details", "tampered").Error
			}},
			{"Updates", func() error {
				return db.Model(&tenancy.AuditEvent{}).Where("account_id = ?", aID).Updates(map[string]any{"actor_name": "tampered"}).Error
			}},
			{"Create", func() error { return db.Create(&tenancy.AuditEvent{AccountID: aID, Action: "a"}).Error }},
			{"Create by table name", func() error {
				return db.Table("audit_events").Create(map[string]any{"account_id": aID, "action": "a", "created_at": dbtest.UTC()}).Error
			}},
			{"Create in a transaction", func() error {
				return db.Transaction(func(tx *gorm.DB) error {
					return tx.Create(&tenancy.AuditEvent{AccountID: aID, Action: "a"}).Error
				})
			}},
		}
		for _, c := range cases {
			t.Run(c.label, func(t *testing.T) {
				before := dbtest.CountAll(t, db)
				dbtest.WantIs(t, c.run(), tenancy.ErrUnscoped)
				dbtest.WantNothingWritten(t, db, before)
			})
		}
		// Nothing was tampered with either.
		if n := dbtest.CountRows(t, db, "audit_events", "details = ? OR actor_name = ?", "tampered", "tampered"); n != 0 {
			t.Fatalf("%d audit events were changed without a scope", n)
		}

		_, _, err := tenancy.ListAuditEvents(t.Context(), db, tenancy.Scope{}, tenancy.Page{Number: 1, Size: 20})
		dbtest.WantIs(t, err, tenancy.ErrUnscoped)
	})
}

// TestUnscopedAccessThroughOtherSpellingsFails: the guard recognises
// audit_events only when GORM's Statement.Table is exactly "audit_events".
// Every other way of naming the table in a GORM query must still fail, never
// return the rows of every account.
func TestUnscopedAccessThroughOtherSpellingsFails(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		newAuditFixture(t, db)
		count := func(table string) func() (int, error) {
			return func() (int, error) {
				var n int64
				err := db.Table(table).Count(&n).Error
				return int(n), err
			}
		}
		cases := []struct {
			label string
			run   func() (int, error)
		}{
			{"alias with AS", count("audit_events AS e")},
			{"alias without AS", count("audit_events e")},
			{"upper case (SQLite resolves it)", count("AUDIT_EVENTS")},
			{"pre-quoted (PostgreSQL resolves it)", count(`"audit_events"`)},
			{"joined from accounts", func() (int, error) {
				var rows []map[string]any
				err := db.Model(&tenancy.Account{}).Select("audit_events.details").
					Joins("JOIN audit_events ON audit_events.account_id = accounts.id").Find(&rows).Error
				return len(rows), err
			}},
		}
		for _, c := range cases {
			t.Run(c.label, func(t *testing.T) {
				n, err := c.run()
				if err == nil {
					t.Fatalf("unscoped query succeeded and read %d audit events across accounts; want an error wrapping ErrUnscoped", n)
				}
			})
		}
	})
}

// TestBatchInsertTakesTheScopesAccountOnEveryRow: rows inserted together
// through a scope all land in its account, whatever account each struct
// names; a slice must not carry the scope's account on its first row only.
func TestBatchInsertTakesTheScopesAccountOnEveryRow(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newAuditFixture(t, db)
		rows := []tenancy.AuditEvent{
			{AccountID: f.b.AccountID(), Action: "batch"},
			{AccountID: f.b.AccountID(), Action: "batch"},
			{AccountID: f.b.AccountID(), Action: "batch"},
		}
		err := f.a.Write(t.Context(), db, func(tx *gorm.DB) error { return f.a.Apply(tx).Create(&rows).Error })
		dbtest.Must(t, err)
		if n := dbtest.CountRows(t, db, "audit_events", "action = ? AND account_id = ?", "batch", f.b.AccountID()); n != 0 {
			t.Errorf("%d of a batch inserted through A's scope landed in B", n)
		}
		if n := dbtest.CountRows(t, db, "audit_events", "action = ? AND account_id = ?", "batch", f.a.AccountID()); n != 3 {
			t.Errorf("%d of 3 rows inserted through A's scope are in A", n)
		}
	})
}

// TestMembershipsOfAdmitOnlyTheUsersAccounts: the memberships read in one
// statement give a scope only in the user's own accounts: another
// account's ID, a made-up one, and an organization the user was removed
// from are ErrNotMember; the personal account is always there.
func TestMembershipsOfAdmitOnlyTheUsersAccounts(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newAuditFixture(t, db)
		member, _ := dbtest.User(t, db)
		in := dbtest.AddMember(t, db, f.a, member, tenancy.RoleMember)
		ms, err := tenancy.MembershipsOf(t.Context(), db, member.ID)
		dbtest.Must(t, err)
		s, err := ms.Scope(f.a.AccountID())
		dbtest.Must(t, err)
		if s.AccountID() != f.a.AccountID() || s.Role() != tenancy.RoleMember || s.UserID() != member.ID {
			t.Errorf("scope in A: account %d role %s user %d", s.AccountID(), s.Role(), s.UserID())
		}
		for _, id := range map[string]int64{"another organization": f.b.AccountID(), "a made-up account": 1 << 40, "no account": 0} {
			_, err := ms.Scope(id)
			dbtest.WantIs(t, err, tenancy.ErrNotMember)
		}
		if p, err := ms.Personal(); err != nil || !p.IsPersonal() {
			t.Errorf("personal scope %+v, %v", p, err)
		}
		if ms.CreatedOrganization {
			t.Error("a user who created no organization is said to have created one")
		}
		dbtest.Must(t, dbtest.Plain(t, db).Exec("DELETE FROM memberships WHERE account_id = ? AND user_id = ?", in.AccountID(), member.ID).Error)
		ms, err = tenancy.MembershipsOf(t.Context(), db, member.ID)
		dbtest.Must(t, err)
		_, err = ms.Scope(f.a.AccountID())
		dbtest.WantIs(t, err, tenancy.ErrNotMember)
		owner, err := tenancy.MembershipsOf(t.Context(), db, f.aOwner.ID)
		dbtest.Must(t, err)
		if !owner.CreatedOrganization || len(owner.Rows) != 2 {
			t.Errorf("A's owner: created an organization %v, %d accounts, want true and 2", owner.CreatedOrganization, len(owner.Rows))
		}
		_, err = tenancy.MembershipsOf(t.Context(), db, 0)
		dbtest.WantIs(t, err, tenancy.ErrNotMember)
	})
}
