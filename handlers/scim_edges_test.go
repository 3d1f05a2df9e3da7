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

// resources are the ids of a list's Resources, in order.
func (r *scimResponse) resources() []string {
	r.t.Helper()
	r.total()
	var ids []string
	for _, res := range r.JSON["Resources"].([]any) {
		ids = append(ids, res.(map[string]any)["id"].(string))
	}
	return ids
}

// Pagination (RFC 7644 §3.4.2.4): startIndex below 1 is 1, count below 0
// is 0, numbers past any bound are clamped, and a page past the end is
// empty with the total; a number that is not whole is refused.
func TestSCIMPaginationEdges(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := newSCIMEnv(t, app)
		ids := []string{env.provision(t, "a@example.com", "A", "A"), env.provision(t, "b@example.com", "B", "B"), env.provision(t, "c@example.com", "C", "C")}
		g := app.scim(t, env.token, http.MethodPost, paths.SCIMGroups(), map[string]any{"displayName": "Everyone"}).status(http.StatusCreated)
		for _, c := range []struct {
			query      string
			start      float64
			want       []string
			resourceOf string
		}{
			{"startIndex=0", 1, ids, ""},
			{"startIndex=-5", 1, ids, ""},
			{"startIndex=-99999999999999999999", 1, ids, ""},
			{"startIndex=2&count=1", 2, ids[1:2], ""},
			{"startIndex=3&count=100", 3, ids[2:], ""},
			{"startIndex=4", 4, nil, ""},
			{"startIndex=999999999", 0, nil, ""},
			{"startIndex=99999999999999999999", 0, nil, ""},
			{"count=0", 1, nil, ""},
			{"count=-1", 1, nil, ""},
			{"count=100000", 1, ids, ""},
			{"count=99999999999999999999", 1, ids, ""},
			{"count=-99999999999999999999", 1, nil, ""},
		} {
			r := app.scim(t, env.token, http.MethodGet, paths.SCIMUsers()+"?"+c.query, nil).status(http.StatusOK)
			got := r.resources()
			if r.total() != 3 || strings.Join(got, ",") != strings.Join(c.want, ",") || r.JSON["itemsPerPage"] != float64(len(c.want)) {
				t.Errorf("%s: %s", c.query, r.Body)
			}
			if c.start != 0 && r.JSON["startIndex"] != c.start {
				t.Errorf("%s: startIndex %v, want %v", c.query, r.JSON["startIndex"], c.start)
			}
		}
		for _, q := range []string{"startIndex=1.5", "startIndex=one", "count=1e3", "count="} {
			if q == "count=" {
				// An empty count is no count.
				app.scim(t, env.token, http.MethodGet, paths.SCIMUsers()+"?"+q, nil).status(http.StatusOK)
				continue
			}
			app.scim(t, env.token, http.MethodGet, paths.SCIMUsers()+"?"+q, nil).scimError(http.StatusBadRequest, "invalidValue")
			app.scim(t, env.token, http.MethodGet, paths.SCIMGroups()+"?"+q, nil).scimError(http.StatusBadRequest, "invalidValue")
		}
		// Groups page alike.
		if r := app.scim(t, env.token, http.MethodGet, paths.SCIMGroups()+"?startIndex=0&count=99999999999999999999", nil).status(http.StatusOK); strings.Join(r.resources(), ",") != g.str("id") {
			t.Errorf("groups: %s", r.Body)
		}
		if r := app.scim(t, env.token, http.MethodGet, paths.SCIMGroups()+"?startIndex=2", nil).status(http.StatusOK); r.total() != 1 || len(r.resources()) != 0 {
			t.Errorf("groups past the end: %s", r.Body)
		}
	})
}

// A PATCH of a User attribute Switchboard does not keep is accepted
// without effect (IdPs map title, addresses, extensions…); a path that is
// no User attribute at all is 400 invalidPath, and nothing of the request
// is written.
func TestSCIMPatchPaths(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := newSCIMEnv(t, app)
		id := env.provision(t, "pat@example.com", "Pat", "Doe")
		before := app.scim(t, env.token, http.MethodGet, paths.SCIMUser(id), nil).status(http.StatusOK)
		for _, o := range []map[string]any{
			op("add", "title", "Engineer"),
			op("replace", "nickName", "P"),
			op("replace", `addresses[type eq "work"].formatted`, "Somewhere"),
			op("add", "phoneNumbers", []map[string]any{{"value": "+1 555", "type": "work"}}),
			op("replace", "name.middleName", "Q"),
			op("replace", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "R&D"),
			op("replace", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", map[string]any{"value": "x"}),
			op("replace", "", map[string]any{"title": "Lead", "preferredLanguage": "en", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"costCenter": "1"}}),
			op("remove", "roles", nil),
		} {
			app.scim(t, env.token, http.MethodPatch, paths.SCIMUser(id), patch(o)).status(http.StatusOK)
		}
		for _, o := range []map[string]any{
			op("replace", "nonsense", "x"),
			op("replace", "name.nickname", "x"),
			op("replace", "urn:ietf:params:scim:schemas:core:2.0:User:favouriteColour", "blue"),
			op("replace", `emails[type eq "home"].value`, "pat@example.com"),
			op("replace", `emails[type eq "work"`, "pat@example.com"),
			op("replace", "", map[string]any{"bogus": true}),
			op("remove", "bogus", nil),
		} {
			// The first operation would change the name: nothing of a
			// refused PATCH is written.
			app.scim(t, env.token, http.MethodPatch, paths.SCIMUser(id), patch(op("replace", "name.givenName", "Changed"), o)).
				scimError(http.StatusBadRequest, "invalidPath")
		}
		after := app.scim(t, env.token, http.MethodGet, paths.SCIMUser(id), nil).status(http.StatusOK)
		after.JSON["meta"], before.JSON["meta"] = nil, nil
		if a, b := after.Body, before.Body; userName(after) != userName(before) || after.str("displayName") != "Pat Doe" {
			t.Fatalf("changed by refused or ignored PATCHes:\nbefore %s\nafter  %s", b, a)
		}
		// An operation without a value says which.
		r := app.scim(t, env.token, http.MethodPatch, paths.SCIMUser(id), `{"Operations":[{"op":"replace","path":"active"}]}`).scimError(http.StatusBadRequest, "invalidValue")
		if !strings.Contains(r.str("detail"), `A "replace" operation needs a value`) {
			t.Errorf("detail: %s", r.Body)
		}
	})
}

func userName(r *scimResponse) string { return r.str("userName") + "|" + r.str("displayName") }

// Groups: create, get, filter, replace, PATCH and delete, and their
// refusals; a deleted user leaves their groups.
func TestSCIMGroupsOperationsAndErrors(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := newSCIMEnv(t, app)
		ann := env.provision(t, "ann@example.com", "Ann", "A")
		ben := env.provision(t, "ben@example.com", "Ben", "B")
		g := app.scim(t, env.token, http.MethodPost, paths.SCIMGroups(), map[string]any{"displayName": "Design", "externalId": "ext-1",
			"members": []map[string]any{{"value": ann}}}).status(http.StatusCreated)
		gid := g.str("id")
		if g.Header.Get("Location") == "" || !strings.Contains(g.Body, ann) {
			t.Fatalf("created group: %s", g.Body)
		}
		app.scim(t, env.token, http.MethodGet, paths.SCIMGroup(gid), nil).status(http.StatusOK)
		for _, f := range []string{`displayName eq "design"`, `externalId eq "ext-1"`} {
			if n := app.scim(t, env.token, http.MethodGet, paths.SCIMGroups()+"?filter="+url.QueryEscape(f), nil).status(http.StatusOK).total(); n != 1 {
				t.Errorf("%s: %d", f, n)
			}
		}
		for _, f := range []string{`externalId eq "EXT-1"`, `displayName eq "Other"`} {
			if n := app.scim(t, env.token, http.MethodGet, paths.SCIMGroups()+"?filter="+url.QueryEscape(f), nil).status(http.StatusOK).total(); n != 0 {
				t.Errorf("%s: %d", f, n)
			}
		}
		for _, f := range []string{`members eq "x"`, `displayName co "D"`, `displayName eq "a" or displayName eq "b"`} {
			app.scim(t, env.token, http.MethodGet, paths.SCIMGroups()+"?filter="+url.QueryEscape(f), nil).scimError(http.StatusBadRequest, "invalidFilter")
		}

		// PUT replaces the name and the whole member list.
		put := app.scim(t, env.token, http.MethodPut, paths.SCIMGroup(gid), map[string]any{"displayName": "Design Team", "members": []map[string]any{{"value": ben}}}).status(http.StatusOK)
		if put.str("displayName") != "Design Team" || strings.Contains(put.Body, ann) || !strings.Contains(put.Body, ben) {
			t.Fatalf("after PUT: %s", put.Body)
		}
		for _, c := range []struct {
			method   string
			body     any
			status   int
			scimType string
		}{
			{http.MethodPut, map[string]any{"members": []any{}}, 400, "invalidValue"},
			{http.MethodPut, map[string]any{"displayName": strings.Repeat("x", 101)}, 400, "invalidValue"},
			{http.MethodPut, map[string]any{"displayName": "Design Team", "members": []map[string]any{{"value": "nobody"}}}, 400, "invalidValue"},
			{http.MethodPatch, patch(op("remove", "displayName", nil)), 400, "mutability"},
			{http.MethodPatch, patch(op("replace", "displayName", 5)), 400, "invalidValue"},
			{http.MethodPatch, patch(op("replace", "owner", "x")), 400, "invalidPath"},
			{http.MethodPatch, patch(op("add", `members[value eq "`+ann+`"]`, "x")), 400, "invalidPath"},
			{http.MethodPatch, patch(op("remove", `members[display eq "Ann"]`, nil)), 400, "invalidPath"},
			{http.MethodPatch, patch(op("add", "members", "x")), 400, "invalidValue"},
			{http.MethodPatch, patch(op("add", "members", []map[string]any{{"value": "nobody"}})), 400, "invalidValue"},
			{http.MethodPatch, patch(op("remove", "", nil)), 400, "noTarget"},
		} {
			app.scim(t, env.token, c.method, paths.SCIMGroup(gid), c.body).scimError(c.status, c.scimType)
		}
		app.scim(t, env.token, http.MethodPost, paths.SCIMGroups(), map[string]any{"displayName": "DESIGN TEAM"}).scimError(http.StatusConflict, "uniqueness")
		app.scim(t, env.token, http.MethodPost, paths.SCIMGroups(), map[string]any{"displayName": " "}).scimError(http.StatusBadRequest, "invalidValue")
		if r := app.scim(t, env.token, http.MethodGet, paths.SCIMGroup(gid), nil).status(http.StatusOK); r.str("displayName") != "Design Team" || !strings.Contains(r.Body, ben) {
			t.Fatalf("refused requests changed the group: %s", r.Body)
		}

		// Remove with no value empties the group; add puts members back.
		if r := app.scim(t, env.token, http.MethodPatch, paths.SCIMGroup(gid), patch(op("remove", "members", nil))).status(http.StatusOK); strings.Contains(r.Body, ben) {
			t.Fatalf("after removing every member: %s", r.Body)
		}
		app.scim(t, env.token, http.MethodPatch, paths.SCIMGroup(gid), patch(op("add", "members", []map[string]any{{"value": ann}, {"value": ben}}))).status(http.StatusOK)
		// Deleting a user takes them out of their groups.
		app.scim(t, env.token, http.MethodDelete, paths.SCIMUser(ben), nil).status(http.StatusNoContent)
		if r := app.scim(t, env.token, http.MethodGet, paths.SCIMGroup(gid), nil).status(http.StatusOK); strings.Contains(r.Body, ben) || !strings.Contains(r.Body, ann) {
			t.Fatalf("group after its member was deleted: %s", r.Body)
		}
		app.scim(t, env.token, http.MethodDelete, paths.SCIMGroup(gid), nil).status(http.StatusNoContent)
		app.scim(t, env.token, http.MethodGet, paths.SCIMGroup(gid), nil).scimError(http.StatusNotFound, "")
		app.scim(t, env.token, http.MethodDelete, paths.SCIMGroup(gid), nil).scimError(http.StatusNotFound, "")
		if r := app.scim(t, env.token, http.MethodGet, paths.SCIMUser(ann), nil).status(http.StatusOK); strings.Contains(r.Body, "Design") {
			t.Fatalf("the user still lists the deleted group: %s", r.Body)
		}
	})
}

// The user a provisioning creates has no password: signing in with one
// fails until they set one through a reset. An account taken in keeps its
// password. The same person under a second userName is 409 uniqueness.
func TestSCIMCreatedUserSignsInThroughSSOOrAReset(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := newSCIMEnv(t, app)
		env.provision(t, "sso.only@example.com", "Sso", "Only")
		for _, pw := range []string{"", dbtest.Password, "anything at all"} {
			app.client().post("/signin", url.Values{"email": {"sso.only@example.com"}, "password": {pw}}).status(http.StatusUnauthorized)
		}
		visitor := app.client()
		visitor.post(paths.ForgotPassword(), url.Values{"email": {"sso.only@example.com"}}).status(http.StatusOK)
		reset := strings.TrimPrefix(app.mail.Last(t, "sso.only@example.com", "Reset").Link, app.srv.URL)
		visitor.post(reset, url.Values{"password": {"a password of their own"}}).status(http.StatusOK)
		c := app.client()
		c.post("/signin", url.Values{"email": {"sso.only@example.com"}, "password": {"a password of their own"}}).redirectsTo("/")

		// The same address under another userName is the same person.
		app.scim(t, env.token, http.MethodPost, paths.SCIMUsers(), map[string]any{"userName": "sso-only", "emails": []map[string]any{{"value": "SSO.Only@example.com", "type": "work"}}}).
			scimError(http.StatusConflict, "uniqueness")
		if n := dbtest.CountRows(t, db, "scim_users", "account_id = ?", env.org.AccountID()); n != 1 {
			t.Fatalf("%d provisioned users, want 1", n)
		}
	})
}

// PUT with active false removes the membership as PATCH does, audited as
// SCIM; PUT with active true restores it.
func TestSCIMReplaceDeactivatesAndReactivates(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := newSCIMEnv(t, app)
		id := env.provision(t, "kim@example.com", "Kim", "K")
		kim := userByEmail(t, db, "kim@example.com")
		body := func(active bool) map[string]any {
			return map[string]any{"userName": "kim@example.com", "name": map[string]any{"givenName": "Kim", "familyName": "K"}, "active": active}
		}
		if r := app.scim(t, env.token, http.MethodPut, paths.SCIMUser(id), body(false)).status(http.StatusOK); r.JSON["active"] != false {
			t.Fatalf("after PUT active false: %s", r.Body)
		}
		if _, ok := membership(t, db, env.org, kim.ID); ok {
			t.Fatal("PUT active false left the membership")
		}
		if n := dbtest.CountRows(t, db, "audit_events", "account_id = ? AND action = ? AND actor_name = 'SCIM' AND actor_user_id IS NULL", env.org.AccountID(), models.AuditRemoved); n != 1 {
			t.Fatalf("%d removals audited as SCIM, want 1", n)
		}
		app.scim(t, env.token, http.MethodPut, paths.SCIMUser(id), body(true)).status(http.StatusOK)
		if m, ok := membership(t, db, env.org, kim.ID); !ok || !m.SCIMManaged || m.Role != tenancy.RoleMember {
			t.Fatalf("after PUT active true: %+v, %v", m, ok)
		}
	})
}

// A member the IdP took over outside the proved domains keeps their own
// name and email: the IdP's names stay on its record of them.
func TestSCIMUpdatesNamesAndEmailsOnlyInProvedDomains(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := newSCIMEnv(t, app)
		guest, _ := dbtest.UserNamed(t, db, "Guest Person", "guest@unproved.test")
		dbtest.AddMember(t, db, env.org, guest, tenancy.RoleMember)
		id := env.provision(t, "guest@unproved.test", "Guest", "Person")
		r := app.scim(t, env.token, http.MethodPatch, paths.SCIMUser(id), patch(op("replace", "name.givenName", "Renamed"), op("replace", "displayName", "Renamed Person"))).status(http.StatusOK)
		if got := r.JSON["name"].(map[string]any)["givenName"]; got != "Renamed" {
			t.Fatalf("the IdP's name was not kept: %s", r.Body)
		}
		if u := userByEmail(t, db, "guest@unproved.test"); u.Name != "Guest Person" {
			t.Fatalf("the user's own name changed to %q", u.Name)
		}
		for _, email := range []string{"guest@example.com", "guest2@unproved.test"} {
			app.scim(t, env.token, http.MethodPatch, paths.SCIMUser(id), patch(op("replace", `emails[type eq "work"].value`, email))).
				scimError(http.StatusBadRequest, "invalidValue")
		}
		userByEmail(t, db, "guest@unproved.test")
	})
}
