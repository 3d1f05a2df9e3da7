package demo_test

import (
	"testing"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/demo"
	"switchboard/models/tenancy"
)

func TestSeedDemo(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		seeded, ok, err := demo.SeedDemo(t.Context(), db)
		dbtest.Must(t, err)
		if !ok {
			t.Fatal("SeedDemo did nothing on an empty database")
		}
		if seeded.Email != demo.DemoEmail || len(seeded.Password) < models.PasswordMin {
			t.Fatalf("demo %+v", seeded)
		}
		owner, err := models.Authenticate(t.Context(), db, seeded.Email, seeded.Password)
		if err != nil {
			t.Fatalf("the demo password does not sign in: %v", err)
		}
		if !owner.Verified() {
			t.Error("the demo user is not verified")
		}
		_, err = models.Authenticate(t.Context(), db, seeded.Email, seeded.Password+"x")
		dbtest.WantIs(t, err, tenancy.ErrBadCredentials)

		dbtest.WantIndexCountsExact(t, db)
		want := map[string]int64{"users": 2, "accounts": 3, "memberships": 4}
		for table, n := range want {
			if got := dbtest.CountRows(t, db, table, ""); got != n {
				t.Errorf("%s: %d rows, want %d", table, got, n)
			}
		}

		var users []models.User
		dbtest.Must(t, dbtest.Plain(t, db).Where("id <> ?", owner.ID).Find(&users).Error)
		if len(users) != 1 {
			t.Fatalf("%d other users, want 1", len(users))
		}
		member := users[0]
		if !member.Verified() || member.Email == owner.Email {
			t.Errorf("second user %+v", member)
		}

		ownerAccounts, err := models.ListAccountsForUser(t.Context(), db, owner.ID)
		dbtest.Must(t, err)
		if len(ownerAccounts) != 2 || ownerAccounts[0].Kind != tenancy.KindPersonal || ownerAccounts[0].Role != tenancy.RoleAdmin {
			t.Fatalf("demo user's accounts %+v, want personal then the organization", ownerAccounts)
		}
		org := ownerAccounts[1]
		if org.Kind != tenancy.KindOrganization || org.Role != tenancy.RoleAdmin || org.Plan != tenancy.PlanDeveloper ||
			org.CreatedByID != owner.ID || org.Name != "Acme Video Labs" || org.SlugOrEmpty() != "acme-video-labs" {
			t.Errorf("demo organization %+v, want Acme Video Labs on Developer (upgraded in the demo's history), administered by the demo user", org)
		}
		memberAccounts, err := models.ListAccountsForUser(t.Context(), db, member.ID)
		dbtest.Must(t, err)
		if len(memberAccounts) != 2 || memberAccounts[1].ID != org.ID || memberAccounts[1].Role != tenancy.RoleMember {
			t.Fatalf("second user's accounts %+v, want personal then the organization as a member", memberAccounts)
		}
		scope, err := tenancy.LoadScope(t.Context(), db, owner.ID, org.PublicID)
		dbtest.Must(t, err)
		if n, err := models.MemberCount(t.Context(), db, scope); err != nil || n != 2 {
			t.Errorf("demo organization has %d members (%v), want 2", n, err)
		}

		// A second call does nothing.
		before := dbtest.CountAll(t, db)
		again, ok, err := demo.SeedDemo(t.Context(), db)
		dbtest.Must(t, err)
		if ok || again != (demo.Demo{}) {
			t.Fatalf("second SeedDemo: ok %v, %+v; want ok false and nothing", ok, again)
		}
		dbtest.WantNothingWritten(t, db, before)
		if _, err := models.Authenticate(t.Context(), db, seeded.Email, seeded.Password); err != nil {
			t.Fatalf("the second call changed the demo password: %v", err)
		}
	})
}

func TestSeedDemoLeavesAnyExistingUserAlone(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		dbtest.User(t, db)
		before := dbtest.CountAll(t, db)
		seeded, ok, err := demo.SeedDemo(t.Context(), db)
		dbtest.Must(t, err)
		if ok || seeded != (demo.Demo{}) {
			t.Fatalf("SeedDemo on a used database: ok %v, %+v", ok, seeded)
		}
		dbtest.WantNothingWritten(t, db, before)
		_, err = models.FindUserByEmail(t.Context(), db, demo.DemoEmail)
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
	})
}
