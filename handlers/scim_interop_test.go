package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gorm.io/gorm"

	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
	"switchboard/views/paths"
)

// The request shapes below are the ones Okta's and Microsoft Entra ID's
// SCIM clients send (their provisioning documentation and validators),
// byte for byte apart from identifiers.

func TestSCIMOktaRequestShapes(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := newSCIMEnv(t, app)
		// Okta looks the user up before creating them: no match is a list
		// with totalResults 0.
		lookup := paths.SCIMUsers() + "?filter=" + url.QueryEscape(`userName eq "isaac.brock@example.com"`) + "&startIndex=1&count=100"
		if n := app.scim(t, env.token, http.MethodGet, lookup, nil).status(http.StatusOK).total(); n != 0 {
			t.Fatalf("%d results before the user exists", n)
		}
		created := app.scim(t, env.token, http.MethodPost, paths.SCIMUsers(), `{
			"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
			"userName": "isaac.brock@example.com",
			"name": {"givenName": "Isaac", "familyName": "Brock"},
			"emails": [{"primary": true, "value": "isaac.brock@example.com", "type": "work"}],
			"displayName": "Isaac Brock",
			"locale": "en-US",
			"externalId": "00ujl29u0le5T6Aj10h7",
			"groups": [],
			"password": "1mz050nq",
			"active": true
		}`).status(http.StatusCreated)
		id := created.str("id")
		found := app.scim(t, env.token, http.MethodGet, lookup, nil).status(http.StatusOK)
		if found.total() != 1 || found.JSON["Resources"].([]any)[0].(map[string]any)["id"] != id {
			t.Fatalf("lookup after create: %s", found.Body)
		}
		// A profile push is a PUT of the whole user.
		app.scim(t, env.token, http.MethodPut, paths.SCIMUser(id), `{
			"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
			"id": "`+id+`",
			"userName": "isaac.brock@example.com",
			"name": {"givenName": "Isaac", "familyName": "Brock-Smith"},
			"emails": [{"primary": true, "value": "isaac.brock@example.com", "type": "work"}],
			"active": true,
			"groups": [],
			"meta": {"resourceType": "User"}
		}`).status(http.StatusOK)
		if u := userByEmail(t, db, "isaac.brock@example.com"); u.Name != "Isaac Brock-Smith" {
			t.Fatalf("name after PUT: %q", u.Name)
		}
		// Deactivation: a path-less replace of {"active": false}.
		isaac := userByEmail(t, db, "isaac.brock@example.com")
		app.scim(t, env.token, http.MethodPatch, paths.SCIMUser(id), `{
			"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
			"Operations": [{"op": "replace", "value": {"active": false}}]
		}`).status(http.StatusOK)
		if _, ok := membership(t, db, env.org, isaac.ID); ok {
			t.Fatal("Okta's deactivation left the membership")
		}
		if got := app.scim(t, env.token, http.MethodGet, paths.SCIMUser(id), nil).status(http.StatusOK); got.JSON["active"] != false {
			t.Fatalf("after deactivation: %s", got.Body)
		}
		app.scim(t, env.token, http.MethodPatch, paths.SCIMUser(id), `{
			"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
			"Operations": [{"op": "replace", "value": {"active": true}}]
		}`).status(http.StatusOK)
		if _, ok := membership(t, db, env.org, isaac.ID); !ok {
			t.Fatal("Okta's reactivation did not restore the membership")
		}

		// Group push: create, rename (path-less replace with id and
		// displayName), add and remove a member.
		g := app.scim(t, env.token, http.MethodPost, paths.SCIMGroups(), `{
			"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
			"displayName": "Test SCIMv2",
			"members": []
		}`).status(http.StatusCreated)
		gid := g.str("id")
		app.scim(t, env.token, http.MethodPatch, paths.SCIMGroup(gid), `{
			"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
			"Operations": [{"op": "replace", "value": {"id": "`+gid+`", "displayName": "Engineering"}}]
		}`).status(http.StatusOK)
		added := app.scim(t, env.token, http.MethodPatch, paths.SCIMGroup(gid), `{
			"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
			"Operations": [{"op": "add", "path": "members", "value": [{"value": "`+id+`", "display": "isaac.brock@example.com"}]}]
		}`).status(http.StatusOK)
		if added.str("displayName") != "Engineering" || !strings.Contains(added.Body, id) {
			t.Fatalf("group after rename and add: %s", added.Body)
		}
		removed := app.scim(t, env.token, http.MethodPatch, paths.SCIMGroup(gid), `{
			"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
			"Operations": [{"op": "remove", "path": "members[value eq \"`+id+`\"]"}]
		}`).status(http.StatusOK)
		if strings.Contains(removed.Body, id) {
			t.Fatalf("member still in the group: %s", removed.Body)
		}
		app.scim(t, env.token, http.MethodDelete, paths.SCIMGroup(gid), nil).status(http.StatusNoContent)
	})
}

func TestSCIMEntraRequestShapes(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := newSCIMEnv(t, app)
		// Entra's connection test: a filter on a random userName, 200 with
		// no results.
		probe := paths.SCIMUsers() + "?filter=" + url.QueryEscape(`userName eq "1b2ac2f4-6b3e-4fd5-8a5a-0c5c8e6e1a3d"`)
		if n := app.scim(t, env.token, http.MethodGet, probe, nil).status(http.StatusOK).total(); n != 0 {
			t.Fatalf("probe found %d", n)
		}
		// Entra's userName is the UPN; the address is in emails.
		created := app.scim(t, env.token, http.MethodPost, paths.SCIMUsers(), `{
			"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			"externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
			"userName": "Test_User_ab6490ee@contoso.onmicrosoft.com",
			"active": true,
			"emails": [{"primary": true, "type": "work", "value": "grace@example.com"}],
			"meta": {"resourceType": "User"},
			"name": {"formatted": "Grace Hopper", "familyName": "Hopper", "givenName": "Grace"},
			"roles": [],
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Navy"}
		}`).status(http.StatusCreated)
		id := created.str("id")
		grace := userByEmail(t, db, "grace@example.com")
		// Lookups by externalId and by the work email.
		for _, f := range []string{`externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`, `emails[type eq "work"].value eq "grace@example.com"`,
			`userName eq "test_user_ab6490ee@contoso.onmicrosoft.com"`} {
			r := app.scim(t, env.token, http.MethodGet, paths.SCIMUsers()+"?filter="+url.QueryEscape(f), nil).status(http.StatusOK)
			if r.total() != 1 {
				t.Fatalf("%s: %s", f, r.Body)
			}
		}
		// The externalId filter is case-exact.
		if n := app.scim(t, env.token, http.MethodGet, paths.SCIMUsers()+"?filter="+url.QueryEscape(`externalId eq "0A21F0F2-8D2A-4F8E-BF98-7363C4AED4EF"`), nil).status(http.StatusOK).total(); n != 0 {
			t.Fatal("externalId matched in another case")
		}
		// Capitalised ops, the work email path, attributes kept elsewhere.
		app.scim(t, env.token, http.MethodPatch, paths.SCIMUser(id), `{
			"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
			"Operations": [
				{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "grace.hopper@example.com"},
				{"op": "Replace", "path": "name.familyName", "value": "Murray Hopper"},
				{"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Research"},
				{"op": "Replace", "path": "addresses[type eq \"work\"].formatted", "value": "Arlington"},
				{"op": "Add", "path": "title", "value": "Rear Admiral"}
			]
		}`).status(http.StatusOK)
		if u := userByEmail(t, db, "grace.hopper@example.com"); u.ID != grace.ID || u.Name != "Grace Murray Hopper" {
			t.Fatalf("after Entra's PATCH: %+v", u)
		}
		// Disabling: "active" as the string "False".
		app.scim(t, env.token, http.MethodPatch, paths.SCIMUser(id), `{
			"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
			"Operations": [{"op": "Replace", "path": "active", "value": "False"}]
		}`).status(http.StatusOK)
		if _, ok := membership(t, db, env.org, grace.ID); ok {
			t.Fatal(`"active": "False" left the membership`)
		}
		app.scim(t, env.token, http.MethodPatch, paths.SCIMUser(id), `{
			"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
			"Operations": [{"op": "Replace", "path": "active", "value": "True"}]
		}`).status(http.StatusOK)

		// Groups: the administrators group chosen in the settings, created
		// and filled the way Entra does.
		env.ac.post(paths.SCIMSettings(), url.Values{"admin_group": {"Switchboard Admins"}}, paths.SSOSettings()).redirectsTo(paths.SSOSettings())
		g := app.scim(t, env.token, http.MethodPost, paths.SCIMGroups(), `{
			"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
			"externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
			"displayName": "Switchboard Admins",
			"meta": {"resourceType": "Group"}
		}`).status(http.StatusCreated)
		gid := g.str("id")
		byName := paths.SCIMGroups() + "?excludedAttributes=members&filter=" + url.QueryEscape(`displayName eq "Switchboard Admins"`)
		if r := app.scim(t, env.token, http.MethodGet, byName, nil).status(http.StatusOK); r.total() != 1 || strings.Contains(r.Body, `"members"`) {
			t.Fatalf("group lookup: %s", r.Body)
		}
		app.scim(t, env.token, http.MethodPatch, paths.SCIMGroup(gid), `{
			"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
			"Operations": [{"op": "Add", "path": "members", "value": [{"value": "`+id+`"}]}]
		}`).status(http.StatusOK)
		if m, _ := membership(t, db, env.org, grace.ID); m.Role != tenancy.RoleAdmin {
			t.Fatalf("role after joining the administrators group: %s", m.Role)
		}
		if u := app.scim(t, env.token, http.MethodGet, paths.SCIMUser(id), nil).status(http.StatusOK); !strings.Contains(u.Body, "Switchboard Admins") {
			t.Fatalf("the user's groups: %s", u.Body)
		}
		app.scim(t, env.token, http.MethodPatch, paths.SCIMGroup(gid), `{
			"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
			"Operations": [{"op": "Remove", "path": "members", "value": [{"value": "`+id+`"}]}]
		}`).status(http.StatusOK)
		if m, _ := membership(t, db, env.org, grace.ID); m.Role != tenancy.RoleMember {
			t.Fatalf("role after leaving the administrators group: %s", m.Role)
		}
		// The group's name decides: renaming it away from the chosen one
		// demotes its members; the chosen name found again promotes them.
		app.scim(t, env.token, http.MethodPatch, paths.SCIMGroup(gid), patch(op("Add", "members", []map[string]any{{"value": id}}))).status(http.StatusOK)
		app.scim(t, env.token, http.MethodPatch, paths.SCIMGroup(gid), patch(op("Replace", "displayName", "Former Admins"))).status(http.StatusOK)
		if m, _ := membership(t, db, env.org, grace.ID); m.Role != tenancy.RoleMember {
			t.Fatalf("role after the group was renamed: %s", m.Role)
		}
		env.ac.post(paths.SCIMSettings(), url.Values{"admin_group": {"former admins"}}, paths.SSOSettings()).redirectsTo(paths.SSOSettings())
		if m, _ := membership(t, db, env.org, grace.ID); m.Role != tenancy.RoleAdmin {
			t.Fatalf("role after the settings chose her group: %s", m.Role)
		}
		// A group name that already exists is 409 uniqueness.
		app.scim(t, env.token, http.MethodPost, paths.SCIMGroups(), map[string]any{"displayName": "FORMER ADMINS"}).scimError(http.StatusConflict, "uniqueness")
	})
}

// Choosing the administrators group is for administrators, and refused
// when it would leave the organization without one.
func TestSCIMAdminGroupSetting(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := newSCIMEnv(t, app)
		// The only administrator is provisioned, in no group: mapping a
		// group to administrators would demote them.
		env.provision(t, env.admin.Email, "Only", "Admin")
		r := env.ac.post(paths.SCIMSettings(), url.Values{"admin_group": {"Admins"}}, paths.SSOSettings()).status(http.StatusUnprocessableEntity)
		if r.doc().Find(`input[name="admin_group"]`).AttrOr("value", "") != "Admins" {
			t.Fatal("the refused input was not kept")
		}
		if m, _ := membership(t, db, env.org, env.admin.ID); m.Role != tenancy.RoleAdmin {
			t.Fatal("the last administrator was demoted")
		}
		_, mc := app.member(t, env.org, tenancy.RoleMember)
		mc.post(paths.SCIMSettings(), url.Values{"admin_group": {"x"}}, paths.Members()).status(http.StatusForbidden)
	})
}
