package handlers_test

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"switchboard/handlers"
	"switchboard/handlers/idptest"
	"switchboard/models"
	"switchboard/models/billing"
	"switchboard/models/dbtest"
	"switchboard/models/scim"
	"switchboard/models/sso"
	"switchboard/models/tenancy"
)

// hostile are the values every path parameter and every form and query
// field is tried with. The router refuses some in any path parameter,
// before a handler sees them; the others reach the handlers, which look
// them up.
var hostile = []struct {
	name, value   string
	refusedInPath bool
}{
	{"NUL", "a\x00b", true},
	{"invalid UTF-8", "\xff\xfe", true},
	{"100 KB", strings.Repeat("x", 100<<10), true},
	{"-1", "-1", false},
	{"2^63", "9223372036854775808", false},
	{"bidi override", "\u202eexe.txt", true},
}

// apiQueryParams are the query parameters the platform API documents; each
// is tried alone, so that the refusal of unknown parameters does not hide
// what the others do.
var apiQueryParams = []string{"page", "page_limit", "sort_by", "sort_option", "index_name", "model_options", "model_family", "created_at", "updated_at", "filename"}

// refusesPlainGet are the pages that answer a plain GET with a refusal,
// by route name: the end of an SSO sign-in needs one under way in the
// browser.
var refusesPlainGet = map[string]int{"sso.complete": http.StatusForbidden}

// foreignFields are fields that other parties post to the dashboard: the
// identity provider's response form.
var foreignFields = []string{"SAMLResponse", "RelayState"}

// maxRequestText keeps a request's fields under the router's body limit
// (1 MB) and Go's header limit (1 MiB and a little), with room for the
// guard fields; the long value's fields are split over requests.
const maxRequestText = 1_000_000 - 8<<10

var templFieldName = regexp.MustCompile(`\bname="([^"]+)"|\bName:\s*"([^"]+)"|@Checkbox\("([^"]+)"`)

// templFields is every field name the views' templates spell out: name="…"
// attributes, Name: "…" props of the field components and checkboxes.
func templFields(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../views/*.templ")
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates found: %v", err)
	}
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range templFieldName.FindAllStringSubmatch(string(b), -1) {
			names = append(names, m[1]+m[2]+m[3])
		}
	}
	return names
}

// TestNoInputMakesA500 walks every route the router has, as an
// administrator of an organization (and, for the API, with its key), with
// hostile values in each path parameter and in every form and query field
// the dashboard has: no answer may be a 5xx, and an answer of 400 or more
// must have written nothing. The routes come from the router, the fields
// from the templates and the pages, so new ones are walked too.
func TestNoInputMakesA500(t *testing.T) {
	t.Parallel()
	fromTempl := templFields(t)
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		start := time.Now()
		w := newWalker(t, db)
		routes := w.app.e.Routes()
		sort.Slice(routes, func(i, j int) bool {
			if routes[i].Path != routes[j].Path {
				return routes[i].Path < routes[j].Path
			}
			return routes[i].Method < routes[j].Method
		})
		w.world = w.newWorld(t)
		for _, r := range routes {
			for _, k := range paramKeys(r.Path) {
				if _, ok := w.world.ids[k]; !ok {
					t.Errorf("%s %s: the walk's world has nothing for %s; give newWorld one", r.Method, r.Path, k)
				}
			}
		}

		// Every page, in a world with one of everything, must render; its
		// forms name more fields (names the templates compute).
		fields := map[string]bool{}
		for _, n := range append(fromTempl, foreignFields...) {
			fields[n] = true
		}
		for _, r := range routes {
			if r.Method != http.MethodGet || isAPIPath(r.Path) || isSCIMPath(r.Path) {
				continue
			}
			res := w.request(t, r, w.fill(r.Path), nil, "as the world has it")
			if res.Code >= 400 && res.Code != refusesPlainGet[r.Name] {
				w.fail(t, "GET %s in the walk's world: %d; the walk would test only its refusals", r.Path, res.Code)
			}
			if strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
				doc := res.doc()
				doc.Find("input[name], select[name], textarea[name], button[name]").Each(func(_ int, s *goquery.Selection) {
					n, _ := s.Attr("name")
					fields[n] = true
				})
				// A label, an error or a script finds the first of two
				// elements with one id: the second field is unlabelled.
				if dups := duplicateIDs(doc); len(dups) > 0 {
					w.fail(t, "GET %s in the walk's world: ids used more than once: %s", r.Path, strings.Join(dups, ", "))
				}
			}
		}
		delete(fields, "_csrf")
		delete(fields, "_account")
		names := slices.Sorted(maps.Keys(fields))
		t.Logf("%d routes, %d form fields: %s", len(routes), len(names), strings.Join(names, " "))

		for _, r := range routes {
			if len(paramKeys(r.Path)) > 0 {
				for _, h := range hostile {
					res := w.request(t, r, w.fillWith(r.Path, h.value), nil, "path parameters: "+h.name)
					if h.refusedInPath && res.Code < 500 {
						w.refusedParam(t, r, h.name, res)
					}
				}
			}
			switch {
			case isAPIPath(r.Path):
				w.apiFields(t, r)
			case isSCIMPath(r.Path):
				w.scimFields(t, r)
			case r.Method == http.MethodDelete:
			default:
				w.fields(t, r, names, "fields")
				// Pages a visitor may use (sign-up, sign-in, email links,
				// SSO) take what visitors send as well.
				w.visitor = true
				if res := w.request(t, r, w.fill(r.Path), nil, "visitor"); !strings.HasPrefix(res.Location(), "/signin") {
					w.fields(t, r, names, "visitor's fields")
				}
				w.visitor = false
			}
		}
		t.Logf("%d requests, %d worlds in %s", w.requests, w.worlds, time.Since(start).Round(time.Millisecond))
	})
}

// fields sends the hostile values in every field of names.
func (w *walker) fields(t *testing.T, r *echo.Route, names []string, what string) {
	t.Helper()
	for _, h := range hostile {
		for _, part := range split(names, h.value) {
			form := url.Values{}
			for _, n := range part {
				form.Set(n, h.value)
			}
			res := w.request(t, r, w.fill(r.Path), form, what+": "+h.name)
			if res.Code == http.StatusRequestEntityTooLarge || res.Code == http.StatusRequestHeaderFieldsTooLarge {
				w.fail(t, "%s %s: the walk's own request is over the router's limits (%d); lower maxRequestText", r.Method, r.Path, res.Code)
			}
		}
	}
}

// paramKeys names a route's path parameters by the segment before each:
// "indexes/:id", "static/*".
func paramKeys(path string) []string {
	var keys []string
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if i > 0 && (strings.HasPrefix(s, ":") || s == "*") {
			keys = append(keys, segs[i-1]+"/"+s)
		}
	}
	return keys
}

// split groups field names so that each group's request stays under the
// router's limits with value in every field.
func split(names []string, value string) [][]string {
	per := max(1, maxRequestText/(len(url.QueryEscape(value))+24))
	var out [][]string
	for from := 0; from < len(names); from += per {
		out = append(out, names[from:min(from+per, len(names))])
	}
	return out
}

func isAPIPath(p string) bool { return strings.HasPrefix(p, "/v1.3/") }

func isSCIMPath(p string) bool { return strings.HasPrefix(p, "/scim/v2/") }

// walker sends the walk's requests in a world: an organization with one of
// everything that has a URL, its administrator signed in. A request that
// changed something (an answer under 400 to anything but a GET) spends the
// world; the next request gets a new one.
type walker struct {
	app      *testApp
	signer   *testApp
	db       *gorm.DB
	metadata string
	tables   []string
	world    *world
	counts   map[string]int64
	visitor  bool // send as a visitor rather than as the administrator
	requests int
	worlds   int
	failures int
}

type world struct {
	c, visitorC         *client
	guard, visitorGuard url.Values
	key                 string
	scimToken           string
	ids                 map[string]string // path parameter values by "segment/:name"
}

func newWalker(t *testing.T, db *gorm.DB) *walker {
	// At a domain name, so that passkeys are on and their routes walked.
	w := &walker{app: newApp(t, db, func(c *handlers.Config) { c.BaseURL = strings.Replace(c.BaseURL, "127.0.0.1", "localhost", 1) }), db: db}
	// Worlds sign in through a second router on the same database: the
	// walk's failed sign-ins slow down sign-ins from this address on the
	// first one, by design. Cookies do not tell ports apart, so the
	// session is the same on both.
	w.signer = newApp(t, db)
	w.metadata = idptest.New(t).Metadata()
	tables, err := dbtest.Plain(t, db).Migrator().GetTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, tbl := range tables {
		if tbl != "goose_db_version" && !strings.HasPrefix(tbl, "sqlite_") {
			w.tables = append(w.tables, tbl)
		}
	}
	sort.Strings(w.tables)
	return w
}

// newWorld builds an organization with a member, an index with a video,
// an integration, an API key, an invitation, an invoice, an SSO connection
// and a connection test, plus email links, a passkey and the
// authenticator app for its administrator, and signs the administrator in
// there; a visitor gets the forms' CSRF token.
func (w *walker) newWorld(t *testing.T) *world {
	t.Helper()
	w.worlds++
	ctx, db := t.Context(), w.db
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	admin, _ := dbtest.User(t, db)
	org := dbtest.Org(t, db, admin)
	// The walk's API requests must not run into the Free plan's limits.
	must(dbtest.Plain(t, db).Exec("UPDATE accounts SET rate_per_minute = ?, rate_per_day = ? WHERE id = ?", 1<<30, 1<<30, org.AccountID()).Error)
	member, _ := dbtest.User(t, db)
	dbtest.AddMember(t, db, org, member, tenancy.RoleMember)
	actor := tenancy.Actor{UserID: admin.ID, Name: admin.Name, IP: "127.0.0.1"}
	idx, err := models.CreateIndex(ctx, db, org, models.IndexInput{Name: "walk", Models: []string{models.ModelMarengo}, MarengoOptions: []string{"visual"}})
	must(err)
	video, err := models.AddVideo(ctx, db, org, idx.PublicID, models.VideoInput{Title: "clip", URL: "https://example.com/clip.mp4", DurationSeconds: "60"})
	must(err)
	integ, err := models.CreateIntegration(ctx, db, org, models.IntegrationInput{Name: "walk", Bucket: "walk-bucket", Region: "us-east-1", RoleARN: "arn:aws:iam::123456789012:role/walk"})
	must(err)
	key, err := models.CreateAPIKey(ctx, db, org, "walk", models.DefaultAPIKeyTTL)
	must(err)
	inv, err := models.Invite(ctx, db, org, dbtest.Unique("invitee")+"@example.com", tenancy.RoleMember, actor)
	must(err)
	verify, err := models.IssueEmailToken(ctx, db, admin, models.PurposeVerify)
	must(err)
	reset, err := models.IssueEmailToken(ctx, db, admin, models.PurposeReset)
	must(err)
	_, err = sso.SaveSSOConnection(ctx, db, org, sso.SSOSettingsInput{MetadataXML: w.metadata, Domains: dbtest.Unique("walk") + ".example.com", DefaultRole: "member"}, actor)
	must(err)
	testID := "id-" + dbtest.Unique("walk")
	must(sso.RecordSSORequest(ctx, db, ssoAccountOf(t, db, org), testID, sso.SSOTest, &admin.ID))
	invoice := fmt.Sprintf("%024x", w.worlds)
	must(dbtest.Plain(t, db).Exec("INSERT INTO invoices (public_id, account_id, number, period, currency, total_minor, status, bill_to, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		invoice, org.AccountID(), "SB-"+invoice, "2026-01", billing.Currency, 1234, "issued", "Acme", time.Now().UTC()).Error)

	_, otherSession, err := models.CreateSession(ctx, db, admin.ID, org.AccountID(), "192.0.2.1", "Firefox", handlers.DefaultSessionLifetime)
	must(err)
	scimToken, err := scim.CreateToken(ctx, db, org, "walk", actor)
	must(err)
	scimScope, err := scim.ScopeForToken(ctx, db, scimToken.Secret)
	must(err)
	scimUser, err := scim.CreateUser(ctx, db, scimScope.Scope, scim.UserInput{UserName: member.Email, Active: true})
	must(err)
	scimGroup, err := scim.CreateGroup(ctx, db, scimScope.Scope, scim.GroupInput{DisplayName: "walk", Members: []string{scimUser.PublicID}})
	must(err)

	c := w.app.client()
	signIn := &client{t: t, app: w.signer, http: c.http}
	signIn.signIn(admin.Email)
	guard := c.guard("/")
	c.postRaw("/accounts/switch", url.Values{"account_id": {org.Account().PublicID}, "_csrf": guard["_csrf"], "_account": guard["_account"]}).redirectsTo("/")
	guard.Set("_account", org.Account().PublicID)
	// After signing in: a passkey and the authenticator app make the
	// password sign-in take a second step.
	_, passkey := dbtest.RegisterPasskey(t, db, dbtest.PasskeyRP(t), admin, "walk")
	dbtest.EnrolTOTP(t, db, dbtest.SecretBox, admin, time.Now())
	wd := &world{c: c, key: key.Secret, scimToken: scimToken.Secret, guard: guard, ids: map[string]string{
		"scim-tokens/:id":    scimToken.PublicID,
		"Users/:id":          scimUser.PublicID,
		"Groups/:id":         scimGroup.PublicID,
		"Schemas/:id":        "urn:ietf:params:scim:schemas:core:2.0:User",
		"ResourceTypes/:id":  "User",
		"verify/:token":      verify,
		"reset/:token":       reset,
		"indexes/:id":        idx.PublicID,
		"indexes/:index_id":  idx.PublicID,
		"videos/:video_id":   video.PublicID,
		"integrations/:id":   integ.PublicID,
		"api-keys/:id":       key.PublicID,
		"sso/:slug":          org.Account().SlugOrEmpty(),
		"test/:id":           testID,
		"invoices/:id":       invoice,
		"members/:user_id":   member.PublicID,
		"invitations/:id":    inv.Invited[0].PublicID,
		"invitations/:token": inv.Invited[0].Token,
		"static/*":           "css/app.css",
		"sessions/:id":       strconv.FormatInt(otherSession.ID, 10),
		"passkeys/:id":       strconv.FormatInt(passkey.ID, 10),
	}}
	w.counts = nil
	return wd
}

// fill puts the world's IDs in a route's path parameters.
func (w *walker) fill(path string) func(*world) string {
	return func(wd *world) string {
		segs := strings.Split(path, "/")
		for i, s := range segs {
			if i > 0 && (strings.HasPrefix(s, ":") || s == "*") {
				segs[i] = (&url.URL{Path: wd.ids[segs[i-1]+"/"+s]}).EscapedPath() // "*" takes slashes
			}
		}
		return strings.Join(segs, "/")
	}
}

// fillWith puts value in every path parameter of a route.
func (w *walker) fillWith(path, value string) func(*world) string {
	return func(*world) string {
		segs := strings.Split(path, "/")
		for i, s := range segs {
			if strings.HasPrefix(s, ":") || s == "*" {
				segs[i] = url.PathEscape(value)
			}
		}
		return strings.Join(segs, "/")
	}
}

// request sends one request of the walk and checks its answer: not a 5xx,
// and nothing written when it is a refusal.
func (w *walker) request(t *testing.T, r *echo.Route, path func(*world) string, form url.Values, what string) *response {
	t.Helper()
	return w.send(t, r, path, what, func(wd *world) *http.Request {
		target := w.app.srv.URL + path(wd)
		var req *http.Request
		var err error
		if r.Method == http.MethodGet || r.Method == http.MethodDelete {
			if len(form) > 0 {
				target += "?" + form.Encode()
			}
			req, err = http.NewRequest(r.Method, target, nil)
		} else {
			guard := wd.guard
			if w.visitor {
				guard = wd.visitorGuard
			}
			body := url.Values{}
			for k, vs := range guard {
				body[k] = vs
			}
			for k, vs := range form {
				body[k] = vs
			}
			req, err = http.NewRequest(r.Method, target, strings.NewReader(body.Encode()))
			if req != nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if isAPIPath(r.Path) {
			req.Header.Set("x-api-key", wd.key)
		}
		if isSCIMPath(r.Path) {
			req.Header.Set("Authorization", "Bearer "+wd.scimToken)
		}
		return req
	})
}

func (w *walker) send(t *testing.T, r *echo.Route, path func(*world) string, what string, build func(*world) *http.Request) *response {
	t.Helper()
	if w.world == nil {
		w.world = w.newWorld(t)
	}
	if w.counts == nil {
		w.counts = w.rowCounts(t)
	}
	wd := w.world
	c := wd.c
	if w.visitor {
		if wd.visitorC == nil {
			wd.visitorC = w.app.client()
			wd.visitorGuard = wd.visitorC.guard("/signin")
		}
		c = wd.visitorC
	}
	req := build(wd)
	logFrom := w.app.logs.Len()
	res := c.do(req)
	w.requests++
	where := fmt.Sprintf("%s %s (%s)", r.Method, shorten(path(wd)), what)
	if res.Code >= 500 {
		w.fail(t, "%s: %d\n%s\nlog:\n%s", where, res.Code, res.excerpt(), errorLines(w.app.logs.String()[logFrom:]))
	}
	if res.Code < 400 {
		if req.Method != http.MethodGet {
			w.world = nil // it may have changed anything
		}
		w.counts = nil
		return res
	}
	after := w.rowCounts(t)
	for _, tbl := range w.tables {
		if after[tbl] == w.counts[tbl] {
			continue
		}
		if tbl == "rate_windows" && (isAPIPath(r.Path) || isSCIMPath(r.Path)) {
			// Every authenticated API request counts against the account's
			// budget, whatever its answer, as in the public API; otherwise
			// bad requests would be free to send without limit.
			continue
		}
		if tbl == "throttle_buckets" && (r.Path == "/signin" || r.Path == "/password/forgot" || r.Path == "/verify/resend") {
			// A refused sign-in counts against its throttle budgets, and so
			// do emailed links: that is what stops guessing.
			continue
		}
		if tbl == "throttle_buckets" && (r.Path == "/settings/security/passkeys/:id/remove" || r.Path == "/settings/security/recovery-codes" || r.Path == "/settings/security/passkeys/options" ||
			r.Path == "/settings/security/totp/disable" || r.Path == "/settings/profile") {
			// So does a wrong password when removing or adding a passkey,
			// renewing recovery codes, turning the app off (the world's
			// administrator has both) or changing the password.
			continue
		}
		if tbl == "totp_factors" && strings.HasPrefix(r.Path, "/settings/security/") {
			// The security page, shown again with a form's errors, starts
			// an authenticator app's enrolment as it does on every view:
			// a secret not yet confirmed, which changes nothing.
			continue
		}
		w.fail(t, "%s answered %d but the rows of %s went from %d to %d", where, res.Code, tbl, w.counts[tbl], after[tbl])
	}
	w.counts = after
	return res
}

func (w *walker) fail(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Errorf(format, args...)
	if w.failures++; w.failures >= 25 {
		t.Fatal("too many failures; stopping the walk")
	}
}

// refusedParam checks how a refused path parameter is answered: the
// dashboard's not-found page, or the API's parameter_invalid.
func (w *walker) refusedParam(t *testing.T, r *echo.Route, value string, res *response) {
	t.Helper()
	if isAPIPath(r.Path) {
		var body struct{ Code, Message string }
		if err := json.Unmarshal([]byte(res.Body), &body); res.Code != http.StatusBadRequest || err != nil || body.Code != "parameter_invalid" {
			w.fail(t, "%s %s with %s: %d %.300s, want 400 parameter_invalid", r.Method, r.Path, value, res.Code, res.Body)
		}
		return
	}
	if res.Code != http.StatusNotFound {
		w.fail(t, "%s %s with %s: %d, want 404", r.Method, r.Path, value, res.Code)
	}
}

// apiFields tries each documented query parameter of the API with each
// hostile value, and the JSON fields of the API's bodies.
func (w *walker) apiFields(t *testing.T, r *echo.Route) {
	t.Helper()
	path := w.fill(r.Path)
	for _, h := range hostile {
		switch r.Method {
		case http.MethodGet:
			for _, p := range apiQueryParams {
				w.request(t, r, path, url.Values{p: {h.value}}, "query "+p+": "+h.name)
			}
		case http.MethodPost, http.MethodPut:
			s, _ := json.Marshal(h.value)
			valid := `[{"model_name":"marengo3.0","model_options":["visual"]}]`
			for i, body := range []string{
				`{"index_name":` + string(s) + `,"models":` + valid + `}`,
				`{"index_name":"walk-` + dbtest.Unique("") + `","models":[{"model_name":` + string(s) + `,"model_options":[` + string(s) + `]}]}`,
				`{"index_name":"walk-` + dbtest.Unique("") + `","models":` + valid + `,"addons":[` + string(s) + `]}`,
			} {
				w.send(t, r, path, fmt.Sprintf("JSON body %d: %s", i, h.name), func(wd *world) *http.Request {
					req, err := http.NewRequest(r.Method, w.app.srv.URL+path(wd), strings.NewReader(body))
					if err != nil {
						t.Fatal(err)
					}
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("x-api-key", wd.key)
					return req
				})
			}
		}
	}
}

// scimFields tries SCIM's query parameters and the attributes of its JSON
// bodies with each hostile value.
func (w *walker) scimFields(t *testing.T, r *echo.Route) {
	t.Helper()
	path := w.fill(r.Path)
	for _, h := range hostile {
		s, _ := json.Marshal(h.value)
		v := string(s)
		var bodies []string
		switch {
		case r.Method == http.MethodGet:
			for _, p := range []string{"filter", "startIndex", "count", "excludedAttributes", "attributes"} {
				w.request(t, r, path, url.Values{p: {h.value}}, "query "+p+": "+h.name)
			}
			w.request(t, r, path, url.Values{"filter": {`userName eq ` + v}}, "filter value: "+h.name)
		case r.Method == http.MethodPatch:
			bodies = []string{
				`{"Operations":[{"op":"replace","path":` + v + `,"value":` + v + `}]}`,
				`{"Operations":[{"op":"add","path":"members","value":[{"value":` + v + `}]}]}`,
				`{"Operations":[{"op":"replace","value":{"userName":` + v + `,"displayName":` + v + `,"externalId":` + v + `}}]}`,
				`{"Operations":[{"op":"replace","path":"emails[type eq \"work\"].value","value":` + v + `}]}`,
			}
		case r.Method == http.MethodPost || r.Method == http.MethodPut:
			bodies = []string{
				`{"userName":` + v + `,"displayName":` + v + `,"externalId":` + v + `,"name":{"givenName":` + v + `},"emails":[{"value":` + v + `}]}`,
				`{"userName":"walk-` + dbtest.Unique("") + `@example.com","name":{"familyName":` + v + `}}`,
				`{"displayName":` + v + `,"externalId":` + v + `,"members":[{"value":` + v + `}]}`,
			}
		}
		for i, body := range bodies {
			w.send(t, r, path, fmt.Sprintf("SCIM body %d: %s", i, h.name), func(wd *world) *http.Request {
				req, err := http.NewRequest(r.Method, w.app.srv.URL+path(wd), strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/scim+json")
				req.Header.Set("Authorization", "Bearer "+wd.scimToken)
				return req
			})
		}
	}
}

// rowCounts counts the rows of every table, in one statement.
func (w *walker) rowCounts(t *testing.T) map[string]int64 {
	t.Helper()
	parts := make([]string, len(w.tables))
	for i, tbl := range w.tables {
		parts[i] = fmt.Sprintf("SELECT '%s' AS name, COUNT(*) AS n FROM %s", tbl, tbl)
	}
	var rows []struct {
		Name string
		N    int64
	}
	if err := dbtest.Plain(t, w.db).Raw(strings.Join(parts, " UNION ALL ")).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.Name] = r.N
	}
	return out
}

func shorten(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// errorLines are the server log's errors.
func errorLines(log string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "level=ERROR") {
			out = append(out, l[:min(len(l), 600)])
		}
	}
	return strings.Join(slices.Compact(out), "\n")
}

// TestHostileInputAnswers pins the answers to the hostile requests that
// used to fail on PostgreSQL: the dashboard's not-found page for a path
// parameter that is not an identifier, the API's parameter_invalid for one
// and for a query parameter that is not text or a page past the last, and
// the API's 413 for a body over any limit.
func TestHostileInputAnswers(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		_, org, c := orgAdmin(t, app)
		key := newKey(t, db, org)
		guard := c.guard("/settings/organization")
		for _, path := range []string{
			"/indexes/%00", "/integrations/a%00b", "/settings/billing/invoices/%00", "/settings/members/%00/remove",
			"/sso/%00/metadata", "/sso/%00/login", "/invitations/%FF", "/verify/%E2%80%AE", "/indexes/a%E2%80%8Bb",
			"/indexes/%D8%9C", "/indexes/a%0Ab", "/indexes/" + strings.Repeat("a", 201), "/static/%00",
		} {
			r := c.get(path).status(http.StatusNotFound)
			if !strings.Contains(r.Body, `data-testid="error-page"`) || !strings.Contains(r.Body, `data-testid="profile-menu"`) {
				t.Errorf("GET %s: not the styled not-found page:\n%s", path, r.excerpt())
			}
		}
		for _, path := range []string{"/sso/%00/acs", "/settings/api-keys/%00/revoke", "/settings/members/%00/role", "/indexes/%00/videos/%00/delete"} {
			c.postRaw(path, guard).status(http.StatusNotFound)
		}
		for _, call := range []struct{ method, path, param string }{
			{http.MethodGet, "/v1.3/indexes?index_name=%00", "index_name"},
			{http.MethodGet, "/v1.3/indexes?index_name=%FF", "index_name"},
			{http.MethodGet, "/v1.3/indexes/" + strings.Repeat("a", 24) + "/videos?filename=%00", "filename"},
			{http.MethodGet, "/v1.3/indexes?page=922337203685477582", "page"},
			{http.MethodGet, "/v1.3/indexes/%00", "index_id"},
			{http.MethodGet, "/v1.3/indexes/%E2%80%AE/videos", "index_id"},
			{http.MethodDelete, "/v1.3/indexes/%00", "index_id"},
		} {
			r := apiCall(t, app, key, call.method, call.path, "")
			apiErrorIs(t, r, http.StatusBadRequest, "parameter_invalid")
			if !strings.Contains(r.Body, call.param) {
				t.Errorf("%s %s: the message does not name %s: %s", call.method, call.path, call.param, r.Body)
			}
		}
		// Every API answer, of any kind, is not to be stored.
		for _, call := range []struct{ key, method, path string }{
			{key, http.MethodGet, "/v1.3/indexes"}, {key, http.MethodGet, "/v1.3/indexes/%00"}, {key, http.MethodGet, "/v1.3/nope"},
			{"", http.MethodGet, "/v1.3/indexes"}, {key, http.MethodPatch, "/v1.3/indexes"},
		} {
			if r := apiCall(t, app, call.key, call.method, call.path, ""); r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s %s: %d with Cache-Control %q", call.method, call.path, r.Code, r.Header.Get("Cache-Control"))
			}
		}
		// The dashboard's lists take any page number and serve the last
		// page there is past it.
		for _, path := range []string{"/indexes", "/integrations", "/settings/members", "/settings/billing", "/settings/audit-log"} {
			for _, page := range []string{"922337203685477582", "9223372036854775808", "-1", "x"} {
				c.get(path + "?page=" + page).status(http.StatusOK)
			}
		}
		// A form over the router's limit: the styled 413 page, nothing saved.
		big := url.Values{"name": {strings.Repeat("x", 1_100_000)}}
		for k, v := range guard {
			big[k] = v
		}
		r := c.postRaw("/settings/profile", big).status(http.StatusRequestEntityTooLarge)
		if !strings.Contains(r.Body, `data-testid="error-page"`) {
			t.Errorf("not the styled error page:\n%s", r.excerpt())
		}
		// The same without a length up front: the limit trips while the
		// form is read.
		req, _ := http.NewRequest(http.MethodPost, app.srv.URL+"/settings/profile", io.MultiReader(strings.NewReader(big.Encode())))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		c.do(req).status(http.StatusRequestEntityTooLarge).contains(`data-testid="error-page"`)
		req, _ = http.NewRequest(http.MethodPost, app.srv.URL+"/v1.3/indexes", io.MultiReader(strings.NewReader(`{"index_name":"`+strings.Repeat("x", 1_100_000)+`"}`)))
		req.Header.Set("x-api-key", key)
		apiErrorIs(t, c.do(req), http.StatusRequestEntityTooLarge, "request_too_large")
	})
}
