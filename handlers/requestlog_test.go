package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"gorm.io/gorm"

	"switchboard/handlers"
	"switchboard/handlers/sitetest"
	"switchboard/models/dbtest"
)

// requestLines are the request lines of the log since offset.
func requestLines(app *testApp, offset int) []string {
	var out []string
	for _, l := range strings.Split(app.logs.String()[offset:], "\n") {
		if strings.Contains(l, "msg=request ") {
			out = append(out, l)
		}
	}
	return out
}

// TestRequestLogSetting: request lines are at info by default, hidden at
// debug (the log is at info), and one in N with 1/N.
func TestRequestLogSetting(t *testing.T) {
	t.Parallel()
	db := dbtest.SQLite(t)
	cases := []struct {
		setting string
		want    int
	}{{"", 6}, {"info", 6}, {"debug", 0}, {"1/3", 2}, {"1/1", 6}}
	for _, c := range cases {
		rl, err := handlers.ParseRequestLog(c.setting)
		if err != nil {
			t.Fatal(err)
		}
		app := newAppWith(t, db, &sitetest.Mailbox{}, func(cfg *handlers.Config) { cfg.RequestLog = rl })
		client := app.client()
		for range 6 {
			client.get("/signin").status(http.StatusOK)
		}
		lines := requestLines(app, 0)
		if len(lines) != c.want {
			t.Errorf("SWITCHBOARD_REQUEST_LOG=%q: %d request lines for 6 requests, want %d", c.setting, len(lines), c.want)
		}
		if c.setting == "1/3" && len(lines) > 0 && !strings.Contains(lines[0], "sampled_one_in=3") {
			t.Errorf("a sampled line does not say so: %s", lines[0])
		}
	}
	for _, bad := range []string{"verbose", "1/0", "1/-2", "1/x", "2/3"} {
		if _, err := handlers.ParseRequestLog(bad); err == nil {
			t.Errorf("SWITCHBOARD_REQUEST_LOG=%q accepted", bad)
		}
	}
}

// TestClientGoneIsNotAnOutage: a request whose client went away before the
// answer is not logged or counted as a 503, on a page or on the API.
func TestClientGoneIsNotAnOutage(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		acct := newAPIKeyAccount(t, db)
		_, _, browser := app.user(t)
		u, _ := url.Parse(app.srv.URL)
		var parts []string
		for _, ck := range browser.http.Jar.Cookies(u) {
			parts = append(parts, ck.Name+"="+ck.Value)
		}
		cookies := strings.Join(parts, "; ")
		for _, path := range []string{"/v1.3/indexes", "/", "/indexes"} {
			offset := app.logs.Len()
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			req := httptest.NewRequestWithContext(ctx, http.MethodGet, path, nil)
			req.Header.Set("x-api-key", acct.key)
			req.Header.Set("Cookie", cookies)
			rec := httptest.NewRecorder()
			app.e.ServeHTTP(rec, req)
			log := app.logs.String()[offset:]
			if rec.Code == http.StatusServiceUnavailable || strings.Contains(log, "status=503") || strings.Contains(log, "level=ERROR") {
				t.Errorf("GET %s with the client gone: answered %d, logged:\n%s", path, rec.Code, log)
			}
			if lines := requestLines(app, offset); len(lines) != 1 || !strings.Contains(lines[0], "status=499") {
				t.Errorf("GET %s with the client gone: request lines %q, want one with status=499", path, lines)
			}
		}
	})
}
