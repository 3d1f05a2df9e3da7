package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gorm.io/gorm"

	"switchboard/models/dbtest"
)

// hiddenMessage is what every name form says of a bidirectional control or
// an invisible character.
const hiddenMessage = "cannot contain invisible or direction-changing characters"

// A name with a right-to-left override or a zero-width character is refused
// by every form that takes one: 422, the message under the field, the input
// kept, nothing written.
func TestNameFormsRefuseHiddenCharacters(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		_, _, c := orgAdmin(t, app)
		idx := createdID(t, c.post("/indexes/new", indexForm("Lectures")))
		integration := url.Values{"name": {"Footage"}, "bucket": {"acme-footage"}, "region": {"eu-west-1"},
			"role_arn": {"arn:aws:iam::123456789012:role/read/footage"}, "prefix": {"videos/"}}
		it := createdID(t, c.post("/integrations/new", integration))
		with := func(base url.Values, k, v string) url.Values {
			f := url.Values{}
			for key, vs := range base {
				f[key] = vs
			}
			f.Set(k, v)
			return f
		}
		tables := []string{"users", "accounts", "memberships", "indexes", "videos", "api_keys", "s3_integrations", "audit_events"}
		for _, name := range []string{"invoice\u202Efdp.exe", "Ada\u200BLovelace", "\u2066Admin\u2069", "Acme\uFEFF"} {
			for _, tc := range []struct {
				label, path, from, field string
				form                     url.Values
			}{
				{"profile", "/settings/profile", "", "name", url.Values{"name": {name}}},
				{"organization rename", "/settings/organization", "", "name", url.Values{"name": {name}}},
				{"index create", "/indexes/new", "", "name", indexForm(name)},
				{"index rename", "/indexes/" + idx, "", "name", url.Values{"name": {name}}},
				{"video title", "/indexes/" + idx + "/videos", "/indexes/" + idx, "title",
					url.Values{"title": {name}, "url": {"https://example.com/v.mp4"}, "duration_seconds": {"60"}}},
				{"API key", "/settings/api-keys", "", "name", url.Values{"name": {name}}},
				{"integration create", "/integrations/new", "", "name", with(integration, "name", name)},
				{"integration change", "/integrations/" + it, "", "name", with(integration, "name", name)},
			} {
				before := dumpTables(t, db, tables...)
				from := tc.path
				if tc.from != "" {
					from = tc.from
				}
				r := c.post(tc.path, tc.form, from).status(http.StatusUnprocessableEntity)
				d := r.doc()
				if msg := d.Find("#field-" + tc.field + "-error").Text(); !strings.Contains(msg, hiddenMessage) {
					t.Errorf("%s %q: error under %s is %q", tc.label, name, tc.field, msg)
				}
				kept, _ := d.Find("#field-" + tc.field).Attr("value")
				if kept != name {
					t.Errorf("%s %q: the field holds %q, want the input kept", tc.label, name, kept)
				}
				if after := dumpTables(t, db, tables...); after != before {
					t.Errorf("%s %q: something was written", tc.label, name)
				}
			}
		}

		// Signing up and creating an organization, as a new user.
		visitor := app.client()
		users := countRows(t, db, "users", "")
		r := visitor.post("/signup", url.Values{"name": {"Eve\u202Eevil"}, "email": {"eve@example.com"}, "password": {dbtest.Password}}).
			status(http.StatusUnprocessableEntity)
		if msg := r.doc().Find("#field-name-error").Text(); !strings.Contains(msg, hiddenMessage) {
			t.Errorf("sign-up: %q", msg)
		}
		if countRows(t, db, "users", "") != users {
			t.Error("sign-up wrote a user")
		}
		_, _, nc := app.user(t)
		accounts := countRows(t, db, "accounts", "")
		r = nc.post("/organizations/new", url.Values{"name": {"Acme\u200DCorp"}}).status(http.StatusUnprocessableEntity)
		if msg := r.doc().Find("#field-name-error").Text(); !strings.Contains(msg, hiddenMessage) {
			t.Errorf("new organization: %q", msg)
		}
		if countRows(t, db, "accounts", "") != accounts {
			t.Error("an organization was created")
		}
	})
}

// The API answers a hidden character in index_name with its 400 error.
func TestAPIIndexNameRefusesHiddenCharacters(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		_, org := dbtest.User(t, db)
		key := newKey(t, db, org)
		created := apiCall(t, app, key, http.MethodPost, "/v1.3/indexes",
			`{"index_name":"Lectures","models":[{"model_name":"marengo3.0","model_options":["visual"]}]}`).status(http.StatusCreated)
		var idx struct {
			ID string `json:"_id"`
		}
		decodeJSON(t, created, &idx)
		for _, name := range []string{`invoice\u202efdp.exe`, `Ada\u200bLovelace`, `\u2067x\u2069`, `\u00ad`} {
			before := dumpTables(t, db, "indexes")
			for _, call := range []struct{ method, path, body string }{
				{http.MethodPost, "/v1.3/indexes", `{"index_name":"` + name + `","models":[{"model_name":"marengo3.0","model_options":["visual"]}]}`},
				{http.MethodPut, "/v1.3/indexes/" + idx.ID, `{"index_name":"` + name + `"}`},
			} {
				r := apiCall(t, app, key, call.method, call.path, call.body).status(http.StatusBadRequest)
				var body struct{ Code, Message string }
				decodeJSON(t, r, &body)
				if body.Code != "parameter_invalid" || !strings.Contains(body.Message, "index_name") || !strings.Contains(body.Message, hiddenMessage) {
					t.Errorf("%s %s %s: %+v", call.method, call.path, name, body)
				}
			}
			if dumpTables(t, db, "indexes") != before {
				t.Errorf("%s: an index was written", name)
			}
		}
	})
}
