package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gorm.io/gorm"

	"switchboard/handlers/idptest"
	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/sso"
	"switchboard/models/tenancy"
	"switchboard/views/paths"
)

// scimEnv is an organization connected to a test IdP, with example.com
// proved, its administrator's browser, and a SCIM token made through the
// settings page.
type scimEnv struct {
	app   *testApp
	admin models.User
	org   tenancy.Scope
	ac    *client
	idp   *idptest.IdP
	token string
}

func newSCIMEnv(t testing.TB, app *testApp) *scimEnv {
	t.Helper()
	return newSCIMEnvAt(t, app, "example.com")
}

// newSCIMEnvAt is newSCIMEnv for an organization that proved domain.
func newSCIMEnvAt(t testing.TB, app *testApp, domain string) *scimEnv {
	t.Helper()
	admin, org, ac := orgAdmin(t, app)
	// The administrator proved their address: provisioning them (as some
	// tests do) links their account as it is.
	dbtest.Must(t, dbtest.Plain(t, app.db).Exec("UPDATE users SET email_verified_at = ? WHERE id = ?", tenancy.Now(), admin.ID).Error)
	idp := idptest.New(t)
	ac.post(paths.SSOSettings(), url.Values{"metadata_xml": {idp.Metadata()}, "domains": {domain}, "default_role": {"member"}}).status(http.StatusSeeOther)
	slug := org.Account().SlugOrEmpty()
	idp.RegisterSPFrom(slug, app.srv.URL+paths.SSOMetadata(slug))
	if _, err := sso.ProveSSODomainByOperator(t.Context(), app.db, slug, domain, "test"); err != nil {
		t.Fatal(err)
	}
	// Provisioning tests make more requests than the Free plan's minute.
	if err := dbtest.Plain(t, app.db).Exec("UPDATE accounts SET rate_per_minute = 100000, rate_per_day = 1000000 WHERE id = ?", org.AccountID()).Error; err != nil {
		t.Fatal(err)
	}
	env := &scimEnv{app: app, admin: admin, org: org, ac: ac, idp: idp}
	env.token = createSCIMToken(t, ac, "Okta")
	return env
}

// createSCIMToken creates a token through the form and reads it from the
// page, where it is shown once.
func createSCIMToken(t testing.TB, c *client, name string) string {
	t.Helper()
	r := c.post(paths.SCIMTokens(), url.Values{"name": {name}}, paths.SSOSettings()).status(http.StatusOK)
	token := strings.TrimSpace(r.doc().Find("#new-scim-token").Text())
	if !strings.HasPrefix(token, "sbscim_") {
		t.Fatalf("no token shown:\n%s", r.excerpt())
	}
	return token
}

// scimResponse is a SCIM answer with its body decoded.
type scimResponse struct {
	*response
	JSON map[string]any
}

// scim sends a SCIM request with token and decodes the answer.
func (a *testApp) scim(t testing.TB, token, method, path string, body any) *scimResponse {
	t.Helper()
	var reader *strings.Reader
	switch b := body.(type) {
	case nil:
		reader = strings.NewReader("")
	case string:
		reader = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		reader = strings.NewReader(string(raw))
	}
	req, err := http.NewRequest(method, a.srv.URL+path, reader)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	r := a.client().do(req)
	out := &scimResponse{response: r}
	if r.Body != "" {
		if err := json.Unmarshal([]byte(r.Body), &out.JSON); err != nil {
			t.Fatalf("%s %s answered %d, not JSON: %s", method, path, r.Code, r.Body)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
			t.Fatalf("%s %s answered Content-Type %q", method, path, ct)
		}
	}
	return out
}

func (r *scimResponse) status(want int) *scimResponse {
	r.t.Helper()
	if r.Code != want {
		r.t.Fatalf("status %d, want %d: %s", r.Code, want, r.Body)
	}
	return r
}

// scimError asserts a SCIM error with the status and scimType ("" for none).
func (r *scimResponse) scimError(status int, scimType string) *scimResponse {
	r.t.Helper()
	r.status(status)
	schemas, _ := r.JSON["schemas"].([]any)
	if len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
		r.t.Fatalf("not a SCIM error: %s", r.Body)
	}
	if got, _ := r.JSON["status"].(string); got != itoa(status) {
		r.t.Fatalf("status %q in the body, want the string %q: %s", r.JSON["status"], itoa(status), r.Body)
	}
	if got, _ := r.JSON["scimType"].(string); got != scimType {
		r.t.Fatalf("scimType %q, want %q: %s", got, scimType, r.Body)
	}
	return r
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func (r *scimResponse) str(key string) string {
	s, _ := r.JSON[key].(string)
	return s
}

func (r *scimResponse) total() int {
	n, ok := r.JSON["totalResults"].(float64)
	if !ok {
		r.t.Fatalf("no totalResults: %s", r.Body)
	}
	if res, ok := r.JSON["Resources"].([]any); !ok || res == nil {
		r.t.Fatalf("Resources is not a list: %s", r.Body)
	}
	return int(n)
}

// provision creates a user by SCIM and returns their SCIM id.
func (e *scimEnv) provision(t testing.TB, userName, given, family string) string {
	t.Helper()
	r := e.app.scim(t, e.token, http.MethodPost, paths.SCIMUsers(), map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": userName, "name": map[string]any{"givenName": given, "familyName": family},
		"emails": []map[string]any{{"primary": true, "type": "work", "value": userName}}, "active": true,
	}).status(http.StatusCreated)
	id := r.str("id")
	if id == "" || r.Header.Get("Location") == "" {
		t.Fatalf("created user without id or Location: %s", r.Body)
	}
	return id
}

// membership reads the user's membership of the organization, raw.
func membership(t testing.TB, db *gorm.DB, org tenancy.Scope, userID int64) (tenancy.Membership, bool) {
	t.Helper()
	var ms []tenancy.Membership
	if err := dbtest.Plain(t, db).Raw("SELECT * FROM memberships WHERE account_id = ? AND user_id = ?", org.AccountID(), userID).Scan(&ms).Error; err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		return tenancy.Membership{}, false
	}
	return ms[0], true
}

func userByEmail(t testing.TB, db *gorm.DB, email string) models.User {
	t.Helper()
	u, err := models.FindUserByEmail(t.Context(), db, email)
	if err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return u
}

func TestSCIMTokensOnTheSSOSettings(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := newSCIMEnv(t, app)
		page := env.ac.get(paths.SSOSettings()).status(http.StatusOK)
		page.contains("Provisioning").lacks(env.token)
		if page.doc().Find(`[data-testid="scim-token"]`).Length() != 1 {
			t.Fatal("the token is not listed")
		}
		if _, ok := page.doc().Find(`form[action$="/revoke"]`).Attr("data-confirm"); !ok {
			t.Fatal("revoking asks no confirmation")
		}
		// Stored only as its hash.
		var stored int64
		dbtest.Plain(t, db).Raw("SELECT COUNT(*) FROM scim_tokens WHERE token_hash = ?", env.token).Scan(&stored)
		if stored != 0 {
			t.Fatal("the token is stored in clear")
		}
		// A second token works beside the first (rotation).
		second := createSCIMToken(t, env.ac, "Okta (new)")
		app.scim(t, env.token, http.MethodGet, paths.SCIMUsers(), nil).status(http.StatusOK)
		app.scim(t, second, http.MethodGet, paths.SCIMUsers(), nil).status(http.StatusOK)
		// A name is required: 422, the input kept.
		r := env.ac.post(paths.SCIMTokens(), url.Values{"name": {"  "}}, paths.SSOSettings()).status(http.StatusUnprocessableEntity)
		if r.doc().Find("#new-scim-token").Length() != 0 {
			t.Fatal("a refused form shows a token")
		}
		// Revoking stops the token on its next request; the other still works.
		id, _ := page.doc().Find(`[data-testid="scim-token"] form`).Attr("action")
		env.ac.post(id, nil, paths.SSOSettings()).redirectsTo(paths.SSOSettings())
		app.scim(t, env.token, http.MethodGet, paths.SCIMUsers(), nil).scimError(http.StatusUnauthorized, "")
		app.scim(t, second, http.MethodGet, paths.SCIMUsers(), nil).status(http.StatusOK)
		// Audited.
		log := env.ac.get(paths.AuditLog()).status(http.StatusOK)
		log.contains("Created a SCIM token").contains("Revoked a SCIM token")
		// Regular members can neither see nor make tokens.
		_, mc := app.member(t, env.org, tenancy.RoleMember)
		mc.get(paths.SSOSettings()).status(http.StatusForbidden)
		mc.post(paths.SCIMTokens(), url.Values{"name": {"sneaky"}}, paths.Members()).status(http.StatusForbidden)
		var n int64
		dbtest.Plain(t, db).Raw("SELECT COUNT(*) FROM scim_tokens WHERE name = 'sneaky'").Scan(&n)
		if n != 0 {
			t.Fatal("a regular member made a token")
		}
	})
}

func TestSCIMRefusesMissingForgedAndRevokedTokens(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := newSCIMEnv(t, app)
		for _, token := range []string{"", "sbscim_forged", env.token + "x", strings.TrimPrefix(env.token, "sbscim_")} {
			app.scim(t, token, http.MethodGet, paths.SCIMUsers(), nil).scimError(http.StatusUnauthorized, "")
		}
		// An API key is not a SCIM token, nor the other way round.
		key, err := models.CreateAPIKey(t.Context(), db, env.org, "k", models.DefaultAPIKeyTTL)
		if err != nil {
			t.Fatal(err)
		}
		app.scim(t, key.Secret, http.MethodGet, paths.SCIMUsers(), nil).scimError(http.StatusUnauthorized, "")
		req, _ := http.NewRequest(http.MethodGet, app.srv.URL+paths.APIIndexes(), nil)
		req.Header.Set("x-api-key", env.token)
		app.client().do(req).status(http.StatusUnauthorized)
		// Basic auth with the token as password is not the bearer scheme.
		req, _ = http.NewRequest(http.MethodGet, app.srv.URL+paths.SCIMUsers(), nil)
		req.SetBasicAuth("x", env.token)
		app.client().do(req).status(http.StatusUnauthorized)
	})
}

func TestSCIMUsersCreateGetListReplaceDelete(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := newSCIMEnv(t, app)
		id := env.provision(t, "ada@example.com", "Ada", "Lovelace")

		got := app.scim(t, env.token, http.MethodGet, paths.SCIMUser(id), nil).status(http.StatusOK)
		if got.str("userName") != "ada@example.com" || got.JSON["active"] != true || got.str("displayName") != "Ada Lovelace" {
			t.Fatalf("got %s", got.Body)
		}
		// The user exists, with no password, and is a regular member.
		ada := userByEmail(t, db, "ada@example.com")
		if ada.PasswordHash != "" || !ada.Verified() || ada.Name != "Ada Lovelace" {
			t.Fatalf("created user %+v", ada)
		}
		m, ok := membership(t, db, env.org, ada.ID)
		if !ok || m.Role != tenancy.RoleMember || !m.SCIMManaged {
			t.Fatalf("membership %+v, %v", m, ok)
		}

		// A second create with the same userName, in any case, is 409 uniqueness.
		app.scim(t, env.token, http.MethodPost, paths.SCIMUsers(), map[string]any{"userName": "ADA@example.com"}).
			scimError(http.StatusConflict, "uniqueness")

		// Lists, filters and pages.
		env.provision(t, "bob@example.com", "Bob", "Builder")
		env.provision(t, "cy@example.com", "Cy", "Young")
		all := app.scim(t, env.token, http.MethodGet, paths.SCIMUsers(), nil).status(http.StatusOK)
		if all.total() != 3 {
			t.Fatalf("list: %s", all.Body)
		}
		page := app.scim(t, env.token, http.MethodGet, paths.SCIMUsers()+"?startIndex=2&count=1", nil).status(http.StatusOK)
		res := page.JSON["Resources"].([]any)
		if page.total() != 3 || len(res) != 1 || res[0].(map[string]any)["userName"] != "bob@example.com" || page.JSON["startIndex"] != 2.0 {
			t.Fatalf("page: %s", page.Body)
		}
		q := url.Values{"filter": {`userName eq "BOB@example.com"`}}
		if f := app.scim(t, env.token, http.MethodGet, paths.SCIMUsers()+"?"+q.Encode(), nil).status(http.StatusOK); f.total() != 1 {
			t.Fatalf("filter: %s", f.Body)
		}
		q.Set("filter", `emails[type eq "work"].value eq "cy@example.com"`)
		if f := app.scim(t, env.token, http.MethodGet, paths.SCIMUsers()+"?"+q.Encode(), nil).status(http.StatusOK); f.total() != 1 {
			t.Fatalf("email filter: %s", f.Body)
		}
		for _, bad := range []string{`userName co "a"`, `name.givenName eq "Ada"`, `userName eq "a" or userName eq "b"`, `userName eq`, `((`, `emails[type eq "home"].value eq "x"`} {
			q.Set("filter", bad)
			app.scim(t, env.token, http.MethodGet, paths.SCIMUsers()+"?"+q.Encode(), nil).scimError(http.StatusBadRequest, "invalidFilter")
		}
		app.scim(t, env.token, http.MethodGet, paths.SCIMUsers()+"?count=x", nil).scimError(http.StatusBadRequest, "invalidValue")

		// PUT replaces: a new externalId and name; the email stays in the
		// proved domain.
		put := app.scim(t, env.token, http.MethodPut, paths.SCIMUser(id), map[string]any{
			"userName": "ada@example.com", "externalId": "00u1", "name": map[string]any{"givenName": "Augusta", "familyName": "King"},
			"emails": []map[string]any{{"value": "augusta@example.com", "type": "work", "primary": true}}, "active": true,
		}).status(http.StatusOK)
		if put.str("externalId") != "00u1" || put.str("displayName") != "Augusta King" {
			t.Fatalf("put: %s", put.Body)
		}
		if u := userByEmail(t, db, "augusta@example.com"); u.ID != ada.ID || u.Name != "Augusta King" {
			t.Fatalf("user after PUT: %+v", u)
		}
		// An email outside the proved domains is refused, and so is another user's.
		app.scim(t, env.token, http.MethodPatch, paths.SCIMUser(id), patch(op("replace", `emails[type eq "work"].value`, "a@elsewhere.test"))).
			scimError(http.StatusBadRequest, "invalidValue")
		app.scim(t, env.token, http.MethodPatch, paths.SCIMUser(id), patch(op("replace", `emails[type eq "work"].value`, "bob@example.com"))).
			scimError(http.StatusConflict, "uniqueness")
		app.scim(t, env.token, http.MethodPatch, paths.SCIMUser(id), patch(op("replace", "userName", "bob@example.com"))).
			scimError(http.StatusConflict, "uniqueness")

		// DELETE ends the membership, keeps the user and their personal account.
		app.scim(t, env.token, http.MethodDelete, paths.SCIMUser(id), nil).status(http.StatusNoContent)
		app.scim(t, env.token, http.MethodGet, paths.SCIMUser(id), nil).scimError(http.StatusNotFound, "")
		app.scim(t, env.token, http.MethodDelete, paths.SCIMUser(id), nil).scimError(http.StatusNotFound, "")
		if _, ok := membership(t, db, env.org, ada.ID); ok {
			t.Fatal("the membership outlived DELETE")
		}
		if _, err := tenancy.PersonalScope(t.Context(), db, ada.ID); err != nil {
			t.Fatalf("the personal account is gone: %v", err)
		}
	})
}

func TestSCIMCreatesAndTakesInOnlyInProvedDomains(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := newSCIMEnv(t, app)
		// Nobody at an unproved domain is created…
		app.scim(t, env.token, http.MethodPost, paths.SCIMUsers(), map[string]any{"userName": "eve@unproved.test"}).
			scimError(http.StatusBadRequest, "invalidValue")
		if _, err := models.FindUserByEmail(t.Context(), db, "eve@unproved.test"); err == nil {
			t.Fatal("a user was created in an unproved domain")
		}
		// …nor is someone who signed up there taken in.
		outsider, _ := dbtest.UserNamed(t, db, "Out Sider", "out@unproved.test")
		app.scim(t, env.token, http.MethodPost, paths.SCIMUsers(), map[string]any{"userName": "out@unproved.test"}).
			scimError(http.StatusBadRequest, "invalidValue")
		if _, ok := membership(t, db, env.org, outsider.ID); ok {
			t.Fatal("an outsider was taken in")
		}
		// Someone at a proved domain who signed up (and proved the address)
		// is linked, not duplicated; their password and personal account
		// stay.
		known, personal := dbtest.UserNamed(t, db, "Known User", "known@example.com")
		dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE users SET email_verified_at = ? WHERE id = ?", tenancy.Now(), known.ID).Error)
		id := env.provision(t, "known@example.com", "Known", "User")
		if u := userByEmail(t, db, "known@example.com"); u.ID != known.ID || u.PasswordHash == "" {
			t.Fatalf("linked user %+v", u)
		}
		if _, ok := membership(t, db, env.org, known.ID); !ok {
			t.Fatal("the known user is not a member")
		}
		app.scim(t, env.token, http.MethodPatch, paths.SCIMUser(id), patch(op("replace", "active", false))).status(http.StatusOK)
		if _, err := tenancy.PersonalScope(t.Context(), db, known.ID); err != nil || personal.AccountID() == 0 {
			t.Fatalf("personal account: %v", err)
		}
		// Someone who signed up at a proved domain and never proved the
		// address held it unproved: as at an SSO sign-in, the squatter's
		// password, sessions and keys go before the account joins.
		squatter, squatterPersonal := dbtest.UserNamed(t, db, "Squat Ter", "squat@example.com")
		squatterKey := dbtest.NewAPIKey(t, db, squatterPersonal, "squatter's")
		env.provision(t, "squat@example.com", "Squat", "Ter")
		if u := userByEmail(t, db, "squat@example.com"); u.ID != squatter.ID || u.PasswordHash != "" || u.EmailVerifiedAt == nil {
			t.Fatalf("a squatter's account joined as it was: %+v", u)
		}
		if k := dbtest.RawAPIKey(t, db, squatterKey.ID); k.RevokedAt == nil {
			t.Fatal("the squatter's API key still works")
		}
		if n := dbtest.CountRows(t, db, "sessions", "user_id = ?", squatter.ID); n != 0 {
			t.Fatalf("the squatter keeps %d sessions", n)
		}
		// A member invited by hand at an unproved domain is taken over by
		// SCIM: they are a member already.
		invited, _ := dbtest.UserNamed(t, db, "In Vited", "invited@unproved.test")
		dbtest.AddMember(t, db, env.org, invited, tenancy.RoleMember)
		env.provision(t, "invited@unproved.test", "In", "Vited")
		if m, _ := membership(t, db, env.org, invited.ID); !m.SCIMManaged {
			t.Fatal("the invited member was not taken over")
		}
	})
}

// patch is a PatchOp message of ops.
func patch(ops ...map[string]any) map[string]any {
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops}
}

func op(name, path string, value any) map[string]any {
	o := map[string]any{"op": name}
	if path != "" {
		o["path"] = path
	}
	if value != nil {
		o["value"] = value
	}
	return o
}

func TestSCIMHostileInput(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := newSCIMEnv(t, app)
		id := env.provision(t, "h@example.com", "H", "")
		for _, c := range []struct {
			method, path, body string
			status             int
			scimType           string
		}{
			{"POST", paths.SCIMUsers(), `not json`, 400, "invalidSyntax"},
			{"POST", paths.SCIMUsers(), `[]`, 400, "invalidSyntax"},
			{"POST", paths.SCIMUsers(), `{"userName": 7}`, 400, "invalidValue"},
			{"POST", paths.SCIMUsers(), `{"userName": ""}`, 400, "invalidValue"},
			{"POST", paths.SCIMUsers(), `{"userName": "nul\u0000@example.com"}`, 400, "invalidValue"},
			{"POST", paths.SCIMUsers(), `{"userName": "` + strings.Repeat("a", 300) + `@example.com"}`, 400, "invalidValue"},
			{"POST", paths.SCIMUsers(), `{"userName": "x@example.com", "active": "maybe"}`, 400, "invalidValue"},
			{"PATCH", paths.SCIMUser(id), `{"Operations": []}`, 400, "invalidSyntax"},
			{"PATCH", paths.SCIMUser(id), `{"Operations": [{"op": "move", "path": "active", "value": true}]}`, 400, "invalidSyntax"},
			{"PATCH", paths.SCIMUser(id), `{"Operations": [{"op": "remove", "path": "userName"}]}`, 400, "mutability"},
			{"PATCH", paths.SCIMUser(id), `{"Operations": [{"op": "replace", "path": "active", "value": "sometimes"}]}`, 400, "invalidValue"},
			{"PATCH", paths.SCIMUser(id), `{"Operations": [{"op": "replace", "path": "emails[type eq \"work\"", "value": "x"}]}`, 400, "invalidPath"},
			{"PATCH", paths.SCIMUser("nope"), `{"Operations": [{"op": "replace", "path": "active", "value": false}]}`, 404, ""},
			{"GET", paths.SCIMUser("../../etc"), ``, 404, ""},
			{"GET", paths.SCIMSchema("nope"), ``, 404, ""},
			{"GET", paths.SCIMBase() + "/Nothing", ``, 404, ""},
		} {
			var body any
			if c.body != "" {
				body = c.body
			}
			app.scim(t, env.token, c.method, c.path, body).scimError(c.status, c.scimType)
		}
		// Nothing of the refused requests was written.
		var n int64
		dbtest.Plain(t, db).Raw("SELECT COUNT(*) FROM scim_users WHERE account_id = ?", env.org.AccountID()).Scan(&n)
		if n != 1 {
			t.Fatalf("%d provisioned users, want 1", n)
		}
	})
}

func TestSCIMDiscovery(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := newSCIMEnv(t, app)
		cfg := app.scim(t, env.token, http.MethodGet, paths.SCIMServiceProviderConfig(), nil).status(http.StatusOK)
		if cfg.JSON["patch"].(map[string]any)["supported"] != true || cfg.JSON["bulk"].(map[string]any)["supported"] != false {
			t.Fatalf("config: %s", cfg.Body)
		}
		schemas := app.scim(t, env.token, http.MethodGet, paths.SCIMSchemas(), nil).status(http.StatusOK)
		if schemas.total() != 2 || !strings.Contains(schemas.Body, `"userName"`) {
			t.Fatalf("schemas: %s", schemas.Body)
		}
		app.scim(t, env.token, http.MethodGet, paths.SCIMSchema("urn:ietf:params:scim:schemas:core:2.0:User"), nil).status(http.StatusOK)
		types := app.scim(t, env.token, http.MethodGet, paths.SCIMResourceTypes(), nil).status(http.StatusOK)
		if types.total() != 2 || !strings.Contains(types.Body, `"/Groups"`) {
			t.Fatalf("resource types: %s", types.Body)
		}
		app.scim(t, env.token, http.MethodGet, paths.SCIMResourceType("User"), nil).status(http.StatusOK)
		app.scim(t, "", http.MethodGet, paths.SCIMServiceProviderConfig(), nil).scimError(http.StatusUnauthorized, "")
	})
}
