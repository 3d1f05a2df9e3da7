package tenancy_test

import (
	"testing"

	"gorm.io/gorm"

	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

func TestSessionsAnOrganizationAdmits(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := t.Context()
		owner, personal := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		member, _ := dbtest.User(t, db)
		dbtest.AddMember(t, db, org, member, tenancy.RoleMember)
		other := dbtest.Org(t, db, member)
		scopes := func() (admin, regular, own tenancy.Scope) {
			t.Helper()
			admin, err := tenancy.LoadScope(ctx, db, owner.ID, org.Account().PublicID)
			dbtest.Must(t, err)
			regular, err = tenancy.LoadScope(ctx, db, member.ID, org.Account().PublicID)
			dbtest.Must(t, err)
			return admin, regular, personal
		}

		// Without enforcement, any session enters.
		admin, regular, own := scopes()
		for _, s := range []tenancy.Scope{admin, regular, own} {
			if !s.AdmitsSession(0) || !s.AdmitsSession(other.AccountID()) {
				t.Fatalf("%s without enforcement refuses a session", s.Account().Name)
			}
		}

		dbtest.Must(t, dbtest.Plain(t, db).Model(&tenancy.Account{}).Where("id = ?", org.AccountID()).Update("sso_enforced", true).Error)
		admin, regular, own = scopes()
		if !admin.AdmitsSession(0) {
			t.Error("enforcement locks an administrator out of the password way in")
		}
		if regular.AdmitsSession(0) || regular.AdmitsSession(other.AccountID()) {
			t.Error("a member signed in without the organization's IdP is admitted")
		}
		if !regular.AdmitsSession(org.AccountID()) {
			t.Error("a member signed in through the organization's IdP is refused")
		}
		if !own.AdmitsSession(0) {
			t.Error("a personal account refuses its owner")
		}
	})
}
