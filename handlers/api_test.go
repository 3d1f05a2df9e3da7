package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/handlers"
	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/ratelimit"
	"switchboard/models/tenancy"
	"switchboard/models/usage"
)

// newKey creates an API key for the scope's user and returns its secret.
func newKey(t testing.TB, db *gorm.DB, s tenancy.Scope) string {
	t.Helper()
	k, err := models.CreateAPIKey(t.Context(), db, s, "test key", models.DefaultAPIKeyTTL)
	if err != nil {
		t.Fatal(err)
	}
	return k.Secret
}

// apiCall makes one platform API request with a key ("" sends none).
func apiCall(t testing.TB, app *testApp, key, method, path, body string) *response {
	t.Helper()
	var rdr *strings.Reader
	if body != "" {
		rdr = strings.NewReader(body)
	} else {
		rdr = strings.NewReader("")
	}
	req, err := http.NewRequest(method, app.srv.URL+path, rdr)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	return app.client().do(req)
}

func decodeJSON(t testing.TB, r *response, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.Body), v); err != nil {
		t.Fatalf("not JSON (%v): %s", err, r.Body)
	}
}

// apiErrorIs asserts an API error's status and code.
func apiErrorIs(t testing.TB, r *response, status int, code string) {
	t.Helper()
	var body struct{ Code, Message string }
	if r.Code != status {
		t.Fatalf("status %d, want %d: %s", r.Code, status, r.Body)
	}
	decodeJSON(t, r, &body)
	if body.Code != code || body.Message == "" {
		t.Fatalf("error %+v, want code %s with a message", body, code)
	}
}

func TestAPIIndexLifecycle(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, u)
		key := newKey(t, db, org)

		r := apiCall(t, app, key, http.MethodPost, "/v1.3/indexes",
			`{"index_name":"lectures","models":[{"model_name":"marengo3.0","model_options":["visual","audio"]},{"model_name":"pegasus1.2","model_options":["visual"]}],"addons":["thumbnail"]}`)
		if r.Code != http.StatusCreated {
			t.Fatalf("create: %d %s", r.Code, r.Body)
		}
		var created struct {
			ID string `json:"_id"`
		}
		decodeJSON(t, r, &created)
		if len(created.ID) != 24 || strings.Trim(created.ID, "0123456789abcdef") != "" {
			t.Fatalf("_id %q is not 24 lower-case hex", created.ID)
		}
		for _, h := range []string{"X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Used", "X-Ratelimit-Reset"} {
			if r.Header.Get(h) == "" {
				t.Errorf("no %s header", h)
			}
		}

		r = apiCall(t, app, key, http.MethodGet, "/v1.3/indexes/"+created.ID, "").status(http.StatusOK)
		var idx map[string]any
		decodeJSON(t, r, &idx)
		for _, k := range []string{"_id", "index_name", "models", "video_count", "total_duration", "created_at", "updated_at"} {
			if _, ok := idx[k]; !ok {
				t.Errorf("index lacks %s: %s", k, r.Body)
			}
		}
		if !strings.Contains(r.Body, `{"model_name":"marengo3.0","model_options":["visual","audio"]}`) ||
			!strings.Contains(r.Body, `{"model_name":"pegasus1.2","model_options":["visual"]}`) {
			t.Errorf("models: %s", r.Body)
		}
		// The dashboard shows the same index.
		got, err := models.GetIndex(t.Context(), db, org, created.ID)
		if err != nil || got.Name != "lectures" {
			t.Fatalf("the dashboard does not see it: %v", err)
		}

		apiCall(t, app, key, http.MethodPut, "/v1.3/indexes/"+created.ID, `{"index_name":"lectures 2026"}`).status(http.StatusNoContent)
		apiErrorIs(t, apiCall(t, app, key, http.MethodPut, "/v1.3/indexes/"+created.ID,
			`{"index_name":"x","models":[{"model_name":"marengo3.0","model_options":["visual"]}]}`), http.StatusBadRequest, "index_option_cannot_be_changed")
		r = apiCall(t, app, key, http.MethodGet, "/v1.3/indexes/"+created.ID, "")
		if !strings.Contains(r.Body, `"index_name":"lectures 2026"`) {
			t.Fatalf("rename did not take: %s", r.Body)
		}
		if _, err := models.AddVideo(t.Context(), db, org, created.ID, models.VideoInput{Title: "Note G", URL: "https://e.com/g.mp4", DurationSeconds: "600"}); err != nil {
			t.Fatal(err)
		}
		r = apiCall(t, app, key, http.MethodGet, "/v1.3/indexes/"+created.ID+"/videos", "").status(http.StatusOK)
		if !strings.Contains(r.Body, `"filename":"Note G"`) || !strings.Contains(r.Body, `"duration":600`) || !strings.Contains(r.Body, `"total_results":1`) {
			t.Fatalf("videos: %s", r.Body)
		}
		r = apiCall(t, app, key, http.MethodDelete, "/v1.3/indexes/"+created.ID, "").status(http.StatusNoContent)
		if r.Body != "" {
			t.Errorf("delete answered a body: %q", r.Body)
		}
		apiErrorIs(t, apiCall(t, app, key, http.MethodGet, "/v1.3/indexes/"+created.ID, ""), http.StatusNotFound, "resource_not_exists")
		apiErrorIs(t, apiCall(t, app, key, http.MethodDelete, "/v1.3/indexes/"+created.ID, ""), http.StatusNotFound, "resource_not_exists")
	})
}

func TestAPIListPaging(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		_, personal := dbtest.User(t, db)
		key := newKey(t, db, personal)
		for i := 0; i < 12; i++ {
			apiCall(t, app, key, http.MethodPost, "/v1.3/indexes", `{"index_name":"ix-`+strconv.Itoa(i)+`","models":[{"model_name":"marengo3.0","model_options":["visual"]}]}`).status(http.StatusCreated)
		}
		type page struct {
			Data []struct {
				Name string `json:"index_name"`
			} `json:"data"`
			PageInfo struct {
				LimitPerPage int `json:"limit_per_page"`
				Page         int `json:"page"`
				TotalPage    int `json:"total_page"`
				TotalResults int `json:"total_results"`
			} `json:"page_info"`
		}
		var p page
		decodeJSON(t, apiCall(t, app, key, http.MethodGet, "/v1.3/indexes", "").status(http.StatusOK), &p)
		if len(p.Data) != 10 || p.PageInfo.LimitPerPage != 10 || p.PageInfo.TotalResults != 12 || p.PageInfo.TotalPage != 2 || p.Data[0].Name != "ix-11" {
			t.Fatalf("first page: %+v", p)
		}
		decodeJSON(t, apiCall(t, app, key, http.MethodGet, "/v1.3/indexes?page=3&page_limit=5&sort_option=asc", "").status(http.StatusOK), &p)
		if len(p.Data) != 2 || p.Data[0].Name != "ix-10" || p.PageInfo.Page != 3 {
			t.Fatalf("ascending page 3: %+v", p)
		}
		// Past the end: 200 with no data, so a client paging until empty stops.
		p = page{}
		decodeJSON(t, apiCall(t, app, key, http.MethodGet, "/v1.3/indexes?page=9", "").status(http.StatusOK), &p)
		if len(p.Data) != 0 || p.PageInfo.TotalResults != 12 || !strings.Contains(apiCall(t, app, key, http.MethodGet, "/v1.3/indexes?page=9", "").Body, `"data":[]`) {
			t.Fatalf("past the end: %+v", p)
		}
		// The last page there is: as empty, and still counted.
		p = page{}
		decodeJSON(t, apiCall(t, app, key, http.MethodGet, fmt.Sprintf("/v1.3/indexes?page=%d&page_limit=50", tenancy.MaxPage), "").status(http.StatusOK), &p)
		if len(p.Data) != 0 || p.PageInfo.TotalResults != 12 || p.PageInfo.Page != tenancy.MaxPage {
			t.Fatalf("far past the end: %+v", p)
		}
		decodeJSON(t, apiCall(t, app, key, http.MethodGet, "/v1.3/indexes?index_name=IX-1", "").status(http.StatusOK), &p)
		if p.PageInfo.TotalResults != 3 { // ix-1, ix-10, ix-11
			t.Fatalf("name filter: %+v", p)
		}
		for q, param := range map[string]string{
			"page=0": "page", "page=x": "page", "page_limit=51": "page_limit", "page_limit=0": "page_limit",
			// Past the last page, and so far past that the offset would not fit in 64 bits.
			fmt.Sprintf("page=%d", tenancy.MaxPage+1): "page", "page=922337203685477582": "page", "page=9223372036854775808": "page",
			"sort_by=name": "sort_by", "sort_option=up": "sort_option", "model_family=whisper": "model_family",
			"model_options=smell": "model_options", "created_at=yesterday": "created_at",
		} {
			r := apiCall(t, app, key, http.MethodGet, "/v1.3/indexes?"+q, "")
			apiErrorIs(t, r, http.StatusBadRequest, "parameter_invalid")
			if !strings.Contains(r.Body, param) {
				t.Errorf("%s: the message does not name %s: %s", q, param, r.Body)
			}
		}
		apiErrorIs(t, apiCall(t, app, key, http.MethodGet, "/v1.3/indexes?colour=red", ""), http.StatusBadRequest, "parameter_unknown")
	})
}

func TestAPIRefusesBadInputAndWritesNothing(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		_, personal := dbtest.User(t, db)
		key := newKey(t, db, personal)
		apiCall(t, app, key, http.MethodPost, "/v1.3/indexes", `{"index_name":"taken","models":[{"model_name":"marengo3.0","model_options":["visual"]}]}`).status(http.StatusCreated)
		cases := []struct{ body, code, mentions string }{
			{`{"index_name":"x","models":[{"model_name":"marengo3.0","model_options":["visual"]}],`, "parameter_invalid", "JSON"},
			{`[1,2]`, "parameter_invalid", "JSON object"},
			{`"text"`, "parameter_invalid", "JSON object"},
			{``, "parameter_not_provided", "body"},
			{`{"index_name":"x","models":[{"model_name":"marengo3.0","model_options":["visual"]}],"colour":"red"}`, "parameter_unknown", "colour"},
			{`{"index_name":42,"models":[{"model_name":"marengo3.0","model_options":["visual"]}]}`, "parameter_invalid", "index_name"},
			{`{"models":[{"model_name":"marengo3.0","model_options":["visual"]}]}`, "parameter_not_provided", "index_name"},
			{`{"index_name":"x"}`, "parameter_not_provided", "models"},
			{`{"index_name":"x","models":[]}`, "parameter_not_provided", "models"},
			{`{"index_name":"x","models":"marengo"}`, "parameter_invalid", "models"},
			{`{"index_name":"x","models":[{"model_name":"marengo2.7","model_options":["visual"]}]}`, "parameter_invalid", "model_name"},
			{`{"index_name":"x","models":[{"model_name":"marengo3.0","model_options":["smell"]}]}`, "parameter_invalid", "model_options"},
			{`{"index_name":"x","models":[{"model_name":"marengo3.0","model_options":[]}]}`, "parameter_invalid", "model_options"},
			{`{"index_name":"x","models":[{"model_name":"marengo3.0"}]}`, "parameter_not_provided", "model_options"},
			{`{"index_name":"x","models":[{"model_name":"marengo3.0","model_options":["visual"]},{"model_name":"marengo3.0","model_options":["audio"]}]}`, "parameter_invalid", "twice"},
			{`{"index_name":"","models":[{"model_name":"marengo3.0","model_options":["visual"]}]}`, "parameter_invalid", "index_name"},
			{`{"index_name":"x","models":[{"model_name":"marengo3.0","model_options":["visual"]}],"addons":["confetti"]}`, "parameter_invalid", "addons"},
			{`{"index_name":"TAKEN","models":[{"model_name":"marengo3.0","model_options":["visual"]}]}`, "index_name_already_exists", "TAKEN"},
		}
		for _, tc := range cases {
			r := apiCall(t, app, key, http.MethodPost, "/v1.3/indexes", tc.body)
			apiErrorIs(t, r, http.StatusBadRequest, tc.code)
			if !strings.Contains(r.Body, tc.mentions) {
				t.Errorf("%.60s: message lacks %q: %s", tc.body, tc.mentions, r.Body)
			}
		}
		// Over the API's limit, and over the router's limit for every
		// request: the same 413, in the API's shape.
		for _, size := range []int{70 << 10, 2 << 20} {
			body := `{"index_name":"` + strings.Repeat("x", size) + `"}`
			for _, call := range []struct{ method, path string }{{http.MethodPost, "/v1.3/indexes"}, {http.MethodPut, "/v1.3/indexes/" + strings.Repeat("a", 24)}} {
				r := apiCall(t, app, key, call.method, call.path, body)
				apiErrorIs(t, r, http.StatusRequestEntityTooLarge, "request_too_large")
				if !strings.Contains(r.Body, "larger than 64 KiB") || r.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("%s %s with %d bytes: %s (Cache-Control %q)", call.method, call.path, size, r.Body, r.Header.Get("Cache-Control"))
				}
			}
		}
		list, _, err := models.ListIndexesForAPI(t.Context(), db, personal, models.APIIndexQuery{Page: 1, Limit: 50})
		if err != nil || len(list) != 1 {
			t.Fatalf("refused requests wrote indexes: %d %v", len(list), err)
		}
		apiErrorIs(t, apiCall(t, app, key, http.MethodGet, "/v1.3/indexes/not-an-id", ""), http.StatusBadRequest, "parameter_invalid")
		apiErrorIs(t, apiCall(t, app, key, http.MethodPut, "/v1.3/indexes/"+list[0].PublicID, `{}`), http.StatusBadRequest, "parameter_not_provided")
		apiErrorIs(t, apiCall(t, app, key, http.MethodPut, "/v1.3/indexes/"+list[0].PublicID, `{"index_name":"y","colour":1}`), http.StatusBadRequest, "parameter_unknown")
		apiErrorIs(t, apiCall(t, app, key, http.MethodGet, "/v1.3/nope", ""), http.StatusNotFound, "endpoint_not_exists")
		apiErrorIs(t, apiCall(t, app, key, http.MethodPatch, "/v1.3/indexes", ""), http.StatusMethodNotAllowed, "method_not_allowed")
	})
}

func TestAPIKeysAreCheckedOnEveryRequest(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		for _, k := range []string{"", "nope", models.APIKeyPrefix + "wrong"} {
			apiErrorIs(t, apiCall(t, app, k, http.MethodGet, "/v1.3/indexes", ""), http.StatusUnauthorized, "api_key_invalid")
		}
		admin, _, ac := orgAdmin(t, app)
		org, _ := tenancy.LoadScope(t.Context(), db, admin.ID, activeAccountID(t, ac))
		m, mc := app.member(t, org, tenancy.RoleMember)
		// Keys through the dashboard: shown once, then only their prefix.
		page := mc.post("/settings/api-keys", url.Values{"name": {"Build robot"}}).status(http.StatusOK)
		secret := strings.TrimSpace(page.doc().Find("#new-api-key").Text())
		if !strings.HasPrefix(secret, models.APIKeyPrefix) || len(secret) < 40 {
			t.Fatalf("new key %q", secret)
		}
		if strings.Contains(mc.get("/settings/api-keys").Body, secret) {
			t.Fatal("the secret is shown again")
		}
		apiCall(t, app, secret, http.MethodGet, "/v1.3/indexes", "").status(http.StatusOK)
		// Keys belong to their owner: the administrator does not see or touch them.
		ac.get("/settings/api-keys").lacks("Build robot")
		keys, _ := models.ListAPIKeys(t.Context(), db, mustScope(t, db, m, org))
		ac.post("/settings/api-keys/"+keys[0].PublicID+"/revoke", nil, "/settings/api-keys").status(http.StatusNotFound)
		apiCall(t, app, secret, http.MethodGet, "/v1.3/indexes", "").status(http.StatusOK)
		// Regenerate: the old secret stops at once.
		regen := mc.post("/settings/api-keys/"+keys[0].PublicID+"/regenerate", nil, "/settings/api-keys").status(http.StatusOK)
		fresh := strings.TrimSpace(regen.doc().Find("#new-api-key").Text())
		apiErrorIs(t, apiCall(t, app, secret, http.MethodGet, "/v1.3/indexes", ""), http.StatusUnauthorized, "api_key_invalid")
		apiCall(t, app, fresh, http.MethodGet, "/v1.3/indexes", "").status(http.StatusOK)
		// Removal revokes the member's keys for the organization.
		ac.post("/settings/members/"+m.PublicID+"/remove", nil, "/settings/members").redirectsTo("/settings/members")
		apiErrorIs(t, apiCall(t, app, fresh, http.MethodGet, "/v1.3/indexes", ""), http.StatusUnauthorized, "api_key_invalid")
		// Revoking through the dashboard works on the next request; expired keys are refused and listed as such.
		own := ac.post("/settings/api-keys", url.Values{"name": {"Mine"}}).status(http.StatusOK)
		mine := strings.TrimSpace(own.doc().Find("#new-api-key").Text())
		adminKeys, _ := models.ListAPIKeys(t.Context(), db, org)
		dbtest.Plain(t, db).Exec("UPDATE api_keys SET expires_at = created_at WHERE id = ?", adminKeys[0].ID)
		apiErrorIs(t, apiCall(t, app, mine, http.MethodGet, "/v1.3/indexes", ""), http.StatusUnauthorized, "api_key_invalid")
		ac.get("/settings/api-keys").contains("Expired")
		ac.post("/settings/api-keys/"+adminKeys[0].PublicID+"/revoke", nil, "/settings/api-keys").redirectsTo("/settings/api-keys")
		ac.get("/settings/api-keys").contains("Revoked")
		ac.post("/settings/api-keys", url.Values{"name": {""}}).status(http.StatusUnprocessableEntity)
	})
}

// The page states the key lifetime the server is configured with, and the
// keys it makes carry it.
func TestAPIKeysPageStatesTheConfiguredLifetime(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db, func(cfg *handlers.Config) { cfg.APIKeyTTL = 30 * 24 * time.Hour })
		_, _, c := app.user(t)
		in30 := func() string { return time.Now().UTC().Add(30 * 24 * time.Hour).Format("Jan 2, 2006") }
		before := in30()
		page := c.post("/settings/api-keys", url.Values{"name": {"Thirty days"}}).status(http.StatusOK)
		after := in30() // the same day unless midnight passed in between
		page.contains("Keys expire 30 days after").lacks("90 days")
		if got := page.doc().Find(`[data-testid="key-table"] tbody tr td`).Eq(3).Text(); got != before && got != after {
			t.Errorf("the key expires %q, want %q", got, after)
		}
	})
}

// TestAPIListIsKeptButNeverStale: an unfiltered list is kept in memory per
// account and key holder (tenancy.Kept), and every change shows on the next
// request: a create, rename, video or delete through this server at once,
// a raw change made elsewhere as soon as its news arrives. Another member's
// key (of the same role: a member's private index is not another's) and
// another account, asking for the same page, get their own; a removed
// member's key is refused though its list was kept.
func TestAPIListIsKeptButNeverStale(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		f := dbtest.NewOrgFixture(t, db)
		adminKey, memberKey, member2Key, otherKey := newKey(t, db, f.Admin), newKey(t, db, f.Member), newKey(t, db, f.Member2), newKey(t, db, f.Other)
		// list is the first page's "name/videos" entries and total.
		list := func(key string) string {
			t.Helper()
			var p struct {
				Data []struct {
					Name   string `json:"index_name"`
					Videos int    `json:"video_count"`
				} `json:"data"`
				PageInfo struct {
					TotalResults int `json:"total_results"`
				} `json:"page_info"`
			}
			decodeJSON(t, apiCall(t, app, key, http.MethodGet, "/v1.3/indexes", "").status(http.StatusOK), &p)
			var out []string
			for _, d := range p.Data {
				out = append(out, fmt.Sprintf("%s/%d", d.Name, d.Videos))
			}
			return fmt.Sprintf("%v total %d", out, p.PageInfo.TotalResults)
		}
		want := func(key, want string) {
			t.Helper()
			for range 2 { // the second answer is the kept one
				if got := list(key); got != want {
					t.Fatalf("list %s, want %s", got, want)
				}
			}
		}
		want(adminKey, "[] total 0")
		want(memberKey, "[] total 0")
		want(member2Key, "[] total 0")
		want(otherKey, "[] total 0")

		var created struct {
			ID string `json:"_id"`
		}
		decodeJSON(t, apiCall(t, app, adminKey, http.MethodPost, "/v1.3/indexes", `{"index_name":"lectures","models":[{"model_name":"marengo3.0","model_options":["visual"]}]}`).status(http.StatusCreated), &created)
		want(adminKey, "[lectures/0] total 1")
		want(memberKey, "[lectures/0] total 1")
		want(otherKey, "[] total 0")

		dbtest.NewIndex(t, db, f.Member, "secret", "private")
		want(memberKey, "[secret/0 lectures/0] total 2")
		want(member2Key, "[lectures/0] total 1")
		want(adminKey, "[lectures/0] total 1")

		apiCall(t, app, adminKey, http.MethodPut, "/v1.3/indexes/"+created.ID, `{"index_name":"lectures 2026"}`).status(http.StatusNoContent)
		want(adminKey, "[lectures 2026/0] total 1")
		if _, err := models.AddVideo(t.Context(), db, f.Admin, created.ID, models.VideoInput{Title: "Note G", URL: "https://e.com/g.mp4", DurationSeconds: "600"}); err != nil {
			t.Fatal(err)
		}
		want(adminKey, "[lectures 2026/1] total 1")

		// A change the server does not make: heard through the database's
		// news, within moments.
		dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE indexes SET name = 'renamed elsewhere', name_key = 'renamed elsewhere' WHERE public_id = ?", created.ID).Error)
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			got := list(adminKey)
			if got == "[renamed elsewhere/1] total 1" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("5 s after a rename elsewhere the list is %s", got)
			}
		}

		apiCall(t, app, adminKey, http.MethodDelete, "/v1.3/indexes/"+created.ID, "").status(http.StatusNoContent)
		want(adminKey, "[] total 0")
		want(memberKey, "[secret/0] total 1")

		// A member removed while their key's list is kept: the very next
		// request is refused, the list never reached.
		want(member2Key, "[] total 0")
		_, err := models.RemoveMember(t.Context(), db, f.Admin, f.Member2User.PublicID, dbtest.ActorOf(f.AdminUser))
		dbtest.Must(t, err)
		apiErrorIs(t, apiCall(t, app, member2Key, http.MethodGet, "/v1.3/indexes", ""), http.StatusUnauthorized, "api_key_invalid")
		want(memberKey, "[secret/0] total 1")
	})
}

func TestAPIPrivateIndexesOnlyForTheirCreatorsKeys(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		admin, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, admin)
		m, _ := dbtest.User(t, db)
		ms := dbtest.AddMember(t, db, org, m, tenancy.RoleMember)
		priv, err := models.CreateIndex(t.Context(), db, ms, models.IndexInput{Name: "secret", Models: []string{"marengo"}, MarengoOptions: []string{"visual"}, Visibility: "private"})
		if err != nil {
			t.Fatal(err)
		}
		adminKey, memberKey := newKey(t, db, org), newKey(t, db, ms)
		apiCall(t, app, memberKey, http.MethodGet, "/v1.3/indexes/"+priv.PublicID, "").status(http.StatusOK)
		apiErrorIs(t, apiCall(t, app, adminKey, http.MethodGet, "/v1.3/indexes/"+priv.PublicID, ""), http.StatusNotFound, "resource_not_exists")
		apiErrorIs(t, apiCall(t, app, adminKey, http.MethodDelete, "/v1.3/indexes/"+priv.PublicID, ""), http.StatusNotFound, "resource_not_exists")
		apiErrorIs(t, apiCall(t, app, adminKey, http.MethodGet, "/v1.3/indexes/"+priv.PublicID+"/videos", ""), http.StatusNotFound, "resource_not_exists")
		if strings.Contains(apiCall(t, app, adminKey, http.MethodGet, "/v1.3/indexes", "").Body, "secret") {
			t.Fatal("the administrator's key lists another member's private index")
		}
	})
}

func TestAPIRateLimitIsSharedByTheOrganization(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		admin, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, admin)
		m, _ := dbtest.User(t, db)
		ms := dbtest.AddMember(t, db, org, m, tenancy.RoleMember)
		five := int64(5)
		if _, err := ratelimit.SetAccountLimits(t.Context(), db, org.Account().PublicID, &five, nil); err != nil {
			t.Fatal(err)
		}
		keys := []string{newKey(t, db, org), newKey(t, db, ms), newKey(t, db, ms)}
		earlyInAMinute()
		for i := 0; i < 5; i++ {
			r := apiCall(t, app, keys[i%3], http.MethodGet, "/v1.3/indexes", "").status(http.StatusOK)
			if got := r.Header.Get("X-Ratelimit-Remaining"); got != strconv.Itoa(4-i) {
				t.Errorf("request %d: remaining %s", i, got)
			}
		}
		r := apiCall(t, app, keys[1], http.MethodPost, "/v1.3/indexes", `{"index_name":"late","models":[{"model_name":"marengo3.0","model_options":["visual"]}]}`)
		apiErrorIs(t, r, http.StatusTooManyRequests, "too_many_requests")
		retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || retry < 1 || retry > 61 || r.Header.Get("X-Ratelimit-Remaining") != "0" || r.Header.Get("X-Ratelimit-Limit") != "5" {
			t.Fatalf("429 headers: %v", r.Header)
		}
		if list, _, _ := models.ListIndexesForAPI(t.Context(), db, ms, models.APIIndexQuery{Page: 1, Limit: 10}); len(list) != 0 {
			t.Fatal("a refused request created an index")
		}
		// The member's personal account has its own budget.
		_, personal := dbtest.User(t, db)
		apiCall(t, app, newKey(t, db, personal), http.MethodGet, "/v1.3/indexes", "").status(http.StatusOK)
		// The dashboard shows the budget and today's use.
		c := app.client()
		c.signIn(admin.Email)
		c.switchTo(org.Account().PublicID)
		limits := c.get("/settings/api-keys").status(http.StatusOK).doc().Find(`[data-testid="rate-limits"]`)
		if got := strings.TrimSpace(limits.Find(`[data-testid="used-today"]`).Text()); got != "5" {
			t.Errorf("used today %q, want 5", got)
		}
		// Usage was recorded per member and category, in batches.
		if err := app.usage.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		var n int64
		dbtest.Plain(t, db).Raw("SELECT COALESCE(SUM(quantity), 0) FROM usage_daily WHERE account_id = ? AND metric = ?", org.AccountID(), usage.MetricAPIRequests).Scan(&n)
		if n != 5 {
			t.Fatalf("%d API requests recorded, want 5 (refused ones are not)", n)
		}
	})
}

// A request is billed once it is answered, and only if the answer is no
// server error: a 200, a 404 and a 400 count, a 500 (the database refuses
// the new index) does not, nor does the limiter's own 429. Every request the
// limiter admits still takes from the budget, whatever its answer.
func TestAPIUsageBillsAnswersBelow500(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		admin, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, admin)
		five := int64(5)
		if _, err := ratelimit.SetAccountLimits(t.Context(), db, org.Account().PublicID, &five, nil); err != nil {
			t.Fatal(err)
		}
		key := newKey(t, db, org)
		earlyInAMinute()
		apiCall(t, app, key, http.MethodGet, "/v1.3/indexes", "").status(http.StatusOK)
		apiErrorIs(t, apiCall(t, app, key, http.MethodGet, "/v1.3/indexes/0123456789abcdef01234567", ""), http.StatusNotFound, "resource_not_exists")
		apiErrorIs(t, apiCall(t, app, key, http.MethodGet, "/v1.3/indexes?page=0", ""), http.StatusBadRequest, "parameter_invalid")
		dbtest.FailOn(t, db, "INSERT", "indexes")
		r := apiCall(t, app, key, http.MethodPost, "/v1.3/indexes", `{"index_name":"doomed","models":[{"model_name":"marengo3.0","model_options":["visual"]}]}`)
		apiErrorIs(t, r, http.StatusInternalServerError, "internal_error")
		if got := r.Header.Get("X-Ratelimit-Remaining"); got != "1" {
			t.Errorf("after the failed request %s of 5 remain, want 1", got)
		}
		apiCall(t, app, key, http.MethodGet, "/v1.3/indexes", "").status(http.StatusOK)
		apiErrorIs(t, apiCall(t, app, key, http.MethodGet, "/v1.3/indexes", ""), http.StatusTooManyRequests, "too_many_requests")

		dbtest.Must(t, app.usage.Flush(t.Context()))
		var rows []struct {
			Category string
			Quantity int64
		}
		dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT category, SUM(quantity) AS quantity FROM usage_daily WHERE account_id = ? AND metric = ? GROUP BY category ORDER BY category",
			org.AccountID(), usage.MetricAPIRequests).Scan(&rows).Error)
		if len(rows) != 1 || rows[0].Category != "indexes.read" || rows[0].Quantity != 4 {
			t.Fatalf("billed %+v, want indexes.read 4 and nothing else (not the 500, not the 429)", rows)
		}
	})
}

// activeAccountID is the public ID of the client's active account.
func activeAccountID(t testing.TB, c *client) string {
	t.Helper()
	id, _ := c.get("/").doc().Find(`input[name="_account"]`).First().Attr("value")
	return id
}

func mustScope(t testing.TB, db *gorm.DB, u models.User, in tenancy.Scope) tenancy.Scope {
	t.Helper()
	s, err := tenancy.LoadScope(t.Context(), db, u.ID, in.Account().PublicID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// apiServer runs the router on db with a rate limiter (the router's default
// when nil) and returns its URL.
func apiServer(t *testing.T, db *gorm.DB, limiter ratelimit.RateLimiter) string {
	t.Helper()
	return newApp(t, db, func(cfg *handlers.Config) { cfg.RateLimiter = limiter }).srv.URL
}

// TestAPIRateLimitIsExactAcrossServers sends 300 concurrent requests from
// several keys of one organization to two server instances sharing the
// database, with a budget of 100: exactly 100 pass. Each instance queues
// its own requests per account; the two count against each other only
// through the database.
func TestAPIRateLimitIsExactAcrossServers(t *testing.T) {
	t.Parallel()
	run := exactAcrossServers
	t.Run("postgres", func(t *testing.T) {
		dsn := dbtest.PostgresURL(t)
		run(t, dbtest.Open(t, dsn), dbtest.Open(t, dsn))
	})
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "shared.db")
		dbA := dbtest.Open(t, path)
		if err := tenancy.Migrate(t.Context(), dbA); err != nil {
			t.Fatal(err)
		}
		run(t, dbA, dbtest.Open(t, path))
	})
}

func exactAcrossServers(t *testing.T, dbA, dbB *gorm.DB) {
	earlyInAMinute()
	urlA, urlB := apiServer(t, dbA, nil), apiServer(t, dbB, nil)
	admin, _ := dbtest.User(t, dbA)
	org := dbtest.Org(t, dbA, admin)
	hundred := int64(100)
	if _, err := ratelimit.SetAccountLimits(t.Context(), dbA, org.Account().PublicID, &hundred, nil); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := 0; i < 3; i++ {
		m, _ := dbtest.User(t, dbA)
		keys = append(keys, newKey(t, dbA, dbtest.AddMember(t, dbA, org, m, tenancy.RoleMember)))
	}
	keys = append(keys, newKey(t, dbA, org))
	var wg sync.WaitGroup
	var ok, limited, other atomic.Int64
	start := make(chan struct{})
	for i := 0; i < 300; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			url := urlA
			if i%2 == 1 {
				url = urlB
			}
			<-start
			req, _ := http.NewRequest(http.MethodGet, url+"/v1.3/indexes", nil)
			req.Header.Set("x-api-key", keys[i%len(keys)])
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				other.Add(1)
				return
			}
			res.Body.Close()
			switch res.StatusCode {
			case http.StatusOK:
				ok.Add(1)
			case http.StatusTooManyRequests:
				limited.Add(1)
			default:
				other.Add(1)
			}
		}(i)
	}
	close(start)
	wg.Wait()
	if ok.Load() != 100 || limited.Load() != 200 || other.Load() != 0 {
		t.Fatalf("%d passed, %d limited, %d failed; want exactly 100 passed and 200 limited", ok.Load(), limited.Load(), other.Load())
	}
}

// Add-ons are kept as created and shown on retrieve and list; expires_at is
// there, null: indexes here do not expire.
func TestAPIIndexAddonsAndExpiry(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		_, personal := dbtest.User(t, db)
		key := newKey(t, db, personal)
		create := func(body string) string {
			t.Helper()
			var created struct {
				ID string `json:"_id"`
			}
			decodeJSON(t, apiCall(t, app, key, http.MethodPost, "/v1.3/indexes", body).status(http.StatusCreated), &created)
			return created.ID
		}
		withThumbs := create(`{"index_name":"thumbs","models":[{"model_name":"marengo3.0","model_options":["visual"]}],"addons":["thumbnail","thumbnail"]}`)
		plain := create(`{"index_name":"plain","models":[{"model_name":"marengo3.0","model_options":["visual"]}]}`)
		emptyList := create(`{"index_name":"empty","models":[{"model_name":"marengo3.0","model_options":["visual"]}],"addons":[]}`)
		type index struct {
			ID        string          `json:"_id"`
			Addons    []string        `json:"addons"`
			ExpiresAt json.RawMessage `json:"expires_at"`
		}
		want := map[string][]string{withThumbs: {"thumbnail"}, plain: {}, emptyList: {}}
		for id, addons := range want {
			var got index
			r := apiCall(t, app, key, http.MethodGet, "/v1.3/indexes/"+id, "").status(http.StatusOK)
			decodeJSON(t, r, &got)
			if !slices.Equal(got.Addons, addons) || got.Addons == nil || string(got.ExpiresAt) != "null" {
				t.Errorf("retrieve %s: addons %q, expires_at %s; want %q and null: %s", id, got.Addons, got.ExpiresAt, addons, r.Body)
			}
		}
		var page struct {
			Data []index `json:"data"`
		}
		r := apiCall(t, app, key, http.MethodGet, "/v1.3/indexes", "").status(http.StatusOK)
		decodeJSON(t, r, &page)
		if len(page.Data) != 3 {
			t.Fatalf("list: %s", r.Body)
		}
		for _, got := range page.Data {
			if !slices.Equal(got.Addons, want[got.ID]) || got.Addons == nil || string(got.ExpiresAt) != "null" {
				t.Errorf("list %s: addons %q, expires_at %s; want %q and null", got.ID, got.Addons, got.ExpiresAt, want[got.ID])
			}
		}
	})
}

// created_at and updated_at filter on "that date, at or after that time": a
// date alone is its whole UTC day; a date and time runs from that instant to
// the end of its UTC day.
func TestAPIListFiltersByDateAndTime(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		_, personal := dbtest.User(t, db)
		key := newKey(t, db, personal)
		day := time.Date(2024, 8, 16, 0, 0, 0, 0, time.UTC)
		stamps := []struct {
			name             string
			created, updated time.Time
		}{
			{"early", day.Add(1 * time.Hour), day.Add(20 * time.Hour)},
			{"noon", day.Add(12 * time.Hour), day.Add(24*time.Hour + time.Hour)},
			{"late", day.Add(23 * time.Hour), day.Add(23 * time.Hour)},
			{"next day", day.Add(24*time.Hour + 30*time.Minute), day.Add(24*time.Hour + 30*time.Minute)},
			{"day before", day.Add(-time.Minute), day.Add(-time.Minute)},
		}
		for _, st := range stamps {
			var created struct {
				ID string `json:"_id"`
			}
			decodeJSON(t, apiCall(t, app, key, http.MethodPost, "/v1.3/indexes",
				`{"index_name":"`+st.name+`","models":[{"model_name":"marengo3.0","model_options":["visual"]}]}`).status(http.StatusCreated), &created)
			if err := dbtest.Plain(t, db).Exec("UPDATE indexes SET created_at = ?, updated_at = ? WHERE public_id = ?", st.created, st.updated, created.ID).Error; err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			query string
			want  []string // oldest first
		}{
			{"created_at=2024-08-16", []string{"early", "noon", "late"}},
			{"created_at=2024-08-16T00:00:00Z", []string{"early", "noon", "late"}},
			{"created_at=2024-08-16T12:00:00Z", []string{"noon", "late"}},
			{"created_at=2024-08-16T12:00:00.000001Z", []string{"late"}},
			{"created_at=2024-08-16T21:00:00%2B09:00", []string{"noon", "late"}}, // 12:00 UTC
			{"created_at=2024-08-16T22:00:00-02:00", []string{"next day"}},       // 00:00 UTC on the 17th
			{"created_at=2024-08-16T23:30:00Z", nil},
			{"created_at=2024-08-17", []string{"next day"}},
			{"updated_at=2024-08-16", []string{"early", "late"}},
			{"updated_at=2024-08-16T21:00:00Z", []string{"late"}},
			{"updated_at=2024-08-17T00:30:00Z", []string{"noon", "next day"}},
			{"created_at=2024-08-16T10:00:00Z&updated_at=2024-08-17", []string{"noon"}},
		} {
			var page struct {
				Data []struct {
					Name string `json:"index_name"`
				} `json:"data"`
				PageInfo struct {
					TotalResults int `json:"total_results"`
				} `json:"page_info"`
			}
			r := apiCall(t, app, key, http.MethodGet, "/v1.3/indexes?sort_option=asc&"+tc.query, "").status(http.StatusOK)
			decodeJSON(t, r, &page)
			var got []string
			for _, d := range page.Data {
				got = append(got, d.Name)
			}
			if !slices.Equal(got, tc.want) || page.PageInfo.TotalResults != len(tc.want) {
				t.Errorf("%s: got %q (total %d), want %q", tc.query, got, page.PageInfo.TotalResults, tc.want)
			}
		}
	})
}
