package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
	"switchboard/views/paths"
)

// apiStatus is what the platform API answers a key.
func apiStatus(t testing.TB, app *testApp, key string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, app.srv.URL+paths.APIIndexes(), nil)
	req.Header.Set("x-api-key", key)
	return app.client().do(req).Code
}

// switcherNames are the accounts the profile menu offers.
func switcherNames(t testing.TB, r *response) string {
	t.Helper()
	return r.doc().Find(`[data-testid="account-switcher"] button[name="account_id"]`).Text()
}

// The acceptance path: the IdP provisions someone, they sign in through
// it and make a key, the IdP deprovisions them: the key answers 401 and
// the organization is gone from their switcher; their personal account
// and its key are untouched.
func TestSCIMProvisionSignInDeprovision(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := newSCIMEnv(t, app)
		orgName := env.org.Account().Name
		id := env.provision(t, "alice@example.com", "Alice", "Liddell")

		env.idp.AddUser("alice", "alice@example.com", "Alice", "Liddell")
		c := app.client()
		ssoSignIn(t, c, env.idp, paths.SSOLogin(env.org.Account().SlugOrEmpty()), "alice").redirectsTo("/")
		home := c.get("/").status(http.StatusOK)
		if got := activeAccount(t, home); got != orgName {
			t.Fatalf("active account %q after signing in through the IdP", got)
		}
		created := c.post(paths.APIKeys(), url.Values{"name": {"laptop"}}).status(http.StatusOK)
		orgKey := strings.TrimSpace(created.doc().Find("#new-api-key").Text())
		if apiStatus(t, app, orgKey) != http.StatusOK {
			t.Fatal("the organization key does not work before deprovisioning")
		}
		alice := userByEmail(t, db, "alice@example.com")
		personal, err := tenancy.PersonalScope(t.Context(), db, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		personalKey, err := models.CreateAPIKey(t.Context(), db, personal, "mine", models.DefaultAPIKeyTTL)
		if err != nil {
			t.Fatal(err)
		}

		// Okta deactivates her.
		app.scim(t, env.token, http.MethodPatch, paths.SCIMUser(id), map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []map[string]any{{"op": "replace", "value": map[string]any{"active": false}}},
		}).status(http.StatusOK)

		if got := apiStatus(t, app, orgKey); got != http.StatusUnauthorized {
			t.Fatalf("the organization key answers %d after deprovisioning", got)
		}
		if got := apiStatus(t, app, personalKey.Secret); got != http.StatusOK {
			t.Fatalf("the personal key answers %d: the personal account was touched", got)
		}
		after := c.follow("/").status(http.StatusOK)
		if got := activeAccount(t, after); got == orgName {
			t.Fatal("still in the organization after deprovisioning")
		}
		if names := switcherNames(t, after); strings.Contains(names, orgName) {
			t.Fatalf("the organization is still in the switcher: %s", names)
		}
		// The removal is in the audit log, by SCIM.
		var ev tenancy.AuditEvent
		dbtest.Plain(t, db).Raw("SELECT * FROM audit_events WHERE account_id = ? AND action = ?", env.org.AccountID(), models.AuditRemoved).Scan(&ev)
		if ev.ActorName != "SCIM" || ev.ActorUserID != nil {
			t.Fatalf("removal audited as %+v", ev)
		}

		// Reactivation restores the membership, not the old key.
		app.scim(t, env.token, http.MethodPatch, paths.SCIMUser(id), map[string]any{
			"Operations": []map[string]any{{"op": "replace", "value": map[string]any{"active": true}}},
		}).status(http.StatusOK)
		if _, ok := membership(t, db, env.org, alice.ID); !ok {
			t.Fatal("reactivation did not restore the membership")
		}
		if got := apiStatus(t, app, orgKey); got != http.StatusUnauthorized {
			t.Fatalf("the revoked key answers %d after reactivation", got)
		}
		if names := switcherNames(t, c.follow("/")); !strings.Contains(names, orgName) {
			t.Fatalf("the organization is not back in the switcher: %s", names)
		}
	})
}

// Administrators cannot change or remove a member the IdP manages; the
// members page says so. Their own unmanaged members stay theirs.
func TestSCIMManagedMembersAreNotChangedByHand(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := newSCIMEnv(t, app)
		env.provision(t, "bo@example.com", "Bo", "Peep")
		bo := userByEmail(t, db, "bo@example.com")
		page := env.ac.get(paths.Members()).status(http.StatusOK)
		row := page.doc().Find(`tr[data-member="` + bo.PublicID + `"]`)
		if row.Find(`[data-testid="scim-managed"]`).Length() != 1 {
			t.Fatal("the provisioned member is not marked")
		}
		if row.Find(`form[action$="/role"]`).Length() != 0 || row.Find(`a[href$="/remove"]`).Length() != 0 {
			t.Fatal("the page offers to change a provisioned member")
		}
		env.ac.post(paths.MemberRole(bo.PublicID), url.Values{"role": {"admin"}}, paths.Members()).status(http.StatusConflict).contains("identity provider")
		env.ac.post(paths.RemoveMember(bo.PublicID), nil, paths.Members()).status(http.StatusConflict)
		if m, ok := membership(t, db, env.org, bo.ID); !ok || m.Role != tenancy.RoleMember {
			t.Fatalf("membership after refused changes: %+v, %v", m, ok)
		}
		// Nor do they leave by hand: the IdP would still call them active.
		env.idp.AddUser("bo", "bo@example.com", "Bo", "Peep")
		bc := app.client()
		ssoSignIn(t, bc, env.idp, paths.SSOLogin(env.org.Account().SlugOrEmpty()), "bo").redirectsTo("/")
		bc.get(paths.OrganizationSettings()).status(http.StatusOK).contains("identity provider manages your membership")
		bc.post(paths.LeaveOrganization(), nil, paths.OrganizationSettings()).status(http.StatusConflict)
		if _, ok := membership(t, db, env.org, bo.ID); !ok {
			t.Fatal("a managed member left by hand")
		}
	})
}

// The last administrator stays, whoever asks: SCIM may not deactivate the
// organization's only administrator after taking their membership over.
func TestSCIMKeepsTheLastAdministrator(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := newSCIMEnv(t, app)
		id := env.provision(t, env.admin.Email, "Only", "Admin")
		app.scim(t, env.token, http.MethodPatch, paths.SCIMUser(id), patch(op("replace", "active", false))).scimError(http.StatusBadRequest, "mutability")
		app.scim(t, env.token, http.MethodDelete, paths.SCIMUser(id), nil).scimError(http.StatusBadRequest, "mutability")
		if m, ok := membership(t, db, env.org, env.admin.ID); !ok || m.Role != tenancy.RoleAdmin {
			t.Fatalf("the last administrator lost their membership: %+v, %v", m, ok)
		}
	})
}

// A token sees and touches its own organization's users only.
func TestSCIMTokenActsInItsOrganizationOnly(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		a := newSCIMEnv(t, app)
		b := newSCIMEnvAt(t, app, "b.example")
		bID := b.provision(t, "bea@b.example", "Bea", "B")
		bea := userByEmail(t, db, "bea@b.example")

		app.scim(t, a.token, http.MethodGet, paths.SCIMUser(bID), nil).scimError(http.StatusNotFound, "")
		app.scim(t, a.token, http.MethodPut, paths.SCIMUser(bID), map[string]any{"userName": "bea@b.example", "active": false}).scimError(http.StatusNotFound, "")
		app.scim(t, a.token, http.MethodPatch, paths.SCIMUser(bID), patch(op("replace", "active", false))).scimError(http.StatusNotFound, "")
		app.scim(t, a.token, http.MethodDelete, paths.SCIMUser(bID), nil).scimError(http.StatusNotFound, "")
		q := url.Values{"filter": {`userName eq "bea@b.example"`}}
		if n := app.scim(t, a.token, http.MethodGet, paths.SCIMUsers()+"?"+q.Encode(), nil).status(http.StatusOK).total(); n != 0 {
			t.Fatalf("org A's token lists %d of org B's users", n)
		}
		if n := app.scim(t, a.token, http.MethodGet, paths.SCIMUsers(), nil).status(http.StatusOK).total(); n != 0 {
			t.Fatalf("org A's token lists %d users", n)
		}
		// Org B's group is invisible too, and org B's users cannot join A's groups.
		g := app.scim(t, b.token, http.MethodPost, paths.SCIMGroups(), map[string]any{"displayName": "B team"}).status(http.StatusCreated)
		app.scim(t, a.token, http.MethodGet, paths.SCIMGroup(g.str("id")), nil).scimError(http.StatusNotFound, "")
		ga := app.scim(t, a.token, http.MethodPost, paths.SCIMGroups(), map[string]any{"displayName": "A team"}).status(http.StatusCreated)
		app.scim(t, a.token, http.MethodPatch, paths.SCIMGroup(ga.str("id")), patch(op("add", "members", []map[string]any{{"value": bID}}))).
			scimError(http.StatusBadRequest, "invalidValue")
		// A cannot take Bea in (B proved her domain); once A invites her by
		// hand, provisioning her in A makes a record of A's, and
		// deprovisioning there leaves B's untouched.
		app.scim(t, a.token, http.MethodPost, paths.SCIMUsers(), map[string]any{"userName": "bea@b.example"}).scimError(http.StatusBadRequest, "invalidValue")
		dbtest.AddMember(t, db, a.org, bea, tenancy.RoleMember)
		aID := a.provision(t, "bea@b.example", "Bea", "B")
		if aID == bID {
			t.Fatal("two organizations share a SCIM id")
		}
		app.scim(t, a.token, http.MethodDelete, paths.SCIMUser(aID), nil).status(http.StatusNoContent)
		if _, ok := membership(t, db, b.org, bea.ID); !ok {
			t.Fatal("deprovisioning in A removed her from B")
		}
		app.scim(t, b.token, http.MethodGet, paths.SCIMUser(bID), nil).status(http.StatusOK)
	})
}

// SCIM requests draw from the organization's API budget and count in its
// usage as their own category, once answered: a 200, a 404 and a 400
// count; a 500 (the database refuses the new user) and a 429 do not.
func TestSCIMIsRateLimitedAndCounted(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := newSCIMEnv(t, app)
		if err := dbtest.Plain(t, db).Exec("UPDATE accounts SET rate_per_minute = 5 WHERE id = ?", env.org.AccountID()).Error; err != nil {
			t.Fatal(err)
		}
		earlyInAMinute()
		app.scim(t, env.token, http.MethodGet, paths.SCIMUsers(), nil).status(http.StatusOK)
		app.scim(t, env.token, http.MethodGet, paths.SCIMUser("0123456789abcdef01234567"), nil).scimError(http.StatusNotFound, "")
		app.scim(t, env.token, http.MethodGet, paths.SCIMUsers()+"?filter=nonsense", nil).scimError(http.StatusBadRequest, "invalidFilter")
		dbtest.FailOn(t, db, "INSERT", "users")
		app.scim(t, env.token, http.MethodPost, paths.SCIMUsers(), map[string]any{"userName": "ada@example.com"}).scimError(http.StatusInternalServerError, "")
		app.scim(t, env.token, http.MethodGet, paths.SCIMUsers(), nil).status(http.StatusOK)
		r := app.scim(t, env.token, http.MethodGet, paths.SCIMUsers(), nil).scimError(http.StatusTooManyRequests, "")
		if r.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
		if err := app.usage.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		var n int64
		dbtest.Plain(t, db).Raw("SELECT COALESCE(SUM(quantity), 0) FROM usage_daily WHERE account_id = ? AND category = 'scim'", env.org.AccountID()).Scan(&n)
		if n != 4 {
			t.Fatalf("%d SCIM requests counted, want 4 (not the 500, not the 429)", n)
		}
		env.ac.get(paths.Usage()).status(http.StatusOK).contains("scim")
	})
}
