package handlers_test

import (
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// lastRelease is the schema version of the release before the walls
// between accounts moved into the database.
const lastRelease = 9

// A database made by the last release migrates to this one with its data,
// keeps each account's data its own, and passes the isolation checks.
func TestUpgradeFromTheLastRelease(t *testing.T) {
	t.Parallel()
	dbtest.EachAt(t, lastRelease, func(t *testing.T, db *gorm.DB) {
		plain := dbtest.Plain(t, db)
		at := time.Now().UTC().Truncate(time.Microsecond)
		insert := func(q string, args ...any) int64 {
			t.Helper()
			var id int64
			if err := plain.Raw(q+" RETURNING id", args...).Scan(&id).Error; err != nil {
				t.Fatal(err)
			}
			return id
		}
		exec := func(q string, args ...any) {
			t.Helper()
			if err := plain.Exec(q, args...).Error; err != nil {
				t.Fatal(err)
			}
		}
		user := func(name, email string) (int64, int64) {
			u := insert("INSERT INTO users (public_id, name, email, password_hash, email_verified_at, created_at, updated_at) VALUES (?, ?, ?, '', ?, ?, ?)",
				dbtest.Unique("u-"), name, email, at, at, at)
			a := insert("INSERT INTO accounts (public_id, kind, name, plan, created_by_id, created_at, updated_at) VALUES (?, 'personal', ?, 'free', ?, ?, ?)",
				dbtest.Unique("a-"), name, u, at, at)
			exec("INSERT INTO memberships (account_id, user_id, role, created_at) VALUES (?, ?, 'admin', ?)", a, u, at)
			return u, a
		}
		index := func(account, creator int64, name, visibility string) string {
			id := dbtest.Unique("idx")
			scope := int64(0)
			if visibility == "private" {
				scope = creator
			}
			exec(`INSERT INTO indexes (public_id, account_id, name, name_key, marengo_options, visibility, name_scope, created_by_id, created_at, updated_at)
				VALUES (?, ?, ?, LOWER(?), 'visual', ?, ?, ?, ?, ?)`, id, account, name, name, visibility, scope, creator, at, at)
			return id
		}
		ada, adaPersonal := user("Ada Lovelace", dbtest.Unique("ada")+"@example.com")
		bob, _ := user("Bob Babbage", dbtest.Unique("bob")+"@example.com")
		org := insert("INSERT INTO accounts (public_id, kind, name, slug, plan, created_by_id, created_at, updated_at) VALUES (?, 'organization', 'Engines', ?, 'free', ?, ?, ?)",
			dbtest.Unique("o-"), dbtest.Unique("engines"), ada, at, at)
		exec("INSERT INTO memberships (account_id, user_id, role, created_at) VALUES (?, ?, 'admin', ?), (?, ?, 'member', ?)", org, ada, at, org, bob, at)
		shared := index(org, ada, "Shared", "account")
		private := index(org, bob, "Bob's drafts", "private")
		personal := index(adaPersonal, ada, "Ada's notes", "account")

		if err := tenancy.Migrate(t.Context(), db); err != nil {
			t.Fatalf("migrating the last release's database: %v", err)
		}

		ctx := t.Context()
		adaOrg, err := tenancy.ScopeForSession(ctx, db, ada, org)
		if err != nil {
			t.Fatal(err)
		}
		bobOrg, err := tenancy.ScopeForSession(ctx, db, bob, org)
		if err != nil {
			t.Fatal(err)
		}
		adaHome, err := tenancy.PersonalScope(ctx, db, ada)
		if err != nil {
			t.Fatal(err)
		}
		sees := func(s tenancy.Scope, id string) bool {
			_, err := models.GetIndex(ctx, db, s, id)
			return err == nil
		}
		for _, c := range []struct {
			who   string
			scope tenancy.Scope
			index string
			want  bool
		}{
			{"Ada in Engines, the shared index", adaOrg, shared, true},
			{"Bob in Engines, the shared index", bobOrg, shared, true},
			{"Bob, his private index", bobOrg, private, true},
			{"Ada, Bob's private index", adaOrg, private, false},
			{"Ada in Engines, her personal index", adaOrg, personal, false},
			{"Ada at home, her personal index", adaHome, personal, true},
			{"Ada at home, the organization's index", adaHome, shared, false},
		} {
			if got := sees(c.scope, c.index); got != c.want {
				t.Errorf("%s: sees %v, want %v", c.who, got, c.want)
			}
		}
		if n, err := models.MemberCount(ctx, db, adaOrg); err != nil || n != 2 {
			t.Fatalf("Engines has %d members after the upgrade (%v)", n, err)
		}
		isolationMatrix(t, db)
	})
}
