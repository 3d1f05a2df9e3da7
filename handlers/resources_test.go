package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// indexForm is a valid create-index form, Marengo with both options.
func indexForm(name string) url.Values {
	return url.Values{"name": {name}, "model": {"marengo"}, "marengo_options": {"visual", "audio"}}
}

var idInPath = regexp.MustCompile(`^/(?:indexes|integrations)/([0-9a-f]{24})$`)

// createdID reads the new resource's ID from a create's redirect.
func createdID(t testing.TB, r *response) string {
	t.Helper()
	r.status(http.StatusSeeOther)
	m := idInPath.FindStringSubmatch(r.Location())
	if m == nil {
		t.Fatalf("create redirected to %q, not to the new resource", r.Location())
	}
	return m[1]
}

func TestIndexLifecycle(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		_, _, c := app.user(t)
		c.get("/indexes").status(http.StatusOK).contains(`data-testid="empty-state"`).contains("Marengo")
		form := c.get("/indexes/new").status(http.StatusOK)
		if form.doc().Find(`input[name="visibility"]`).Length() != 0 {
			t.Fatal("a personal account is offered index visibility")
		}
		id := createdID(t, c.post("/indexes/new", url.Values{"name": {" Lectures "}, "model": {"marengo", "pegasus"},
			"marengo_options": {"audio", "visual"}, "pegasus_options": {"visual"}, "visibility": {"private"}}))
		page := c.get("/indexes/" + id).status(http.StatusOK)
		page.contains("Lectures").contains("Marengo · visual, audio").contains("Pegasus · visual").lacks("Private —")

		// Videos: add, counted, listed; bad ones refused with nothing written.
		c.post("/indexes/"+id+"/videos", url.Values{"title": {"Note G"}, "url": {"https://example.com/g.mp4"}, "duration_seconds": {"600"}}, "/indexes/"+id).
			redirectsTo("/indexes/" + id)
		c.post("/indexes/"+id+"/videos", url.Values{"title": {"Short"}, "url": {"http://example.com/s.mp4"}, "duration_seconds": {"4"}}, "/indexes/"+id).
			redirectsTo("/indexes/" + id)
		for _, bad := range []url.Values{
			{"title": {""}, "url": {"https://example.com/x.mp4"}, "duration_seconds": {"60"}},
			{"title": {strings.Repeat("t", 201)}, "url": {"https://example.com/x.mp4"}, "duration_seconds": {"60"}},
			{"title": {"x"}, "url": {"ftp://example.com/x.mp4"}, "duration_seconds": {"60"}},
			{"title": {"x"}, "url": {"javascript:alert(1)"}, "duration_seconds": {"60"}},
			{"title": {"x"}, "url": {"https://example.com/x.mp4"}, "duration_seconds": {"3"}},
			{"title": {"x"}, "url": {"https://example.com/x.mp4"}, "duration_seconds": {"14401"}},
			{"title": {"x"}, "url": {"https://example.com/x.mp4"}, "duration_seconds": {"ten"}},
		} {
			r := c.post("/indexes/"+id+"/videos", bad, "/indexes/"+id).status(http.StatusUnprocessableEntity)
			r.contains(`data-testid="error-summary"`)
		}
		page = c.get("/indexes/" + id).status(http.StatusOK)
		if got := strings.TrimSpace(page.doc().Find(`[data-testid="video-count"]`).Text()); got != "2" {
			t.Fatalf("video count %q, want 2", got)
		}
		if got := strings.TrimSpace(page.doc().Find(`[data-testid="total-duration"]`).Text()); got != "10m 04s" {
			t.Fatalf("total duration %q", got)
		}
		list := c.get("/indexes").status(http.StatusOK)
		list.contains("Lectures").contains("10m 04s")

		// Delete one video.
		del, _ := page.doc().Find(`form[action$="/delete"][action*="/videos/"]`).First().Attr("action")
		c.post(del, nil, "/indexes/"+id).redirectsTo("/indexes/" + id)
		if got := strings.TrimSpace(c.get("/indexes/" + id).doc().Find(`[data-testid="video-count"]`).Text()); got != "1" {
			t.Fatalf("video count %q after a delete, want 1", got)
		}

		// Rename; a duplicate name in any case is refused.
		other := createdID(t, c.post("/indexes/new", indexForm("Other")))
		c.post("/indexes/"+id, url.Values{"name": {"Lectures 2026"}}).redirectsTo("/indexes/" + id)
		c.post("/indexes/"+other, url.Values{"name": {"LECTURES 2026"}}).status(http.StatusUnprocessableEntity).contains("already exists")
		c.post("/indexes/new", indexForm("lectures 2026")).status(http.StatusUnprocessableEntity).contains("already exists")

		// Delete with a confirmation naming what goes.
		c.get("/indexes/" + id + "/delete").status(http.StatusOK).contains("Lectures 2026").contains("1 video")
		c.post("/indexes/"+id+"/delete", nil, "/indexes/"+id+"/delete").redirectsTo("/indexes")
		c.get("/indexes/" + id).status(http.StatusNotFound)
		c.get("/indexes").lacks("Lectures 2026").contains("Other")
	})
}

func TestIndexFormRefusesBadInput(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, _, c := app.user(t)
		org := dbtest.Org(t, db, u)
		c.switchTo(org.Account().PublicID)
		cases := []struct {
			form  url.Values
			field string
		}{
			{url.Values{"name": {""}, "model": {"marengo"}, "marengo_options": {"visual"}}, "name"},
			{url.Values{"name": {strings.Repeat("n", 101)}, "model": {"marengo"}, "marengo_options": {"visual"}}, "name"},
			{url.Values{"name": {"x"}}, "model"},
			{url.Values{"name": {"x"}, "model": {"whisper"}}, "model"},
			{url.Values{"name": {"x"}, "model": {"marengo"}}, "marengo_options"},
			{url.Values{"name": {"x"}, "model": {"pegasus"}, "pegasus_options": {"smell"}}, "pegasus_options"},
			{url.Values{"name": {"x"}, "model": {"marengo"}, "marengo_options": {"visual"}, "visibility": {"public"}}, "visibility"},
		}
		for _, tc := range cases {
			r := c.post("/indexes/new", tc.form).status(http.StatusUnprocessableEntity)
			if !strings.Contains(r.Body, `id="field-`+tc.field+`-error"`) {
				t.Errorf("%v: no error for %s", tc.form, tc.field)
			}
			if v, _ := r.doc().Find("#field-name").Attr("value"); v != tc.form.Get("name") {
				t.Errorf("%v: the name was not kept", tc.form)
			}
		}
		list, err := models.ListIndexes(t.Context(), db, org, models.IndexQuery{Page: tenancy.Page{Number: 1, Size: 20}})
		if err != nil || list.Total != 0 {
			t.Fatalf("invalid forms wrote %d indexes (%v)", list.Total, err)
		}
		c.get("/indexes/" + strings.Repeat("0", 24)).status(http.StatusNotFound)
		c.get("/indexes/not-an-id").status(http.StatusNotFound)
		c.post("/indexes/"+strings.Repeat("0", 24)+"/videos", url.Values{"title": {"x"}, "url": {"https://e.com/x"}, "duration_seconds": {"5"}}, "/indexes/new").
			status(http.StatusNotFound)
	})
}

func TestIndexListSearchSortAndPages(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		_, scope, c := app.user(t)
		for _, n := range []string{"Bravo", "alpha", "Charlie 100%", "Delta_1"} {
			if _, err := models.CreateIndex(t.Context(), db, scope, models.IndexInput{Name: n, Models: []string{"marengo"}, MarengoOptions: []string{"visual"}}); err != nil {
				t.Fatal(err)
			}
		}
		names := func(r *response) []string {
			var out []string
			r.doc().Find(`[data-testid="index-table"] tbody tr td:first-child a`).Each(func(_ int, s *goquery.Selection) {
				out = append(out, s.Text())
			})
			return out
		}
		if got := names(c.get("/indexes?sort=name")); strings.Join(got, ",") != "alpha,Bravo,Charlie 100%,Delta_1" {
			t.Errorf("by name: %v", got)
		}
		if got := names(c.get("/indexes")); got[0] != "Delta_1" {
			t.Errorf("newest first: %v", got)
		}
		if got := names(c.get("/indexes?q=ALP")); strings.Join(got, ",") != "alpha" {
			t.Errorf("search: %v", got)
		}
		if got := names(c.get("/indexes?q=" + url.QueryEscape("%"))); strings.Join(got, ",") != "Charlie 100%" {
			t.Errorf("search for %%: %v", got)
		}
		c.get("/indexes?q=zzz").status(http.StatusOK).contains(`data-testid="no-match"`)
		for i := 0; i < 21; i++ {
			if _, err := models.CreateIndex(t.Context(), db, scope, models.IndexInput{Name: dbtest.Unique("Index "), Models: []string{"marengo"}, MarengoOptions: []string{"audio"}}); err != nil {
				t.Fatal(err)
			}
		}
		first := c.get("/indexes").status(http.StatusOK)
		if n := len(names(first)); n != 20 {
			t.Fatalf("page 1 has %d rows, want 20", n)
		}
		first.contains("Page 1 of 2").contains("25 indexes")
		second := c.get("/indexes?page=2&sort=name")
		if n := len(names(second)); n != 5 {
			t.Fatalf("page 2 has %d rows, want 5", n)
		}
		if href, _ := second.doc().Find(`a[rel="prev"]`).Attr("href"); !strings.Contains(href, "sort=name") || !strings.Contains(href, "page=1") {
			t.Errorf("previous link %q loses the sort", href)
		}
		c.get("/indexes?page=99").status(http.StatusOK)
		c.get("/indexes?page=-1").status(http.StatusOK)
	})
}

func TestPrivateIndexes(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		admin, _, ac := app.user(t)
		org := dbtest.Org(t, db, admin)
		ac.switchTo(org.Account().PublicID)
		member, _, mc := app.user(t)
		dbtest.AddMember(t, db, org, member, tenancy.RoleMember)
		mc.switchTo(org.Account().PublicID)

		if mc.get("/indexes/new").doc().Find(`input[name="visibility"][value="private"]`).Length() != 1 {
			t.Fatal("an organization's form does not offer a private index")
		}
		priv := createdID(t, mc.post("/indexes/new", url.Values{"name": {"Only Me"}, "model": {"marengo"}, "marengo_options": {"visual"}, "visibility": {"private"}}))
		mc.post("/indexes/"+priv+"/videos", url.Values{"title": {"Secret"}, "url": {"https://e.com/s"}, "duration_seconds": {"99"}}, "/indexes/"+priv).redirectsTo("/indexes/" + priv)
		mc.get("/indexes").contains("Only Me").contains("Private")
		mc.get("/indexes/" + priv).contains("Private — only you")

		// The administrator does not see it anywhere, and may not touch it.
		ac.get("/indexes").lacks("Only Me").contains("No indexes yet")
		ac.get("/indexes?q=only").lacks("Only Me")
		ac.get("/indexes/" + priv).status(http.StatusNotFound)
		ac.get("/indexes/" + priv + "/delete").status(http.StatusNotFound)
		ac.post("/indexes/"+priv, url.Values{"name": {"Taken Over"}}, "/indexes/new").status(http.StatusNotFound)
		ac.post("/indexes/"+priv+"/delete", nil, "/indexes/new").status(http.StatusNotFound)
		ac.post("/indexes/"+priv+"/videos", url.Values{"title": {"x"}, "url": {"https://e.com/x"}, "duration_seconds": {"5"}}, "/indexes/new").status(http.StatusNotFound)
		// Its name is free for others.
		shared := createdID(t, ac.post("/indexes/new", indexForm("Only Me")))
		mc.get("/indexes/" + priv).status(http.StatusOK).contains("Only Me")

		// Only the creator may change who sees an index.
		if ac.get("/indexes/"+shared).doc().Find(`input[name="visibility"]`).Length() == 0 {
			t.Error("the creator is not offered the visibility setting")
		}
		if mc.get("/indexes/"+shared).doc().Find(`input[name="visibility"]`).Length() != 0 {
			t.Error("a member who did not create the index is offered its visibility")
		}
		mc.post("/indexes/"+shared, url.Values{"name": {"Only Me"}, "visibility": {"private"}}).status(http.StatusUnprocessableEntity).contains("Only the index")
		ac.get("/indexes/" + shared).status(http.StatusOK)
		// The creator makes theirs shared: the name clashes with the visible one.
		mc.post("/indexes/"+priv, url.Values{"name": {"Only Me"}, "visibility": {"account"}}).status(http.StatusUnprocessableEntity).contains("already exists")
		mc.post("/indexes/"+priv, url.Values{"name": {"Now Shared"}, "visibility": {"account"}}).redirectsTo("/indexes/" + priv)
		ac.get("/indexes/" + priv).status(http.StatusOK).contains("Now Shared").contains("Secret")
	})
}

func TestIntegrations(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, _, c := app.user(t)
		org := dbtest.Org(t, db, u)
		c.switchTo(org.Account().PublicID)
		c.get("/integrations").status(http.StatusOK).contains(`data-testid="empty-state"`)
		good := url.Values{"name": {"Footage"}, "bucket": {"acme-footage"}, "region": {"eu-west-1"},
			"role_arn": {"arn:aws:iam::123456789012:role/read/footage"}, "prefix": {"videos/"}}
		bad := []struct{ field, value string }{
			{"name", ""}, {"bucket", "Bad_Bucket"}, {"bucket", "ab"}, {"bucket", "192.168.0.1"}, {"bucket", "a..b"},
			{"bucket", "xn--bucket"}, {"bucket", "bucket-s3alias"}, {"region", "moon-1"}, {"region", ""},
			{"role_arn", "arn:aws:iam::123:role/x"}, {"role_arn", "arn:aws:iam::123456789012:user/x"}, {"role_arn", ""},
			{"prefix", "/videos"},
		}
		for _, b := range bad {
			form := url.Values{}
			for k, v := range good {
				form[k] = v
			}
			form.Set(b.field, b.value)
			r := c.post("/integrations/new", form).status(http.StatusUnprocessableEntity)
			if !strings.Contains(r.Body, `id="field-`+b.field+`-error"`) {
				t.Errorf("%s=%q: no error under the field", b.field, b.value)
			}
		}
		c.get("/integrations").contains(`data-testid="empty-state"`)

		id := createdID(t, c.post("/integrations/new", good))
		page := c.get("/integrations/" + id).status(http.StatusOK)
		ext := strings.TrimSpace(page.doc().Find(`[data-testid="external-id"]`).Text())
		if !strings.HasPrefix(ext, "sb-") || !strings.Contains(page.doc().Find("#trust-policy").Text(), ext) {
			t.Fatalf("external ID %q not in the trust policy", ext)
		}
		page.contains("acme-footage/videos/*")
		c.get("/integrations").contains("Footage").contains("acme-footage")

		// A regular member manages shared integrations too.
		m, _, mc := app.user(t)
		dbtest.AddMember(t, db, org, m, tenancy.RoleMember)
		mc.switchTo(org.Account().PublicID)
		edit := url.Values{}
		for k, v := range good {
			edit[k] = v
		}
		edit.Set("name", "Footage (renamed)")
		edit.Set("bucket", "Bad_Bucket")
		mc.post("/integrations/"+id, edit).status(http.StatusUnprocessableEntity).contains(`value="Bad_Bucket"`)
		edit.Set("bucket", "acme-footage-2")
		mc.post("/integrations/"+id, edit).redirectsTo("/integrations/" + id)
		after := c.get("/integrations/" + id).status(http.StatusOK)
		after.contains("Footage (renamed)").contains("acme-footage-2").contains(ext)
		c.get("/integrations/" + id + "/delete").status(http.StatusOK).contains("acme-footage-2")
		mc.post("/integrations/"+id+"/delete", nil, "/integrations/"+id+"/delete").redirectsTo("/integrations")
		c.get("/integrations/" + id).status(http.StatusNotFound)
	})
}

// TestSwitchingFromAResourcePageLandsOnItsList: the account switcher on an
// index's or an integration's pages (and on a 422 of their forms) lands on
// the list of the same section in the other account, never on the detail
// page, which belonged to the account left.
func TestSwitchingFromAResourcePageLandsOnItsList(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, personal, c := app.user(t)
		org := dbtest.Org(t, db, u)
		c.switchTo(org.Account().PublicID)
		idx := createdID(t, c.post("/indexes/new", indexForm("Switch from here")))
		it := createdID(t, c.post("/integrations/new", url.Values{"name": {"Bucket"}, "bucket": {"switch-bucket"}, "region": {"us-east-1"},
			"role_arn": {"arn:aws:iam::123456789012:role/r"}}))
		ok, invalid := http.StatusOK, http.StatusUnprocessableEntity
		pages := map[*response]string{
			c.get("/indexes/" + idx).status(ok):                                   "/indexes",
			c.get("/indexes/" + idx + "/delete").status(ok):                       "/indexes",
			c.post("/indexes/"+idx, url.Values{"name": {""}}).status(invalid):     "/indexes",
			c.get("/integrations/" + it).status(ok):                               "/integrations",
			c.get("/integrations/" + it + "/delete").status(ok):                   "/integrations",
			c.post("/integrations/"+it, url.Values{"name": {""}}).status(invalid): "/integrations",
		}
		for page, want := range pages {
			form := page.doc().Find(`form[action="/accounts/switch"]`).First()
			returnTo, _ := form.Find(`input[name="return_to"]`).Attr("value")
			body := url.Values{"account_id": {personal.Account().PublicID}, "return_to": {returnTo}}
			form.Find(`input[name="_csrf"], input[name="_account"]`).Each(func(_ int, s *goquery.Selection) {
				v, _ := s.Attr("value")
				body.Set(s.AttrOr("name", ""), v)
			})
			c.postRaw("/accounts/switch", body).redirectsTo(want)
			c.switchTo(org.Account().PublicID)
		}
	})
}
