package models_test

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

var slugShape = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

func TestCreateOrganization(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, personal := dbtest.User(t, db)
		other, _ := dbtest.User(t, db)
		ok, err := models.CanCreateOrganization(t.Context(), db, u.ID)
		dbtest.Must(t, err)
		if !ok {
			t.Fatal("a new user may not create an organization")
		}

		acct, err := models.CreateOrganization(t.Context(), db, u.ID, "  Acme   Video Labs ")
		dbtest.Must(t, err)
		got := dbtest.ReloadAccount(t, db, acct.ID)
		if got.Kind != tenancy.KindOrganization || got.Plan != tenancy.PlanFree || got.CreatedByID != u.ID {
			t.Errorf("organization %+v, want kind organization, plan free, created by %d", got, u.ID)
		}
		if got.Name != "Acme Video Labs" {
			t.Errorf("name %q, want whitespace collapsed", got.Name)
		}
		if got.SlugOrEmpty() != "acme-video-labs" {
			t.Errorf("slug %q, want acme-video-labs", got.SlugOrEmpty())
		}
		if got.PublicID == "" || got.PublicID == personal.Account().PublicID {
			t.Errorf("public ID %q", got.PublicID)
		}
		if role := membershipRole(t, db, acct.ID, u.ID); role != tenancy.RoleAdmin {
			t.Errorf("creator's role %q, want admin", role)
		}
		if role := membershipRole(t, db, acct.ID, other.ID); role != "" {
			t.Errorf("another user became a member as %q", role)
		}
		if n := dbtest.CountRows(t, db, "memberships", "account_id = ?", acct.ID); n != 1 {
			t.Errorf("new organization has %d members, want 1", n)
		}
		if p := dbtest.ReloadAccount(t, db, personal.AccountID()); p.Kind != tenancy.KindPersonal || p.Name != u.Name {
			t.Errorf("personal account changed to %+v", p)
		}

		ok, err = models.CanCreateOrganization(t.Context(), db, u.ID)
		dbtest.Must(t, err)
		if ok {
			t.Error("CanCreateOrganization is still true after creating one")
		}
		ok, err = models.CanCreateOrganization(t.Context(), db, other.ID)
		dbtest.Must(t, err)
		if !ok {
			t.Error("another user's organization counts against a user who has none")
		}
	})
}

// TestCreateOrganizationSecondIsRefused: one organization per creator.
// Being a member of another organization does not count.
func TestCreateOrganizationSecondIsRefused(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, _ := dbtest.User(t, db)
		owner, _ := dbtest.User(t, db)
		dbtest.AddMember(t, db, dbtest.Org(t, db, owner), u, tenancy.RoleAdmin)
		if _, err := models.CreateOrganization(t.Context(), db, u.ID, "First Org"); err != nil {
			t.Fatalf("a member of another organization may not create their own: %v", err)
		}
		for _, name := range []string{"Second Org", "First Org"} {
			before := dbtest.CountAll(t, db)
			_, err := models.CreateOrganization(t.Context(), db, u.ID, name)
			dbtest.WantFields(t, err, "name")
			dbtest.WantNothingWritten(t, db, before)
		}
	})
}

func TestCreateOrganizationSlugs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, slug string
	}{
		{"Acme", "acme"},
		{"ACME", "acme-2"},
		{"acme!", "acme-3"},
		{"Acme 2", "acme-2-2"},
		{"Acme Video Labs", "acme-video-labs"},
		{"  Acme -- Video__Labs ", "acme-video-labs-2"},
		{"Café Zoë", "caf-zo"},
		{"X.", "x"},
		{"x!", "x-2"},
		{strings.Repeat("ab", 32), strings.Repeat("ab", 20)},
	}
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		for _, c := range cases {
			u, _ := dbtest.User(t, db)
			acct, err := models.CreateOrganization(t.Context(), db, u.ID, c.name)
			dbtest.Must(t, err)
			if got := dbtest.ReloadAccount(t, db, acct.ID).SlugOrEmpty(); got != c.slug {
				t.Errorf("organization %q got slug %q, want %q", c.name, got, c.slug)
			}
		}
	})
}

// TestCreateOrganizationNonLatinSlugs: names without ASCII letters still get
// a usable slug, and two such organizations do not collide.
func TestCreateOrganizationNonLatinSlugs(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		seen := map[string]string{}
		for _, name := range []string{"Владимир Набоков", "李小龙", "東京 ラボ", "Ωμέγα"} {
			u, _ := dbtest.User(t, db)
			acct, err := models.CreateOrganization(t.Context(), db, u.ID, name)
			dbtest.Must(t, err)
			slug := dbtest.ReloadAccount(t, db, acct.ID).SlugOrEmpty()
			if !slugShape.MatchString(slug) {
				t.Errorf("organization %q got slug %q, not lower-case ASCII words joined by hyphens", name, slug)
			}
			if prev, dup := seen[slug]; dup {
				t.Errorf("organizations %q and %q share slug %q", prev, name, slug)
			}
			seen[slug] = name
			if acct.Name != name {
				t.Errorf("name stored as %q, want %q", acct.Name, name)
			}
		}
	})
}

func TestCreateOrganizationRefusesBadNames(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"empty":                 "",
		"whitespace only":       " \t\n ",
		"1 character":           "A",
		"1 character, padded":   "  A  ",
		"1 non-Latin character": "李",
		"65 characters":         strings.Repeat("a", 65),
		"65 multi-byte":         strings.Repeat("ж", 65),
		"NUL":                   "Acme\x00Labs",
		"escape":                "Acme\x1b[31m",
	}
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, _ := dbtest.User(t, db)
		for label, name := range cases {
			t.Run(label, func(t *testing.T) {
				before := dbtest.CountAll(t, db)
				_, err := models.CreateOrganization(t.Context(), db, u.ID, name)
				dbtest.WantFields(t, err, "name")
				dbtest.WantNothingWritten(t, db, before)
			})
		}
		ok, err := models.CanCreateOrganization(t.Context(), db, u.ID)
		dbtest.Must(t, err)
		if !ok {
			t.Fatal("refused names used up the user's one organization")
		}
	})
}

func TestCreateOrganizationAcceptsBoundaryNames(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		for _, name := range []string{"AB", strings.Repeat("a", 64), strings.Repeat("ж", 64), "  " + strings.Repeat("b", 64) + "  "} {
			u, _ := dbtest.User(t, db)
			if _, err := models.CreateOrganization(t.Context(), db, u.ID, name); err != nil {
				t.Errorf("name of %d characters refused: %v", len([]rune(strings.TrimSpace(name))), err)
			}
		}
	})
}

// TestCreateOrganizationConcurrentlyBySameUser: the one-organization rule
// holds when several requests race (the database's unique index settles it).
func TestCreateOrganizationConcurrentlyBySameUser(t *testing.T) {
	t.Parallel()
	const n = 8
	for _, sameName := range []bool{false, true} {
		t.Run(fmt.Sprintf("same name %v", sameName), func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
				u, _ := dbtest.User(t, db)
				start := make(chan struct{})
				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range n {
					name := fmt.Sprintf("Race Org %d", i)
					if sameName {
						name = "Race Org"
					}
					wg.Go(func() {
						<-start
						_, errs[i] = models.CreateOrganization(t.Context(), db, u.ID, name)
					})
				}
				close(start)
				wg.Wait()
				succeeded := 0
				for i, err := range errs {
					if err == nil {
						succeeded++
						continue
					}
					if fe, ok := tenancy.AsFieldErrors(err); !ok || fe["name"] == "" {
						t.Errorf("call %d: %v, want success or FieldErrors on name", i, err)
					}
				}
				if succeeded != 1 {
					t.Errorf("%d calls succeeded, want exactly 1", succeeded)
				}
				orgs := dbtest.CountRows(t, db, "accounts", "created_by_id = ? AND kind = ?", u.ID, tenancy.KindOrganization)
				if orgs != 1 {
					t.Fatalf("user created %d organizations, want exactly 1", orgs)
				}
				if m := dbtest.CountRows(t, db, "memberships", "user_id = ?", u.ID); m != 2 {
					t.Fatalf("user has %d memberships, want personal + one organization", m)
				}
			})
		})
	}
}

// TestCreateOrganizationConcurrentlySameNameByDifferentUsers: users who
// never created an organization each get theirs when they pick the same
// name at the same moment; the slug race must not be reported as the
// one-organization limit.
func TestCreateOrganizationConcurrentlySameNameByDifferentUsers(t *testing.T) {
	t.Parallel()
	const n = 8
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		for round := range 5 {
			users := make([]models.User, n)
			for i := range users {
				users[i], _ = dbtest.User(t, db)
			}
			name := fmt.Sprintf("Popular Name %c", 'a'+round)
			start := make(chan struct{})
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					_, errs[i] = models.CreateOrganization(t.Context(), db, users[i].ID, name)
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("round %d: user %d, who has no organization, could not create %q: %v", round, i, name, err)
				}
			}
			if got := dbtest.CountRows(t, db, "accounts", "name = ?", name); got != n {
				t.Fatalf("%d organizations named %q, want %d", got, name, n)
			}
		}
	})
}

func TestListAccountsForUser(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		u, personal := dbtest.User(t, db)
		mk := func(name string) tenancy.Scope {
			owner, _ := dbtest.User(t, db)
			acct, err := models.CreateOrganization(t.Context(), db, owner.ID, name)
			dbtest.Must(t, err)
			s, err := tenancy.LoadScope(t.Context(), db, owner.ID, acct.PublicID)
			dbtest.Must(t, err)
			return s
		}
		banana := mk("Banana")
		apple := mk("apple")
		cherry := mk("Cherry")
		mk("Aardvark") // u is not a member
		dbtest.AddMember(t, db, banana, u, tenancy.RoleMember)
		dbtest.AddMember(t, db, apple, u, tenancy.RoleAdmin)
		dbtest.AddMember(t, db, cherry, u, tenancy.RoleMember)
		own, err := models.CreateOrganization(t.Context(), db, u.ID, "zebra")
		dbtest.Must(t, err)

		got, err := models.ListAccountsForUser(t.Context(), db, u.ID)
		dbtest.Must(t, err)
		want := []struct {
			id   int64
			name string
			kind tenancy.AccountKind
			role tenancy.Role
		}{
			{personal.AccountID(), u.Name, tenancy.KindPersonal, tenancy.RoleAdmin},
			{apple.AccountID(), "apple", tenancy.KindOrganization, tenancy.RoleAdmin},
			{banana.AccountID(), "Banana", tenancy.KindOrganization, tenancy.RoleMember},
			{cherry.AccountID(), "Cherry", tenancy.KindOrganization, tenancy.RoleMember},
			{own.ID, "zebra", tenancy.KindOrganization, tenancy.RoleAdmin},
		}
		if len(got) != len(want) {
			t.Fatalf("listed %d accounts, want %d: %+v", len(got), len(want), got)
		}
		for i, w := range want {
			g := got[i]
			if g.ID != w.id || g.Name != w.name || g.Kind != w.kind || g.Role != w.role || g.PublicID == "" {
				t.Errorf("row %d: %d %q %s %s, want %d %q %s %s", i, g.ID, g.Name, g.Kind, g.Role, w.id, w.name, w.kind, w.role)
			}
		}

		// A user with only a personal account sees only it; an unknown
		// user sees nothing.
		loner, lonerPersonal := dbtest.User(t, db)
		got, err = models.ListAccountsForUser(t.Context(), db, loner.ID)
		dbtest.Must(t, err)
		if len(got) != 1 || got[0].ID != lonerPersonal.AccountID() || got[0].Role != tenancy.RoleAdmin {
			t.Errorf("a user with one account lists %+v", got)
		}
		got, err = models.ListAccountsForUser(t.Context(), db, 987654)
		dbtest.Must(t, err)
		if len(got) != 0 {
			t.Errorf("an unknown user lists %+v", got)
		}
	})
}

func TestRenameOrganization(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		owner, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		oldName := org.Account().Name
		actor := tenancy.Actor{UserID: owner.ID, Name: owner.Name, IP: "203.0.113.7"}

		acct, err := models.RenameOrganization(t.Context(), db, org, "  New \t  Name  ", actor)
		dbtest.Must(t, err)
		if acct.Name != "New Name" || acct.ID != org.AccountID() {
			t.Errorf("returned %+v, want the organization named %q", acct, "New Name")
		}
		if got := dbtest.ReloadAccount(t, db, org.AccountID()); got.Name != "New Name" || got.SlugOrEmpty() != org.Account().SlugOrEmpty() {
			t.Errorf("stored %+v, want the name changed and the slug kept", got)
		}
		events, total, err := tenancy.ListAuditEvents(t.Context(), db, org, tenancy.Page{Number: 1, Size: 20})
		dbtest.Must(t, err)
		if total != 1 || len(events) != 1 {
			t.Fatalf("%d audit events (%d listed), want 1", total, len(events))
		}
		ev := events[0]
		if ev.Action != "organization.renamed" {
			t.Errorf("action %q", ev.Action)
		}
		if ev.AccountID != org.AccountID() || ev.ActorName != owner.Name || ev.IP != "203.0.113.7" ||
			ev.ActorUserID == nil || *ev.ActorUserID != owner.ID || ev.CreatedAt.IsZero() {
			t.Errorf("audit event %+v, want account %d, actor %q (%d), IP 203.0.113.7", ev, org.AccountID(), owner.Name, owner.ID)
		}
		if ev.Target != oldName || !strings.Contains(ev.Details, "New Name") {
			t.Errorf("audit event target %q details %q, want the old name and the new one", ev.Target, ev.Details)
		}

		// Renaming to the current name (after collapsing whitespace) changes
		// nothing and records nothing.
		fresh, err := tenancy.LoadScope(t.Context(), db, owner.ID, org.Account().PublicID)
		dbtest.Must(t, err)
		before := dbtest.CountAll(t, db)
		acct, err = models.RenameOrganization(t.Context(), db, fresh, " New  Name ", actor)
		dbtest.Must(t, err)
		if acct.Name != "New Name" {
			t.Errorf("returned name %q", acct.Name)
		}
		dbtest.WantNothingWritten(t, db, before)
	})
}

// TestRenameOrganizationWithStaleScope: the scope carries a snapshot of the
// account; renaming back to the snapshot's name after another rename must
// still rename.
func TestRenameOrganizationWithStaleScope(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		owner, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		oldName := org.Account().Name
		actor := tenancy.Actor{UserID: owner.ID, Name: owner.Name}
		// Another request (another admin) renames the organization.
		other, err := tenancy.LoadScope(t.Context(), db, owner.ID, org.Account().PublicID)
		dbtest.Must(t, err)
		_, err = models.RenameOrganization(t.Context(), db, other, "Changed Elsewhere", actor)
		dbtest.Must(t, err)
		// This request, whose scope was loaded before, names it back.
		acct, err := models.RenameOrganization(t.Context(), db, org, oldName, actor)
		dbtest.Must(t, err)
		if got := dbtest.ReloadAccount(t, db, org.AccountID()).Name; got != oldName || acct.Name != oldName {
			t.Fatalf("RenameOrganization returned name %q and no error, but the organization is named %q; want %q", acct.Name, got, oldName)
		}
	})
}

func TestRenameOrganizationRefusals(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		owner, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		memberUser, memberPersonal := dbtest.User(t, db)
		member := dbtest.AddMember(t, db, org, memberUser, tenancy.RoleMember)
		_, ownerPersonal := dbtest.User(t, db)
		actor := tenancy.Actor{UserID: owner.ID, Name: owner.Name, IP: "198.51.100.1"}

		cases := []struct {
			label string
			scope tenancy.Scope
			name  string
			check func(t *testing.T, err error)
		}{
			// The role is checked first, then the kind, then the name.
			{"member", member, "Member Was Here", func(t *testing.T, err error) { dbtest.WantIs(t, err, tenancy.ErrForbidden) }},
			{"member, bad name", member, "", func(t *testing.T, err error) { dbtest.WantIs(t, err, tenancy.ErrForbidden) }},
			{"personal account", memberPersonal, "Renamed Personal", func(t *testing.T, err error) { dbtest.WantIs(t, err, tenancy.ErrNotFound) }},
			{"another personal account", ownerPersonal, "Renamed Personal", func(t *testing.T, err error) { dbtest.WantIs(t, err, tenancy.ErrNotFound) }},
			{"personal account, bad name", memberPersonal, "", func(t *testing.T, err error) { dbtest.WantIs(t, err, tenancy.ErrNotFound) }},
			{"zero scope", tenancy.Scope{}, "Nobody's Name", func(t *testing.T, err error) { dbtest.WantIs(t, err, tenancy.ErrUnscoped) }},
			{"empty name", org, "", func(t *testing.T, err error) { dbtest.WantFields(t, err, "name") }},
			{"whitespace name", org, "   ", func(t *testing.T, err error) { dbtest.WantFields(t, err, "name") }},
			{"1 character", org, "Z", func(t *testing.T, err error) { dbtest.WantFields(t, err, "name") }},
			{"65 characters", org, strings.Repeat("z", 65), func(t *testing.T, err error) { dbtest.WantFields(t, err, "name") }},
			{"control character", org, "Bad\x07Name", func(t *testing.T, err error) { dbtest.WantFields(t, err, "name") }},
		}
		for _, c := range cases {
			t.Run(c.label, func(t *testing.T) {
				before := dbtest.CountAll(t, db)
				_, err := models.RenameOrganization(t.Context(), db, c.scope, c.name, actor)
				c.check(t, err)
				dbtest.WantNothingWritten(t, db, before)
				if got := dbtest.ReloadAccount(t, db, org.AccountID()).Name; got != org.Account().Name {
					t.Errorf("organization renamed to %q", got)
				}
				if got := dbtest.ReloadAccount(t, db, memberPersonal.AccountID()).Name; got != memberUser.Name {
					t.Errorf("personal account renamed to %q", got)
				}
			})
		}
	})
}

func TestMemberCount(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		owner, personal := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		otherOwner, _ := dbtest.User(t, db)
		otherOrg := dbtest.Org(t, db, otherOwner)
		a, _ := dbtest.User(t, db)
		b, _ := dbtest.User(t, db)
		memberScope := dbtest.AddMember(t, db, org, a, tenancy.RoleMember)
		dbtest.AddMember(t, db, org, b, tenancy.RoleAdmin)
		dbtest.AddMember(t, db, otherOrg, a, tenancy.RoleMember)

		cases := []struct {
			label string
			scope tenancy.Scope
			want  int64
		}{
			{"organization, as admin", org, 3},
			{"organization, as member", memberScope, 3},
			{"other organization", otherOrg, 2},
			{"personal account", personal, 1},
		}
		for _, c := range cases {
			n, err := models.MemberCount(t.Context(), db, c.scope)
			dbtest.Must(t, err)
			if n != c.want {
				t.Errorf("%s: %d members, want %d", c.label, n, c.want)
			}
		}
		_, err := models.MemberCount(t.Context(), db, tenancy.Scope{})
		dbtest.WantIs(t, err, tenancy.ErrUnscoped)
	})
}
